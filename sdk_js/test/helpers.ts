// Shared test helpers: the vectors file read in place (never copied).
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";

export const VECTORS_PATH = fileURLToPath(new URL("../../proto/testdata/assignment_vectors.json", import.meta.url));

export function loadVectors(): { snapshots: Record<string, object> } & Record<string, unknown> {
  return JSON.parse(readFileSync(VECTORS_PATH, "utf8"));
}

/** A Web Storage shim with the quirks that matter: string values, a quota. */
export class StorageShim {
  readonly items = new Map<string, string>();
  writes = 0;
  constructor(private readonly quota = Infinity) {}
  getItem(key: string): string | null {
    return this.items.has(key) ? this.items.get(key)! : null;
  }
  setItem(key: string, value: string): void {
    if (String(value).length > this.quota) throw new DOMException("quota exceeded", "QuotaExceededError");
    this.writes++;
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}
