// Browser mode: snapshot evaluation and the localStorage exposure buffer
// (a Web Storage shim stands in for window.localStorage).
import { afterEach, describe, expect, it, vi } from "vitest";
import { BrowserClient, ExposureBuffer, type ExposureEvent } from "../src/index.js";
import { loadVectors, StorageShim } from "./helpers.js";

const snapshot = loadVectors().snapshots["main"]!;

function event(i: number): ExposureEvent {
  return {
    eventId: `id-${i}`, timestamp: "2026-11-23T00:00:00.000Z", experimentKey: "e", variantKey: "a",
    unitType: "user_id", unitId: String(i), configRevision: "1", forced: false, client: "test",
  };
}

afterEach(() => {
  vi.unstubAllGlobals();
});

describe("ExposureBuffer", () => {
  it("survives a reload: a new buffer on the same storage sends what the old one kept", async () => {
    const storage = new StorageShim();
    const failing = new ExposureBuffer({ storage, send: () => Promise.reject(new Error("offline")) });
    failing.add(event(1), event(2));
    expect(await failing.flush()).toBe(0);
    const sent: ExposureEvent[][] = [];
    const reloaded = new ExposureBuffer({ storage, send: async (b) => void sent.push([...b]) });
    expect(reloaded.size).toBe(2);
    expect(await reloaded.flush()).toBe(2);
    expect(sent.flat().map((e) => e.eventId)).toEqual(["id-1", "id-2"]);
    expect(storage.getItem("splitline.exposures.v1")).toBeNull();
  });

  it("is bounded: the oldest events are dropped and counted", () => {
    const storage = new StorageShim();
    const buffer = new ExposureBuffer({ storage, maxBuffered: 3, send: async () => {} });
    for (let i = 0; i < 5; i++) buffer.add(event(i));
    expect(buffer.pending().map((e) => e.eventId)).toEqual(["id-2", "id-3", "id-4"]);
    expect(buffer.dropped).toBe(2);
  });

  it("sends in batches and keeps a failed batch with its event ids", async () => {
    const storage = new StorageShim();
    let calls = 0;
    const buffer = new ExposureBuffer({
      storage, batchSize: 2,
      send: async () => {
        if (++calls === 2) throw new Error("503");
      },
    });
    for (let i = 0; i < 5; i++) buffer.add(event(i));
    expect(await buffer.flush()).toBe(2);
    expect(buffer.pending().map((e) => e.eventId)).toEqual(["id-2", "id-3", "id-4"]);
    expect(await buffer.flush()).toBe(3);
    expect(buffer.size).toBe(0);
  });

  it("shares one flush between concurrent callers and keeps events added meanwhile", async () => {
    const storage = new StorageShim();
    let release!: () => void;
    const buffer = new ExposureBuffer({ storage, send: () => new Promise<void>((r) => (release = r)) });
    buffer.add(event(1));
    const a = buffer.flush();
    const b = buffer.flush();
    expect(a).toBe(b);
    buffer.add(event(2)); // another tab or a later call, while the batch is in flight
    await Promise.resolve();
    release();
    await new Promise((r) => setTimeout(r, 0));
    release();
    expect(await a).toBe(2);
    expect(buffer.size).toBe(0);
  });

  it("survives a full storage quota and a corrupt entry", () => {
    const storage = new StorageShim(300);
    const buffer = new ExposureBuffer({ storage, send: async () => {} });
    buffer.add(event(1), event(2), event(3), event(4));
    expect(buffer.dropped).toBeGreaterThan(0);
    storage.items.set("splitline.exposures.v1", "{not json");
    expect(buffer.pending()).toEqual([]);
    buffer.add(event(9));
    expect(buffer.size).toBe(1);
  });

  it("uses globalThis.localStorage by default", () => {
    const storage = new StorageShim();
    vi.stubGlobal("localStorage", storage);
    new ExposureBuffer({ send: async () => {} }).add(event(1));
    expect(storage.getItem("splitline.exposures.v1")).toContain("id-1");
  });
});

describe("BrowserClient", () => {
  it("evaluates a fetched snapshot and buffers exposures once per unit, forced for overrides, never for SHIPPED", async () => {
    const storage = new StorageShim();
    const sent: ExposureEvent[] = [];
    const client = new BrowserClient({
      snapshot: JSON.stringify(snapshot), storage, flushIntervalMs: 0, sessionId: "s1",
      send: async (b) => void sent.push(...b), units: { user_id: "qa-alice" }, attributes: { plan: "free" },
    });
    expect(client.revision).toBe(42n);
    expect(client.assign("checkout_v2")).toMatchObject({ variant: "treatment", reason: "OVERRIDE" });
    expect(client.assign("checkout_v2").variant).toBe("treatment");
    expect(client.assign("shipped_exp")).toMatchObject({ variant: "treatment", reason: "SHIPPED" });
    expect(client.variant("misc_running", "fallback", { units: { user_id: "12345" } })).toBe(
      client.assign("misc_running", { units: { user_id: "12345" } }).variant ?? "fallback",
    );
    expect(client.assign("no_such").reason).toBe("UNKNOWN_EXPERIMENT");
    await client.close();
    expect(sent[0]).toMatchObject({
      experimentKey: "checkout_v2", variantKey: "treatment", unitType: "user_id", unitId: "qa-alice",
      configRevision: "42", forced: true, sessionId: "s1",
    });
    expect(sent.filter((e) => e.experimentKey === "checkout_v2")).toHaveLength(1);
    expect(sent.some((e) => e.experimentKey === "shipped_exp")).toBe(false);
    expect(sent[0]!.eventId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("keeps the last good snapshot when a new one is invalid, and answers without one", () => {
    const client = new BrowserClient({ send: async () => {}, storage: new StorageShim(), flushIntervalMs: 0 });
    expect(client.assign("checkout_v2", { units: { user_id: "1" } }).reason).toBe("UNKNOWN_EXPERIMENT");
    expect(client.assignAll()).toEqual([]);
    expect(client.setSnapshot(snapshot)).toBe(true);
    expect(client.setSnapshot({ revision: "43", layers: [{ id: "bad id" }] })).toBe(false);
    expect(client.revision).toBe(42n);
  });

  it("loads a snapshot with fetch", async () => {
    vi.stubGlobal("fetch", async () => new Response(JSON.stringify(snapshot)));
    const client = new BrowserClient({ send: async () => {}, storage: new StorageShim(), flushIntervalMs: 0 });
    expect(await client.load("/splitline/snapshot.json")).toBe(true);
    const all = client.assignAll({ units: { user_id: "qa-alice" } });
    expect(all.map((a) => a.experimentKey)).toContain("checkout_v2");
    expect(client.exposures.size).toBeGreaterThan(0);
  });
});
