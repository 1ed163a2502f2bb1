/**
 * The daemon's full (and resumed) handshakes per daemon-CPU-second, identity key (through the
 * key-store hook) and dedicated software key (server_key = "file"), measured in alternating rounds
 * under the C load generator so that both see the same machine load.
 *
 *   node dist/test/bench/dtls/daemon-handshake-cpu.js [rounds]
 *
 * ONLY=full|resumed limits the kinds; KEYS=file (or identity,file) picks the daemons; NODE_FLAGS
 * (e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof") goes to every daemon; BUILDS=/tmp/wt-x (comma list of
 * repository roots with a built dist/) adds those builds' daemons, each key, to the rounds.
 * With KEYS including file, the C reference server (reference-server.ts: OpenSSL alone, the same key,
 * certificates and client) takes its turn in every round as the floor, on the system's OpenSSL and on
 * node's own (the daemon's library); REFERENCE=system or REFERENCE=node keeps one, REFERENCE=0 neither.
 * Round r starts with contender r mod n (rounds.ts); per contender: the totals' rate, the median of the
 * per-round rates and the paired ratio to the first contender (`reference`: geometric mean of
 * per-round ratios).
 */
import { join } from 'node:path';
import { round } from '../measure.js';
import { inRotatingRounds, type RoundRecord, summarizeRounds } from '../rounds.js';
import { DEFAULT_SETTINGS, handshakes } from './per-cpu-second.js';
import { startReferenceServer } from './reference-server.js';
import { type ServerUnderTest, startGateway } from './servers-under-test.js';

const rounds = Number(process.argv[2] ?? 3);
const only = process.env.ONLY;
const keys = (process.env.KEYS ?? 'identity,file').split(',') as ('identity' | 'file')[];
const nodeFlags = (process.env.NODE_FLAGS ?? '').split(' ').filter(Boolean);
const settings = { ...DEFAULT_SETTINGS, seconds: Number(process.env.BENCH_DTLS_SECONDS ?? 3) };

const servers: {
  key: string;
  server: ServerUnderTest;
  totals: Record<string, { done: number; cpu: number }>;
}[] = [];
const builds = (process.env.BUILDS ?? '').split(',').filter(Boolean);
for (const key of keys) {
  servers.push({ key, server: await startGateway(nodeFlags, false, key), totals: {} });
  for (const build of builds) {
    const entry = join(build, 'dist/src/daemon/main.js');
    servers.push({
      key: `${key} ${build}`,
      server: await startGateway(nodeFlags, false, key, entry),
      totals: {},
    });
  }
}
const fileKeyDaemon = servers.find((entry) => entry.key === 'file');
const references = { system: 'reference C server', node: "reference C server, node's OpenSSL" };
for (const [openssl, key] of Object.entries(references) as ['system' | 'node', string][]) {
  const wanted = process.env.REFERENCE ?? 'system,node';
  if (fileKeyDaemon && wanted.split(',').includes(openssl))
    servers.push({ key, server: await startReferenceServer(fileKeyDaemon.server, openssl), totals: {} });
}
// The order rotates from round to round (round r starts with contender r mod n): whoever ran first
// in a round was seen to win on this loaded machine.
let records: RoundRecord<Record<string, number>>[] = [];
try {
  records = await inRotatingRounds(
    servers,
    rounds,
    (entry) => entry.key,
    async (entry) => {
      const figures: Record<string, number> = {};
      for (const mode of ['handshake', 'resume'] as const) {
        if ((only === 'full' && mode === 'resume') || (only === 'resumed' && mode === 'handshake')) continue;
        const result = await handshakes(entry.server, mode, settings);
        const counted = mode === 'resume' ? Number(result.resumed) : Number(result.handshakes);
        const total = entry.totals[mode] ?? { done: 0, cpu: 0 };
        total.done += counted;
        total.cpu += Number(result.server_cpu_s);
        entry.totals[mode] = total;
        figures[mode === 'resume' ? 'resumed_per_cpu_s' : 'full_per_cpu_s'] = round(
          counted / Number(result.server_cpu_s),
          0,
        );
        process.stderr.write(`  ${entry.key} ${mode}: ${JSON.stringify(result)}\n`);
      }
      return figures;
    },
  );
} finally {
  for (const entry of servers) await entry.server.stop();
}
const reference = servers[0]?.key ?? '';
const perRound = summarizeRounds(records, reference, (figures) => figures);
const out: Record<string, unknown> = {
  reference,
  rounds: records.map(({ round, order }) => ({ round, order })),
};
for (const entry of servers) {
  out[entry.key] = Object.fromEntries(
    Object.entries(entry.totals).map(([mode, t]) => {
      const figure = mode === 'resume' ? 'resumed_per_cpu_s' : 'full_per_cpu_s';
      const summary = perRound[entry.key]?.[figure];
      return [
        figure,
        {
          per_cpu_s: round(t.done / t.cpu, 0),
          median_per_cpu_s: summary?.median ?? null,
          paired_ratio: summary?.paired_ratio == null ? null : round(summary.paired_ratio, 3),
          completed: t.done,
          server_cpu_s: round(t.cpu, 2),
        },
      ];
    }),
  );
}
process.stdout.write(`${JSON.stringify(out, null, 1)}\n`);
process.exit(0);
