/**
 * Node remote mode: decisions come from the sidecar over the fast path, so the
 * process holds no snapshot. Mirrors the Python client's rules: `assign` never
 * rejects (when the sidecar cannot answer, the result has no variant, reason
 * UNKNOWN_EXPERIMENT and a `detail`); a circuit breaker keeps a dead sidecar
 * from costing a timeout on every call; exposures follow the shared exposure
 * rule (ASSIGNED and OVERRIDE, once per unit) and are shipped with outcomes in
 * background LogExposures / Track batches from bounded queues.
 */

import { fromJson, type JsonObject } from "@bufbuild/protobuf";
import { encodeAttributes, type AttributeValue } from "../core/attributes.js";
import type { Assignment, Units } from "../core/evaluator.js";
import { REASON_BY_NUMBER } from "../core/operators.js";
import {
  DEFAULT_DEDUP_SIZE,
  ExposureDedup,
  exposureFor,
  newEventId,
  SDK_VERSION,
  type ExposureEvent,
  type OutcomeEvent,
} from "../events.js";
import type { AssignResponse } from "../gen/splitline/v1/assignment_pb.js";
import { ExposureSchema, OutcomeSchema } from "../gen/splitline/v1/events_pb.js";
import { CODE_INVALID_ARGUMENT, FastPathConnection, FastPathError } from "./fastpath.js";

export const SIDECAR_DOWN = "sidecar unavailable";
const BREAKER_MIN_MS = 50;
const BREAKER_MAX_MS = 2000;

/** An assignment bound to its unit, as the sidecar answered it. */
export interface RemoteAssignment extends Assignment {
  readonly unitId: string;
  readonly configRevision: bigint;
  /** Why there is no answer from the sidecar (only on a default answer). */
  readonly detail?: string;
}

export interface RemoteClientOptions {
  /** The fast-path Unix socket of the sidecar. */
  socketPath: string;
  timeoutMs?: number;
  client?: string;
  sessionId?: string;
  /** Background flush period (ms); default 200. */
  flushIntervalMs?: number;
  batchSize?: number;
  /** Events kept while the sidecar is unreachable; newer ones are dropped (and counted) beyond. */
  maxBuffered?: number;
  /** Where rate-limited warnings go; default console.warn. */
  warn?: (message: string) => void;
}

const EMPTY_PARAMS: Readonly<JsonObject> = Object.freeze({});

export class RemoteClient {
  readonly connection: FastPathConnection;
  /** Events dropped because a queue was full. */
  dropped = 0;
  private readonly client: string;
  private readonly sessionId: string;
  private readonly dedup = new ExposureDedup(DEFAULT_DEDUP_SIZE);
  private readonly exposures: ExposureEvent[] = [];
  private readonly outcomes: OutcomeEvent[] = [];
  private readonly batchSize: number;
  private readonly maxBuffered: number;
  private readonly warn: (message: string) => void;
  private readonly timer: ReturnType<typeof setInterval>;
  private flushing: Promise<void> | null = null;
  private breakerUntil = 0;
  private breakerDelay = 0;
  private lastWarn = new Map<string, number>();

  constructor(options: RemoteClientOptions) {
    this.connection = new FastPathConnection(options.socketPath, { timeoutMs: options.timeoutMs ?? 1000 });
    this.client = options.client ?? `js-node/${SDK_VERSION}`;
    this.sessionId = options.sessionId ?? "";
    this.batchSize = options.batchSize ?? 500;
    this.maxBuffered = options.maxBuffered ?? 100_000;
    this.warn = options.warn ?? ((m) => console.warn(m));
    this.timer = setInterval(() => void this.flush(), options.flushIntervalMs ?? 200);
    this.timer.unref();
  }

  private warnOnce(topic: string, message: string): void {
    const now = Date.now();
    if ((this.lastWarn.get(topic) ?? 0) + 60_000 > now) return;
    this.lastWarn.set(topic, now);
    this.warn(`splitline: ${message}`);
  }

  private fallback(experimentKey: string, detail: string): RemoteAssignment {
    this.warnOnce(detail.split(":")[0]!, `${JSON.stringify(experimentKey)} answered with no variant: ${detail}`);
    return Object.freeze({
      experimentKey, variant: null, reason: "UNKNOWN_EXPERIMENT", params: EMPTY_PARAMS, unitType: "",
      unitId: "", configRevision: 0n, detail,
    });
  }

  private async request(keys: readonly string[], units: Units, attributes: Record<string, AttributeValue> | undefined): Promise<RemoteAssignment[] | string> {
    if (Date.now() < this.breakerUntil) return SIDECAR_DOWN;
    const cleanUnits: Record<string, string> = {};
    for (const [k, v] of Object.entries(units)) if (typeof v === "string" && v) cleanUnits[k] = v;
    try {
      const response = await this.connection.call({
        case: "assign",
        value: {
          units: cleanUnits,
          attributes: attributes ? encodeAttributes(attributes) : {},
          experimentKeys: [...keys],
          logExposures: false,
          client: this.client,
          sessionId: this.sessionId,
        },
      });
      this.breakerDelay = 0;
      this.breakerUntil = 0;
      if (response.body.case !== "assign") return "unexpected response body";
      return fromResponse(response.body.value);
    } catch (err) {
      const e = err instanceof FastPathError ? err : new FastPathError(13, String(err));
      if (e.code === CODE_INVALID_ARGUMENT) return `invalid argument: ${e.message}`;
      this.breakerDelay = Math.min(BREAKER_MAX_MS, Math.max(BREAKER_MIN_MS, this.breakerDelay * 2));
      this.breakerUntil = Date.now() + this.breakerDelay;
      return `${SIDECAR_DOWN}: ${e.message}`;
    }
  }

  /** Decide one experiment for the unit; never rejects. */
  async assign(experimentKey: string, units: Units, attributes?: Record<string, AttributeValue>): Promise<RemoteAssignment> {
    const answer = await this.request([experimentKey], units, attributes);
    if (typeof answer === "string") return this.fallback(experimentKey, answer);
    const a = answer.find((x) => x.experimentKey === experimentKey);
    if (a === undefined) return this.fallback(experimentKey, "the sidecar's answer did not include the experiment");
    this.expose(a);
    return a;
  }

  /** Every experiment that gives the unit a variant (empty when the sidecar cannot answer). */
  async assignAll(units: Units, attributes?: Record<string, AttributeValue>): Promise<RemoteAssignment[]> {
    const answer = await this.request([], units, attributes);
    if (typeof answer === "string") {
      this.warnOnce(answer.split(":")[0]!, `assignAll answered with nothing: ${answer}`);
      return [];
    }
    const out = answer.filter((a) => a.variant !== null);
    for (const a of out) this.expose(a);
    return out;
  }

  private expose(a: RemoteAssignment): void {
    const event = exposureFor(a, a.unitId, a.configRevision, this.client, this.dedup, this.sessionId);
    if (event === undefined) return;
    if (this.exposures.length >= this.maxBuffered) {
      this.dropped++;
      this.warnOnce("queue", "exposure queue full; dropping exposures");
      return;
    }
    this.exposures.push(event);
  }

  /** Record an outcome (a purchase, an error, a latency sample) for a unit. */
  track(unitType: string, unitId: string, name: string, value = 1, properties?: Record<string, string>): void {
    if (this.outcomes.length >= this.maxBuffered) {
      this.dropped++;
      this.warnOnce("queue", "outcome queue full; dropping outcomes");
      return;
    }
    const event: OutcomeEvent = { eventId: newEventId(), timestamp: new Date().toISOString(), unitType, unitId, name, value };
    if (properties) event.properties = { ...properties };
    this.outcomes.push(event);
  }

  /** Ship what is queued; a failed batch stays queued (same event ids) for the next flush. */
  flush(): Promise<void> {
    if (this.flushing !== null) return this.flushing;
    const run = async (): Promise<void> => {
      try {
        while (this.exposures.length) {
          const batch = this.exposures.slice(0, this.batchSize);
          const r = await this.connection.call({
            case: "logExposures",
            value: { exposures: batch.map((e) => fromJson(ExposureSchema, { ...e })) },
          });
          const accepted = r.body.case === "logExposures" ? r.body.value.accepted : 0;
          this.exposures.splice(0, Math.min(batch.length, accepted || batch.length));
        }
        while (this.outcomes.length) {
          const batch = this.outcomes.slice(0, this.batchSize);
          const r = await this.connection.call({
            case: "track",
            value: { outcomes: batch.map((e) => fromJson(OutcomeSchema, { ...e })) },
          });
          const accepted = r.body.case === "track" ? r.body.value.accepted : 0;
          this.outcomes.splice(0, Math.min(batch.length, accepted || batch.length));
        }
      } catch (err) {
        this.warnOnce("ship", `cannot ship events: ${(err as Error).message}`);
      }
    };
    const flushing = run().finally(() => {
      if (this.flushing === flushing) this.flushing = null;
    });
    this.flushing = flushing;
    return flushing;
  }

  /** Events waiting to be shipped. */
  get queued(): number {
    return this.exposures.length + this.outcomes.length;
  }

  /** Final flush, then close the connection. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
    this.connection.close();
  }
}

/** AssignResponse to RemoteAssignments. */
export function fromResponse(response: AssignResponse): RemoteAssignment[] {
  return response.assignments.map((a) =>
    Object.freeze({
      experimentKey: a.experimentKey,
      variant: a.variantKey || null,
      reason: REASON_BY_NUMBER[a.reason] ?? "UNKNOWN_EXPERIMENT",
      params: a.params ? Object.freeze(a.params) : EMPTY_PARAMS,
      unitType: a.unitType,
      unitId: a.unitId,
      configRevision: response.configRevision,
    }),
  );
}
