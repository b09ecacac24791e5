// Node remote mode against an in-process fake sidecar speaking the fast-path
// framing (assignment.proto); and, when SPLITLINE_TEST_SIDECAR_FAST_SOCKET names
// a running sidecar's fast socket (serving the vectors' "main" snapshot), every
// "main" vector case through the real one.
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server, type Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  FastPathRequestSchema,
  FastPathResponseSchema,
  type FastPathRequest,
  type FastPathResponse,
} from "../src/gen/splitline/v1/assignment_pb.js";
import { compileSnapshot, FastPathConnection, FastPathError, RemoteClient, REASON_NUMBERS } from "../src/node.js";
import { loadVectors } from "./helpers.js";

const vectors = loadVectors() as ReturnType<typeof loadVectors> & {
  cases: Array<{ snapshot: string; input: { units: Record<string, string>; attributes: Record<string, string>; experiment: string }; expected: { variant: string | null; reason: string } }>;
};
const main = compileSnapshot(vectors.snapshots["main"]!);

type Handler = (req: FastPathRequest, reply: (r: FastPathResponse) => void, socket: Socket) => void;

function frame(r: FastPathResponse): Buffer {
  const payload = toBinary(FastPathResponseSchema, r);
  const out = Buffer.alloc(4 + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.set(payload, 4);
  return out;
}

/** A fake sidecar answering from the core; `handler` may delay, reorder or fail. */
function fakeSidecar(path: string, handler: Handler): Promise<Server> {
  const server = createServer((socket) => {
    let buf = Buffer.alloc(0);
    socket.on("data", (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 4 && buf.length - 4 >= buf.readUInt32BE(0)) {
        const n = buf.readUInt32BE(0);
        const req = fromBinary(FastPathRequestSchema, buf.subarray(4, 4 + n));
        buf = buf.subarray(4 + n);
        handler(req, (r) => socket.write(frame(r)), socket);
      }
    });
    socket.on("error", () => {});
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

function answer(req: FastPathRequest): FastPathResponse {
  if (req.body.case === "assign") {
    const r = req.body.value;
    const keys = r.experimentKeys.length ? r.experimentKeys : [...main.experiments.keys()];
    return create(FastPathResponseSchema, {
      requestId: req.requestId,
      body: {
        case: "assign",
        value: {
          configRevision: main.revision,
          assignments: keys.map((k) => {
            const a = main.assign(k, r.units, r.attributes);
            return {
              experimentKey: k, variantKey: a.variant ?? "", reason: REASON_NUMBERS[a.reason], unitType: a.unitType,
              unitId: r.units[a.unitType] ?? "", params: a.variant ? { ...a.params } : undefined,
            };
          }),
        },
      },
    });
  }
  if (req.body.case === "logExposures") {
    return create(FastPathResponseSchema, { requestId: req.requestId, body: { case: "logExposures", value: { accepted: req.body.value.exposures.length } } });
  }
  if (req.body.case === "track") {
    return create(FastPathResponseSchema, { requestId: req.requestId, body: { case: "track", value: { accepted: req.body.value.outcomes.length } } });
  }
  return create(FastPathResponseSchema, { requestId: req.requestId, body: { case: "error", value: { code: 3, message: "no body", field: "body" } } });
}

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), "splitline-js-"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("FastPathConnection", () => {
  it("pipelines requests and matches responses that arrive out of order", async () => {
    const path = join(dir, "reorder.sock");
    const held: Array<() => void> = [];
    const server = await fakeSidecar(path, (req, reply) => {
      held.push(() => reply(answer(req)));
      if (held.length === 3) for (const f of held.reverse()) f();
    });
    const conn = new FastPathConnection(path);
    const keys = ["checkout_v2", "search_rank", "misc_running"];
    const got = await Promise.all(keys.map((k) => conn.call({ case: "assign", value: { units: { user_id: "12345" }, attributes: { country: "US", app_version: "3", age: "40" }, experimentKeys: [k] } })));
    got.forEach((r, i) => {
      expect(r.body.case).toBe("assign");
      const a = (r.body.value as { assignments: Array<{ experimentKey: string; variantKey: string }> }).assignments[0]!;
      expect(a.experimentKey).toBe(keys[i]);
      expect(a.variantKey || null).toBe(main.assign(keys[i]!, { user_id: "12345" }, { country: "US", app_version: "3", age: "40" }).variant);
    });
    conn.close();
    server.close();
  });

  it("turns error bodies into FastPathError and a request_id 0 error into a failed connection", async () => {
    const path = join(dir, "errors.sock");
    const server = await fakeSidecar(path, (req, reply, socket) => {
      if (req.body.case === "track") {
        reply(create(FastPathResponseSchema, { requestId: req.requestId, body: { case: "error", value: { code: 8, message: "spool full" } } }));
      } else {
        reply(create(FastPathResponseSchema, { requestId: 0n, body: { case: "error", value: { code: 3, message: "cannot parse" } } }));
        socket.end();
      }
    });
    const conn = new FastPathConnection(path);
    await expect(conn.call({ case: "track", value: { outcomes: [] } })).rejects.toMatchObject({ code: 8, message: "spool full" });
    await expect(conn.call({ case: "logExposures", value: { exposures: [] } })).rejects.toBeInstanceOf(FastPathError);
    conn.close();
    server.close();
  });

  it("times out a call the sidecar never answers", async () => {
    const path = join(dir, "silent.sock");
    const server = await fakeSidecar(path, () => {});
    const conn = new FastPathConnection(path, { timeoutMs: 50 });
    await expect(conn.call({ case: "track", value: { outcomes: [] } })).rejects.toMatchObject({ code: 4 });
    conn.close();
    server.close();
  });
});

describe("RemoteClient", () => {
  it("answers like the core, ships deduplicated exposures and outcomes", async () => {
    const path = join(dir, "ok.sock");
    const shipped: FastPathRequest[] = [];
    const server = await fakeSidecar(path, (req, reply) => {
      if (req.body.case !== "assign") shipped.push(req);
      reply(answer(req));
    });
    const client = new RemoteClient({ socketPath: path, flushIntervalMs: 10_000, client: "js-test" });
    for (const c of vectors.cases.filter((x) => x.snapshot === "main").slice(0, 200)) {
      const a = await client.assign(c.input.experiment, c.input.units, c.input.attributes);
      expect({ variant: a.variant, reason: a.reason }).toEqual(c.expected);
    }
    const forced = await client.assign("checkout_v2", { user_id: "qa-alice" });
    expect(forced).toMatchObject({ variant: "treatment", reason: "OVERRIDE", unitId: "qa-alice", configRevision: 42n });
    expect(forced.params).toEqual({ button: "green", limit: 3, ratio: 0.5 });
    await client.assign("checkout_v2", { user_id: "qa-alice" });
    const all = await client.assignAll({ user_id: "qa-alice" }, { plan: "free" });
    expect(all.map((a) => a.experimentKey).sort()).toEqual(main.assignAll({ user_id: "qa-alice" }, { plan: "free" }).map((a) => a.experimentKey).sort());
    client.track("user_id", "qa-alice", "purchase", 9.5, { sku: "x" });
    await client.close();
    const exposures = shipped.flatMap((r) => (r.body.case === "logExposures" ? r.body.value.exposures : []));
    const outcomes = shipped.flatMap((r) => (r.body.case === "track" ? r.body.value.outcomes : []));
    const alice = exposures.filter((e) => e.unitId === "qa-alice" && e.experimentKey === "checkout_v2");
    expect(alice).toHaveLength(1);
    expect(alice[0]).toMatchObject({ variantKey: "treatment", forced: true, client: "js-test", configRevision: 42n });
    expect(exposures.some((e) => e.experimentKey === "shipped_exp")).toBe(false);
    expect(outcomes).toHaveLength(1);
    expect(outcomes[0]).toMatchObject({ name: "purchase", value: 9.5, properties: { sku: "x" } });
    server.close();
  });

  it("answers no variant with a detail when the sidecar is down, without waiting on every call", async () => {
    const warnings: string[] = [];
    const client = new RemoteClient({ socketPath: join(dir, "absent.sock"), warn: (m) => warnings.push(m) });
    const a = await client.assign("checkout_v2", { user_id: "1" });
    expect(a).toMatchObject({ variant: null, reason: "UNKNOWN_EXPERIMENT" });
    expect(a.detail).toMatch(/^sidecar unavailable/);
    expect((await client.assign("checkout_v2", { user_id: "1" })).detail).toBe("sidecar unavailable");
    expect(await client.assignAll({ user_id: "1" })).toEqual([]);
    expect(warnings.length).toBeGreaterThan(0);
    await client.close();
  });
});

const realSocket = process.env["SPLITLINE_TEST_SIDECAR_FAST_SOCKET"];
describe.runIf(realSocket)("against the real sidecar", () => {
  it("answers every main vector case", async () => {
    const client = new RemoteClient({ socketPath: realSocket!, timeoutMs: 5000 });
    const cases = vectors.cases.filter((x) => x.snapshot === "main");
    const got = await Promise.all(cases.map((c) => client.assign(c.input.experiment, c.input.units, c.input.attributes)));
    got.forEach((a, i) => expect({ variant: a.variant, reason: a.reason }, cases[i]!.input.experiment).toEqual(cases[i]!.expected));
    await client.close();
    expect(client.queued).toBe(0);
  });
});
