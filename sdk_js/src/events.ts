/**
 * Exposure and outcome events as the SDK hands them to a transport: the proto3
 * JSON form of splitline.v1.Exposure / Outcome (so a backend can parse them with
 * any protobuf library), plus the exposure rule shared by every client mode:
 * only ASSIGNED and OVERRIDE decisions are exposures (OVERRIDE ones forced);
 * SHIPPED ones are not; each (experiment, unit, variant) is logged once per
 * process or page (least recently seen keys fall out of a bounded set).
 */

import { inExperiment, type Assignment } from "./core/evaluator.js";

export const SDK_VERSION = "0.1.0";
export const DEFAULT_DEDUP_SIZE = 10_000;

/** splitline.v1.Exposure in proto3 JSON. */
export interface ExposureEvent {
  eventId: string;
  /** RFC 3339, e.g. "2026-11-23T23:15:00.123Z". */
  timestamp: string;
  experimentKey: string;
  variantKey: string;
  unitType: string;
  unitId: string;
  /** uint64 as a decimal string, as proto3 JSON writes it. */
  configRevision: string;
  forced: boolean;
  client: string;
  sessionId?: string;
}

/** splitline.v1.Outcome in proto3 JSON. */
export interface OutcomeEvent {
  eventId: string;
  timestamp: string;
  unitType: string;
  unitId: string;
  name: string;
  value: number;
  properties?: Record<string, string>;
}

/** A random UUID v4 (made once at the source and kept across retries). */
export function newEventId(): string {
  const c = (globalThis as { crypto?: Crypto }).crypto;
  if (c !== undefined && typeof c.randomUUID === "function") return c.randomUUID();
  const b = new Uint8Array(16);
  if (c !== undefined && typeof c.getRandomValues === "function") c.getRandomValues(b);
  else for (let i = 0; i < 16; i++) b[i] = Math.floor(Math.random() * 256);
  b[6] = (b[6]! & 0x0f) | 0x40;
  b[8] = (b[8]! & 0x3f) | 0x80;
  const h = Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** A bounded set of recently logged exposure keys (least recently seen fall out first). */
export class ExposureDedup {
  private readonly seen = new Map<string, true>();
  constructor(private readonly maxSize = DEFAULT_DEDUP_SIZE) {}

  /** True (and remember `key`) when `key` was not seen recently. */
  firstTime(key: string): boolean {
    if (this.seen.has(key)) {
      this.seen.delete(key);
      this.seen.set(key, true);
      return false;
    }
    this.seen.set(key, true);
    if (this.seen.size > this.maxSize) this.seen.delete(this.seen.keys().next().value!);
    return true;
  }

  forget(key: string): void {
    this.seen.delete(key);
  }

  get size(): number {
    return this.seen.size;
  }
}

/**
 * The exposure for an assignment, or undefined when it is not one (no variant,
 * SHIPPED) or was already logged (per `dedup`).
 */
export function exposureFor(
  a: Assignment,
  unitId: string,
  revision: bigint | string,
  client: string,
  dedup: ExposureDedup | null,
  sessionId = "",
  now: Date = new Date(),
): ExposureEvent | undefined {
  if (!inExperiment(a) || a.variant === null || !unitId) return undefined;
  if (dedup !== null && !dedup.firstTime(`${a.experimentKey}\u0000${a.unitType}\u0000${unitId}\u0000${a.variant}`)) {
    return undefined;
  }
  const event: ExposureEvent = {
    eventId: newEventId(),
    timestamp: now.toISOString(),
    experimentKey: a.experimentKey,
    variantKey: a.variant,
    unitType: a.unitType,
    unitId,
    configRevision: String(revision),
    forced: a.reason === "OVERRIDE",
    client,
  };
  if (sessionId) event.sessionId = sessionId;
  return event;
}
