#!/usr/bin/env node
// Completes package-lock.json with the other platforms' optional native packages (rollup, biome, …).
//
// Why: the npm registry reachable from our build machines serves only the packages for this platform,
// so `npm install` leaves those entries out, and npm 11's `npm ci` then refuses the lockfile as out of
// sync ("Missing: @rollup/rollup-android-arm64@ from lock file"). The entries added here carry the
// os/cpu/libc that the package name encodes, so npm skips them on every other platform and never
// fetches them. Run after any `npm install` that changes the lockfile:  node scripts/lockfile-add-foreign-optionals.mjs
import { readFileSync, writeFileSync } from 'node:fs';

const OS = [
  'android',
  'darwin',
  'freebsd',
  'linux',
  'netbsd',
  'openbsd',
  'openharmony',
  'sunos',
  'win32',
  'aix',
];
const CPU = ['arm64', 'x64', 'arm', 'ia32', 'riscv64', 's390x', 'ppc64', 'loong64', 'mips64el'];

const path = new URL('../package-lock.json', import.meta.url);
const lock = JSON.parse(readFileSync(path, 'utf8'));
let added = 0;
for (const [location, entry] of Object.entries(lock.packages)) {
  for (const [name, version] of Object.entries(entry.optionalDependencies ?? {})) {
    const key = `node_modules/${name}`;
    if (lock.packages[key] || lock.packages[`${location}/${key}`]) continue;
    const tokens = name.split('/').pop().split('-');
    const os = tokens.find((t) => OS.includes(t)) ?? (tokens.includes('win32') ? 'win32' : undefined);
    const cpu = tokens.find((t) => CPU.includes(t) || t === 'armv7' || t === 'x86_64' || t === 'aarch64');
    if (!os || !cpu) {
      console.error(`skipped ${name}: cannot tell its platform from the name`);
      continue;
    }
    const stub = { version, cpu: [cpu === 'armv7' ? 'arm' : cpu], os: [os], optional: true };
    if (entry.dev) stub.dev = true;
    if (tokens.includes('musl')) stub.libc = ['musl'];
    else if (os === 'linux') stub.libc = ['glibc'];
    lock.packages[key] = stub;
    added++;
  }
}
lock.packages = Object.fromEntries(
  Object.entries(lock.packages).sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b))),
);
writeFileSync(path, `${JSON.stringify(lock, null, 2)}\n`);
console.log(`package-lock.json: added ${added} foreign-platform optional entries`);
