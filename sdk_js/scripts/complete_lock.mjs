// Adds lockfile entries for platform-specific optional packages (rollup's native
// binaries) that a registry mirror without them left out, so `npm ci` accepts
// the lockfile on every platform. Each entry carries the os/cpu/libc its name
// encodes, so npm installs only the one matching the machine (from the public
// registry). Run after `npm install` changes package-lock.json:
//   node scripts/complete_lock.mjs
import { readFileSync, writeFileSync } from "node:fs";

const path = new URL("../package-lock.json", import.meta.url);
const lock = JSON.parse(readFileSync(path, "utf8"));
const OS = { android: "android", darwin: "darwin", freebsd: "freebsd", linux: "linux", openbsd: "openbsd", openharmony: "openharmony", win32: "win32" };
const CPU = { arm: "arm", "arm-eabi": "arm", arm64: "arm64", x64: "x64", ia32: "ia32", loong64: "loong64", ppc64: "ppc64", riscv64: "riscv64", s390x: "s390x" };
let added = 0;
for (const [key, pkg] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(pkg.optionalDependencies ?? {})) {
    const at = `node_modules/${name}`;
    if (lock.packages[at] || !name.startsWith("@rollup/rollup-")) continue;
    const parts = name.slice("@rollup/rollup-".length).split("-");
    const os = OS[parts[0]];
    let rest = parts.slice(1);
    let libc;
    if (["gnu", "musl", "gnueabihf", "musleabihf", "msvc"].includes(rest.at(-1))) {
      const abi = rest.pop();
      if (os === "linux") libc = abi.startsWith("gnu") ? "glibc" : "musl";
    }
    const cpu = CPU[rest.join("-")];
    if (!os || !cpu) throw new Error(`cannot read platform from ${name} (needed by ${key})`);
    const entry = { version, cpu: [cpu], dev: pkg.dev, license: "MIT", optional: true, os: [os] };
    if (libc) entry.libc = [libc];
    if (!pkg.dev) delete entry.dev;
    lock.packages[at] = entry;
    added++;
  }
}
lock.packages = Object.fromEntries(Object.entries(lock.packages).sort(([a], [b]) => (a === "" ? -1 : b === "" ? 1 : a < b ? -1 : 1)));
writeFileSync(path, JSON.stringify(lock, null, 2) + "\n");
console.log(`added ${added} lockfile entries`);
