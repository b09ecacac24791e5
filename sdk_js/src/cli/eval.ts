#!/usr/bin/env node
/**
 * Differential-test driver: evaluates cases read as JSON lines on stdin.
 *
 *   first line:  {"snapshots": {name: ConfigSnapshot in proto3 JSON, ...}}
 *   then:        {"id": str, "snapshot": name, "units": {...}, "attributes": {...}, "experiment": key}
 *   answers:     {"id": ..., "variant": str | null, "reason": "ASSIGNED" | ...}   (one line per case, in order)
 *
 * A case without "experiment" answers every experiment that gives the unit a
 * variant: {"id", "assignments": [{"experiment", "variant", "reason"}, ...]}.
 * A case naming a snapshot that is missing or failed validation answers
 * {"id", "variant": null, "reason": null, "error": "..."}; so does a line that
 * is not valid JSON. Attribute values that are not strings are encoded by the
 * contract (booleans true/false, numbers shortest round-trip); integer unit ids
 * become their decimal digits.
 *
 * Streams: each chunk of input is answered with one write, so both a pipelined
 * producer and a line-at-a-time caller work. Output goes through an fs write
 * stream (not the synchronous pipe writes of process.stdout), so a caller that
 * writes all its input before reading any output cannot deadlock us.
 */

import { createWriteStream } from "node:fs";
import { cleanAttributes, cleanUnits, compileSnapshot, type CompiledSnapshot } from "../core/index.js";

type Snapshots = Map<string, CompiledSnapshot | Error>;

function compileAll(doc: unknown): Snapshots {
  const out: Snapshots = new Map();
  const snapshots = (doc as { snapshots?: unknown } | null)?.snapshots;
  if (snapshots === null || typeof snapshots !== "object") {
    throw new Error('the first line must be {"snapshots": {name: snapshot, ...}}');
  }
  for (const [name, snap] of Object.entries(snapshots)) {
    try {
      out.set(name, compileSnapshot(snap as object));
    } catch (err) {
      out.set(name, err as Error);
    }
  }
  return out;
}

function isStringRecord(value: unknown): value is Record<string, string> {
  if (value === null || typeof value !== "object" || Array.isArray(value)) return false;
  for (const key in value) if (typeof (value as Record<string, unknown>)[key] !== "string") return false;
  return true;
}

function answer(snapshots: Snapshots, line: string): string {
  let req: { id?: unknown; snapshot?: unknown; units?: unknown; attributes?: unknown; experiment?: unknown };
  try {
    req = JSON.parse(line);
  } catch (err) {
    return JSON.stringify({ id: null, variant: null, reason: null, error: `bad JSON: ${(err as Error).message}` });
  }
  const id = req.id ?? null;
  const snap = snapshots.get(String(req.snapshot));
  if (!(snap !== undefined && !(snap instanceof Error))) {
    const error = snap === undefined ? `unknown snapshot ${JSON.stringify(req.snapshot)}` : `invalid snapshot: ${snap.message}`;
    return JSON.stringify({ id, variant: null, reason: null, error });
  }
  const units = isStringRecord(req.units) ? req.units : cleanUnits(req.units);
  const attributes = isStringRecord(req.attributes) ? req.attributes : cleanAttributes(req.attributes);
  if (req.experiment === undefined || req.experiment === null) {
    const assignments = snap
      .assignAll(units, attributes)
      .map((a) => ({ experiment: a.experimentKey, variant: a.variant, reason: a.reason }));
    return JSON.stringify({ id, assignments });
  }
  const a = snap.assign(String(req.experiment), units, attributes);
  return JSON.stringify({ id, variant: a.variant, reason: a.reason });
}

function main(): void {
  const stdout = createWriteStream("", { fd: 1 });
  let snapshots: Snapshots | undefined;
  let pending = "";
  const handle = (text: string, final: boolean): void => {
    if (!final && !text.includes("\n")) {
      pending += text; // a long line (the snapshots) arriving in pieces
      return;
    }
    pending += text;
    const lines = pending.split("\n");
    pending = final ? "" : lines.pop()!;
    const out: string[] = [];
    for (const line of lines) {
      if (line.trim() === "") continue;
      if (snapshots === undefined) {
        try {
          snapshots = compileAll(JSON.parse(line));
        } catch (err) {
          process.stderr.write(`eval: ${(err as Error).message}\n`);
          process.exit(2);
        }
        continue;
      }
      out.push(answer(snapshots, line));
    }
    if (out.length) stdout.write(out.join("\n") + "\n");
    if (final) stdout.end();
  };
  process.stdin.setEncoding("utf8");
  process.stdin.on("data", (chunk: string) => handle(chunk, false));
  process.stdin.on("end", () => handle("", true));
}

main();
