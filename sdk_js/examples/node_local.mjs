// In-process evaluation in Node: compile a snapshot (proto3 JSON) and assign.
//   cd sdk_js && npm ci && npm run build && node examples/node_local.mjs
import { readFileSync } from "node:fs";
import { compileSnapshot } from "../dist/index.js";

const vectors = JSON.parse(readFileSync(new URL("../../proto/testdata/assignment_vectors.json", import.meta.url), "utf8"));
const snapshot = compileSnapshot(vectors.snapshots.main); // throws SnapshotError listing every problem

const units = { user_id: "12345" };
const attributes = { country: "US", app_version: "2.1.0", age: "30" };
const a = snapshot.assign("search_rank", units, attributes);
console.log(`search_rank -> ${a.variant ?? "(none)"} because ${a.reason}`, a.params);
for (const x of snapshot.assignAll(units, attributes)) console.log(`  ${x.experimentKey}: ${x.variant} (${x.reason})`);
