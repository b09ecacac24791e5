/**
 * A bounded exposure buffer kept in localStorage until a send succeeds, so
 * exposures survive a reload, a crash or a flaky network.
 *
 * Storage is the source of truth: every change reads, edits and writes the
 * stored list, so several tabs of one origin share one buffer without losing
 * each other's events. A batch leaves storage only after `send` resolves;
 * when it rejects, the batch stays for the next flush (an event keeps its
 * event_id across retries, so downstream deduplication drops a double send).
 * When the buffer is full the oldest events are dropped and counted.
 */

import type { ExposureEvent } from "../events.js";

/** The part of the Web Storage API the buffer uses (window.localStorage fits). */
export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** Delivers one batch; resolve when it is accepted, reject to keep it for a retry. */
export type SendExposures = (batch: readonly ExposureEvent[]) => Promise<void>;

export const DEFAULT_STORAGE_KEY = "splitline.exposures.v1";
export const DEFAULT_MAX_BUFFERED = 1000;
export const DEFAULT_BATCH_SIZE = 100;

export interface ExposureBufferOptions {
  send: SendExposures;
  /** Defaults to globalThis.localStorage; an in-memory store when there is none. */
  storage?: StorageLike;
  storageKey?: string;
  maxBuffered?: number;
  batchSize?: number;
}

/** A Map-backed StorageLike, used when no localStorage exists (SSR, tests, private modes). */
export class MemoryStorage implements StorageLike {
  private readonly items = new Map<string, string>();
  getItem(key: string): string | null {
    return this.items.get(key) ?? null;
  }
  setItem(key: string, value: string): void {
    this.items.set(key, String(value));
  }
  removeItem(key: string): void {
    this.items.delete(key);
  }
}

function defaultStorage(): StorageLike {
  try {
    const ls = (globalThis as { localStorage?: StorageLike }).localStorage;
    if (ls !== undefined) return ls;
  } catch {
    // Access to localStorage can throw (blocked third-party storage): fall back.
  }
  return new MemoryStorage();
}

export class ExposureBuffer {
  readonly storageKey: string;
  readonly maxBuffered: number;
  readonly batchSize: number;
  /** Events dropped because the buffer was full or storage refused to hold them. */
  dropped = 0;
  private readonly send: SendExposures;
  private storage: StorageLike;
  private inFlight: Promise<number> | null = null;

  constructor(options: ExposureBufferOptions) {
    this.send = options.send;
    this.storage = options.storage ?? defaultStorage();
    this.storageKey = options.storageKey ?? DEFAULT_STORAGE_KEY;
    this.maxBuffered = Math.max(1, options.maxBuffered ?? DEFAULT_MAX_BUFFERED);
    this.batchSize = Math.max(1, options.batchSize ?? DEFAULT_BATCH_SIZE);
  }

  /** The buffered events, oldest first. */
  pending(): ExposureEvent[] {
    let text: string | null;
    try {
      text = this.storage.getItem(this.storageKey);
    } catch {
      return [];
    }
    if (!text) return [];
    try {
      const parsed: unknown = JSON.parse(text);
      return Array.isArray(parsed) ? (parsed.filter((e) => e && typeof e.eventId === "string") as ExposureEvent[]) : [];
    } catch {
      return []; // a corrupt entry is dropped rather than blocking every later event
    }
  }

  get size(): number {
    return this.pending().length;
  }

  /** Buffer events (oldest are dropped beyond maxBuffered). */
  add(...events: ExposureEvent[]): void {
    if (!events.length) return;
    const all = this.pending().concat(events);
    const over = all.length - this.maxBuffered;
    if (over > 0) {
      all.splice(0, over);
      this.dropped += over;
    }
    this.write(all);
  }

  /**
   * Send buffered events in batches until the buffer is empty or a send fails;
   * resolves to the number sent. Concurrent calls share one flush.
   */
  flush(): Promise<number> {
    if (this.inFlight !== null) return this.inFlight;
    const run = async (): Promise<number> => {
      let sent = 0;
      try {
        for (;;) {
          const batch = this.pending().slice(0, this.batchSize);
          if (!batch.length) return sent;
          try {
            await this.send(batch);
          } catch {
            return sent;
          }
          const done = new Set(batch.map((e) => e.eventId));
          this.write(this.pending().filter((e) => !done.has(e.eventId)));
          sent += batch.length;
        }
      } catch {
        return sent;
      }
    };
    const inFlight = run().finally(() => {
      if (this.inFlight === inFlight) this.inFlight = null;
    });
    this.inFlight = inFlight;
    return inFlight;
  }

  private write(events: ExposureEvent[]): void {
    try {
      if (events.length) this.storage.setItem(this.storageKey, JSON.stringify(events));
      else this.storage.removeItem(this.storageKey);
    } catch {
      // Quota exceeded: keep the newer half, count the rest as dropped.
      const keep = events.slice(Math.floor(events.length / 2));
      this.dropped += events.length - keep.length;
      try {
        this.storage.setItem(this.storageKey, JSON.stringify(keep));
      } catch {
        this.dropped += keep.length;
      }
    }
  }
}
