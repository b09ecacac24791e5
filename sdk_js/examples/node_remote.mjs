// Node remote mode over the sidecar's fast path. Start a sidecar first, e.g.
//   splitline sidecar --snapshot snap.json --socket /tmp/sl.sock --fast-socket /tmp/sl-fast.sock --spool-dir /tmp/sl-spool
// then: node examples/node_remote.mjs /tmp/sl-fast.sock
import { RemoteClient } from "../dist/node.js";

const client = new RemoteClient({ socketPath: process.argv[2] ?? "/tmp/sl-fast.sock" });
const a = await client.assign("checkout_v2", { user_id: "12345" }, { country: "US", is_pro: true, age: 30 });
console.log(a.variant ?? "(none)", a.reason, a.detail ?? "");   // never throws; `detail` says why on a default
client.track("user_id", "12345", "purchase", 42.5, { currency: "EUR" });
await client.close();                                           // final flush of exposures and outcomes
