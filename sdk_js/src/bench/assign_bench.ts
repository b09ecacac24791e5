/**
 * Benchmark of the in-process core (and, with --socket PATH, of remote mode over
 * the sidecar's fast path). Prints the median of several rounds per case.
 *
 *   npm run build && npm run bench [-- --rounds 7] [-- --socket /run/splitline/fast.sock]
 */

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { bucket, compileSnapshot, hash32, type CompiledSnapshot } from "../core/index.js";

const args = process.argv.slice(2);
const arg = (name: string): string | undefined => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const ROUNDS = Number(arg("--rounds") ?? 7);
const VECTORS = fileURLToPath(new URL("../../../proto/testdata/assignment_vectors.json", import.meta.url));

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

let sink = 0;

/** ns per call: median over ROUNDS of `iterations` calls. */
function bench(name: string, iterations: number, fn: (i: number) => number): void {
  for (let i = 0; i < Math.min(iterations, 50_000); i++) sink += fn(i); // warm up
  const rounds: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < iterations; i++) sink += fn(i);
    rounds.push(Number(process.hrtime.bigint() - t0) / iterations);
  }
  console.log(`${name.padEnd(52)} ${median(rounds).toFixed(1).padStart(9)} ns/op  (min ${Math.min(...rounds).toFixed(1)}, ${ROUNDS} rounds)`);
}

function synthetic(layers: number, perLayer: number): CompiledSnapshot {
  const exps = [];
  const width = Math.floor(10_000 / perLayer);
  for (let l = 0; l < layers; l++) {
    for (let e = 0; e < perLayer; e++) {
      exps.push({
        key: `exp_${l}_${e}`, layerId: `layer_${l}`, unitType: "user_id", status: "RUNNING",
        ranges: [{ start: e * width, end: (e + 1) * width }],
        variants: [{ key: "control", weight: 5000 }, { key: "treatment", weight: 5000 }],
        rules: e % 3 === 0 ? [{ attribute: "country", operator: "IN", values: ["US", "CA"] }] : [],
      });
    }
  }
  return compileSnapshot({
    revision: "1",
    layers: Array.from({ length: layers }, (_, l) => ({ id: `layer_${l}` })),
    experiments: exps,
    holdouts: [{ id: "global", percentBp: 200 }],
  });
}

async function main(): Promise<void> {
  const vectors = JSON.parse(readFileSync(VECTORS, "utf8")) as { snapshots: Record<string, object> };
  const snap = compileSnapshot(vectors.snapshots["main"]!);
  const ids = Array.from({ length: 4096 }, (_, i) => `user-${i * 7919}`);
  const units = ids.map((id) => ({ user_id: id }));
  const eligible = { country: "US", app_version: "2.1.0", age: "30", plan: "free" };
  const mask = ids.length - 1;

  console.log(`node ${process.version}; medians of ${ROUNDS} rounds`);
  // A calibration line: on an idle modern core this is ~0.3-0.5 ns; scale the rest by it on a busy machine.
  bench("calibration: empty loop body", 20_000_000, (i) => i & 1);
  bench("hash32 (12-byte id)", 2_000_000, (i) => hash32(ids[i & mask]!));
  bench("bucket(id, salt) (public, concatenates)", 2_000_000, (i) => bucket(ids[i & mask]!, "checkout"));
  bench("assign: running, no rules (checkout_v2)", 2_000_000, (i) =>
    snap.assign("checkout_v2", units[i & mask]!).reason.length);
  bench("assign: three rules, holdouts (search_rank)", 2_000_000, (i) =>
    snap.assign("search_rank", units[i & mask]!, eligible).reason.length);
  bench("assign: regex rule (op_regex)", 1_000_000, (i) =>
    snap.assign("op_regex", units[i & mask]!, { attr: "ann@example.com" }).reason.length);
  bench("assign: override hit (checkout_v2, qa-alice)", 2_000_000, () =>
    snap.assign("checkout_v2", { user_id: "qa-alice" }).reason.length);
  bench("assign: unknown experiment", 2_000_000, (i) => snap.assign("nope", units[i & mask]!).reason.length);
  bench(`assignAll: vectors main (${snap.experiments.size} experiments)`, 200_000, (i) =>
    snap.assignAll(units[i & mask]!, eligible).length);
  const big = synthetic(100, 10);
  bench("assignAll: 1000 experiments in 100 layers", 20_000, (i) =>
    big.assignAll(units[i & mask]!, { country: "US" }).length);
  bench("assign in the 1000-experiment snapshot", 2_000_000, (i) =>
    big.assign("exp_57_3", units[i & mask]!, { country: "US" }).reason.length);
  const t0 = performance.now();
  synthetic(100, 100);
  console.log(`${"compile: 10,000 experiments in 100 layers".padEnd(52)} ${(performance.now() - t0).toFixed(0).padStart(9)} ms (incl. JSON parse + validate)`);

  const socket = arg("--socket");
  if (socket !== undefined) {
    const { RemoteClient } = await import("../node/remote.js");
    const client = new RemoteClient({ socketPath: socket, timeoutMs: 5000 });
    await client.assign("checkout_v2", units[0]!);
    const seq: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const n = 500;
      const t = performance.now();
      for (let i = 0; i < n; i++) await client.assign("checkout_v2", units[i & mask]!);
      seq.push(((performance.now() - t) * 1000) / n);
    }
    console.log(`${"remote assign, one at a time (fast path)".padEnd(52)} ${median(seq).toFixed(1).padStart(9)} us/call`);
    const pipe: number[] = [];
    for (let r = 0; r < ROUNDS; r++) {
      const n = 2000;
      const t = performance.now();
      await Promise.all(Array.from({ length: n }, (_, i) => client.assign("checkout_v2", units[i & mask]!)));
      pipe.push(((performance.now() - t) * 1000) / n);
    }
    console.log(`${"remote assign, 2000 pipelined (fast path)".padEnd(52)} ${median(pipe).toFixed(1).padStart(9)} us/call`);
    await client.close();
  }
  if (sink === 42) console.log("");
}

void main();
