/**
 * `npm run bench [-- NAME…]`: benchmarks, printed as one JSON document on stdout (figures carry
 * their unit in the key: _ms, _per_s, _kb). Progress goes to stderr. Not tests: nothing here fails
 * on a figure.
 */
import { benchDtls } from './dtls-bench.js';
import { benchKeys } from './keys-bench.js';

const benches: Record<string, () => Promise<unknown>> = {
  keys: benchKeys,
  dtls: benchDtls,
  est: async () => (await import('./est-bench.js')).benchEst(),
  bootstrap: async () => (await import('./bootstrap-bench.js')).benchBootstrap(),
  trust: async () => (await import('./trust-bench.js')).benchTrust(),
  proxy: async () => (await import('./proxy-bench.js')).benchProxy(),
  drain: async () => (await import('./proxy/outbox-drain.js')).benchDrain(),
  startup: async () => (await import('./startup-bench.js')).benchStartup(),
  storm: async () => (await import('./storm-bench.js')).benchStorm(),
  summary: async () => (await import('./summary-bench.js')).benchSummary(),
};
/** Run only when named: `summary` measures again what the others do (issue 18's headline figures). */
const onlyWhenNamed = ['summary'];

const wanted = process.argv.slice(2);
const unknown = wanted.filter((name) => !(name in benches));
if (unknown.length > 0) {
  process.stderr.write(
    `unknown benchmark(s): ${unknown.join(', ')}; known: ${Object.keys(benches).join(', ')}\n`,
  );
  process.exit(2);
}
const results: Record<string, unknown> = {
  machine: {
    node: process.version,
    cpus: (await import('node:os')).cpus().length,
    at: new Date().toISOString(),
  },
};
for (const name of wanted.length > 0
  ? wanted
  : Object.keys(benches).filter((n) => !onlyWhenNamed.includes(n))) {
  process.stderr.write(`bench ${name}…\n`);
  results[name] = await (benches[name] as () => Promise<unknown>)();
}
// `bench -- summary` alone prints the summary object as the whole stdout, without the wrapper.
if (wanted.length === 1 && wanted[0] === 'summary')
  process.stdout.write(`${JSON.stringify(results.summary)}\n`);
else process.stdout.write(`${JSON.stringify(results, null, 2)}\n`);
