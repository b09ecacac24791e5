// The differential-test CLI (dist/cli/eval.js): every vector case through the
// built program, plus its answers for assign-all, bad snapshots and bad lines.
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";
import { loadVectors } from "./helpers.js";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const CLI = fileURLToPath(new URL("../dist/cli/eval.js", import.meta.url));

function run(lines: unknown[]): Promise<Array<Record<string, unknown>>> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI], { stdio: ["pipe", "pipe", "inherit"] });
    let out = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.on("error", reject);
    child.on("close", (code) => {
      if (code !== 0) reject(new Error(`eval.js exited ${code}`));
      else resolve(out.split("\n").filter(Boolean).map((l) => JSON.parse(l)));
    });
    child.stdin.end(lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n") + "\n");
  });
}

beforeAll(() => {
  if (!existsSync(CLI)) execFileSync(process.execPath, [fileURLToPath(new URL("../node_modules/typescript/bin/tsc", import.meta.url)), "-p", "tsconfig.build.json"], { cwd: ROOT });
});

const vectors = loadVectors() as ReturnType<typeof loadVectors> & {
  cases: Array<{ name: string; snapshot: string; input: Record<string, unknown>; expected: { variant: string | null; reason: string } }>;
};

describe("cli/eval.js", () => {
  it("answers every vector case in order", async () => {
    const got = await run([
      { snapshots: vectors.snapshots },
      ...vectors.cases.map((c) => ({ id: c.name, snapshot: c.snapshot, ...c.input })),
    ]);
    expect(got).toEqual(vectors.cases.map((c) => ({ id: c.name, ...c.expected })));
  });

  it("answers assign-all, unknown and invalid snapshots, and bad lines", async () => {
    const got = await run([
      { snapshots: { main: vectors.snapshots["main"], bad: { revision: "1", layers: [{ id: "bad id" }] } } },
      { id: "all", snapshot: "main", units: { user_id: "qa-alice" }, attributes: { plan: true } },
      { id: "typed", snapshot: "main", units: { user_id: 7 }, attributes: { attr: 17 }, experiment: "op_gt" },
      { id: "nosnap", snapshot: "nope", units: {}, attributes: {}, experiment: "x" },
      { id: "invalid", snapshot: "bad", units: {}, attributes: {}, experiment: "x" },
      "{not json",
    ]);
    expect(got[0]).toMatchObject({ id: "all" });
    expect((got[0]!["assignments"] as Array<{ experiment: string }>).map((a) => a.experiment)).toContain("checkout_v2");
    expect(got[1]).toEqual({ id: "typed", variant: expect.any(String), reason: "ASSIGNED" });
    expect(got[2]).toMatchObject({ id: "nosnap", variant: null, reason: null, error: expect.stringContaining("unknown snapshot") });
    expect(got[3]).toMatchObject({ id: "invalid", variant: null, reason: null, error: expect.stringContaining("layers[bad id].id") });
    expect(got[4]).toMatchObject({ id: null, error: expect.stringContaining("bad JSON") });
  });
});
