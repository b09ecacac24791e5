/**
 * Browser mode: evaluate a snapshot the application fetched (proto3 JSON, e.g.
 * served by its backend from the sidecar's GetSnapshot or a snapshot file) with
 * the in-process core, and buffer exposures in localStorage until `send`
 * delivers them (see ExposureBuffer). Never throws from `assign`: without a
 * snapshot every experiment answers no variant (UNKNOWN_EXPERIMENT).
 */

import type { AttributeValue } from "../core/attributes.js";
import { encodeAttributes } from "../core/attributes.js";
import { compileSnapshot, type Assignment, type CompiledSnapshot, type Units } from "../core/evaluator.js";
import { DEFAULT_DEDUP_SIZE, ExposureDedup, exposureFor, SDK_VERSION } from "../events.js";
import { ExposureBuffer, type SendExposures, type StorageLike } from "./buffer.js";

export interface BrowserClientOptions {
  /** Delivers a batch of exposures (e.g. POST to your backend); reject to retry later. */
  send: SendExposures;
  /** The snapshot in proto3 JSON (text or parsed), when already at hand. */
  snapshot?: string | object;
  /** Default units and attributes for every call (e.g. the signed-in user). */
  units?: Record<string, string>;
  attributes?: Record<string, AttributeValue>;
  storage?: StorageLike;
  storageKey?: string;
  maxBuffered?: number;
  batchSize?: number;
  /** Flush every N ms (0 = only when `flush` is called). Default 5000. */
  flushIntervalMs?: number;
  client?: string;
  sessionId?: string;
}

export interface CallContext {
  units?: Record<string, string>;
  attributes?: Record<string, AttributeValue>;
}

const NO_SNAPSHOT = Object.freeze({}) as never;

export class BrowserClient {
  readonly exposures: ExposureBuffer;
  private compiled: CompiledSnapshot | null = null;
  private readonly dedup = new ExposureDedup(DEFAULT_DEDUP_SIZE);
  private readonly client: string;
  private readonly sessionId: string;
  private units: Record<string, string>;
  private attributes: Record<string, string>;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(options: BrowserClientOptions) {
    this.exposures = new ExposureBuffer(options);
    this.client = options.client ?? `js-browser/${SDK_VERSION}`;
    this.sessionId = options.sessionId ?? "";
    this.units = { ...(options.units ?? {}) };
    this.attributes = encodeAttributes(options.attributes ?? {});
    if (options.snapshot !== undefined) this.setSnapshot(options.snapshot);
    const every = options.flushIntervalMs ?? 5000;
    if (every > 0) {
      this.timer = setInterval(() => void this.flush(), every);
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** Fetch a snapshot (proto3 JSON) and install it; resolves false (keeping the old one) when it is refused. */
  async load(url: string, init?: RequestInit): Promise<boolean> {
    const response = await fetch(url, init);
    if (!response.ok) return false;
    return this.setSnapshot(await response.text());
  }

  /**
   * Install a snapshot; returns false and keeps the last good one when it is
   * invalid. An older revision is accepted (a deliberate rollback works).
   */
  setSnapshot(snapshot: string | object): boolean {
    try {
      this.compiled = compileSnapshot(snapshot);
      return true;
    } catch {
      return false;
    }
  }

  get revision(): bigint | null {
    return this.compiled?.revision ?? null;
  }

  /** Replace the default units and attributes (e.g. after sign-in). */
  identify(units: Record<string, string>, attributes?: Record<string, AttributeValue>): void {
    this.units = { ...units };
    if (attributes !== undefined) this.attributes = encodeAttributes(attributes);
  }

  private context(ctx: CallContext | undefined): [Units, Record<string, string>] {
    if (ctx === undefined) return [this.units, this.attributes];
    const units = ctx.units ? { ...this.units, ...ctx.units } : this.units;
    const attributes = ctx.attributes ? { ...this.attributes, ...encodeAttributes(ctx.attributes) } : this.attributes;
    return [units, attributes];
  }

  /** Decide one experiment and buffer its exposure (ASSIGNED or OVERRIDE, once per unit). */
  assign(experimentKey: string, ctx?: CallContext): Assignment {
    const [units, attributes] = this.context(ctx);
    const snap = this.compiled;
    if (snap === null) {
      return Object.freeze({ experimentKey, variant: null, reason: "UNKNOWN_EXPERIMENT", params: NO_SNAPSHOT, unitType: "" });
    }
    const a = snap.assign(experimentKey, units, attributes);
    this.expose(a, units, snap.revision);
    return a;
  }

  /** The variant key, or `fallback` when the unit gets none. */
  variant(experimentKey: string, fallback: string, ctx?: CallContext): string {
    return this.assign(experimentKey, ctx).variant ?? fallback;
  }

  /** Every experiment that gives the unit a variant; buffers their exposures. */
  assignAll(ctx?: CallContext): Assignment[] {
    const [units, attributes] = this.context(ctx);
    const snap = this.compiled;
    if (snap === null) return [];
    const all = snap.assignAll(units, attributes);
    for (const a of all) this.expose(a, units, snap.revision);
    return all;
  }

  private expose(a: Assignment, units: Units, revision: bigint): void {
    const uid = units[a.unitType];
    if (typeof uid !== "string") return;
    const event = exposureFor(a, uid, revision, this.client, this.dedup, this.sessionId);
    if (event !== undefined) this.exposures.add(event);
  }

  /** Send what is buffered; resolves to the number of exposures sent. */
  flush(): Promise<number> {
    return this.exposures.flush();
  }

  /** Stop the flush timer and send what is buffered (what fails stays stored for the next page). */
  async close(): Promise<number> {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    return this.flush();
  }
}
