// Regenerates src/gen from ../proto with the buf CLI and protoc-gen-es.
// `--check` generates into a temporary folder and exits 1 when src/gen differs.
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";

const root = fileURLToPath(new URL("..", import.meta.url));
const buf = process.env.BUF ?? join(root, "..", ".tools", "node_modules", ".bin", "buf");
if (!existsSync(buf)) {
  console.error(`buf CLI not found at ${buf}; run \`make ${"../.tools/node_modules/.bin/buf"}\` or set BUF`);
  process.exit(2);
}
const check = process.argv.includes("--check");

function files(dir) {
  const out = new Map();
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.set(relative(dir, p), readFileSync(p, "utf8"));
    }
  };
  if (existsSync(dir)) walk(dir);
  return out;
}

if (!check) {
  rmSync(join(root, "src", "gen"), { recursive: true, force: true });
  execFileSync(buf, ["generate"], { cwd: root, stdio: "inherit" });
  console.log("generated src/gen");
  process.exit(0);
}
const tmp = mkdtempSync(join(tmpdir(), "splitline-js-gen-"));
try {
  execFileSync(buf, ["generate", "-o", tmp], { cwd: root, stdio: "inherit" });
  const fresh = files(join(tmp, "src", "gen"));
  const committed = files(join(root, "src", "gen"));
  const stale = [...new Set([...fresh.keys(), ...committed.keys()])].filter(
    (k) => fresh.get(k) !== committed.get(k),
  );
  if (stale.length) {
    console.error(`sdk_js/src/gen is stale (${stale.join(", ")}); run \`npm run gen\` in sdk_js`);
    process.exit(1);
  }
  console.log("sdk_js/src/gen is up to date");
} finally {
  rmSync(tmp, { recursive: true, force: true });
}
