/**
 * Handshakes per server-CPU-second and RSS per idle session of the bare DTLS endpoint
 * (dtls-bench-server.ts: software key, budget lifted), driven by DtlsClient from this process.
 * Figures are per CPU second of the server process (/proc/PID/stat utime+stime), not per wall second:
 * the machine is shared. Several server scripts (e.g. this build and a worktree of the previous
 * commit) are measured in alternating rounds, so that all of them see the same machine load.
 *
 *   node dist/test/bench/dtls/handshake-cpu.js [rounds] [idle session counts, e.g. 1000,10000] [server.js,...]
 *
 * Round r starts with server r mod n (rounds.ts); paired_ratio is to the first server (geometric mean of
 * per-round ratios). ONLY=full|resumed limits the handshake kinds; PROFILE_DIR=dir adds --cpu-prof to the (first) server.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Pointer } from '../../../src/native/openssl/libssl.js';
import { DtlsClient, type DtlsClientOptions } from '../../../src/tls/index.js';
import { makeDtlsPki } from '../../helpers/dtls-pki.js';
import { round } from '../measure.js';
import { cpuSeconds } from '../proxy/proc-stats.js';
import { inRotatingRounds, summarizeRounds } from '../rounds.js';

const here = dirname(fileURLToPath(import.meta.url));
const rounds = Number(process.argv[2] ?? 6);
const idleCounts = (process.argv[3] ?? '').split(',').filter(Boolean).map(Number);
const scripts = (process.argv[4] ?? join(here, 'dtls-bench-server.js')).split(',');
const only = process.env.ROUND_ONLY ?? process.env.ONLY;
const ROUND_SECONDS = 2;

const pki = makeDtlsPki();

interface Server {
  script: string;
  child: ChildProcess;
  options: DtlsClientOptions;
  saved: Pointer;
  full: { done: number; cpu: number };
  resumed: { done: number; cpu: number; resumed: number };
}

async function startServer(script: string, profile: boolean): Promise<Server> {
  const prof =
    profile && process.env.PROFILE_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.PROFILE_DIR] : [];
  const child = spawn(process.execPath, [...prof, script, pki.dir, 'software', 'js'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const options: DtlsClientOptions = {
    host: '127.0.0.1',
    port: (JSON.parse(line) as { port: number }).port,
    ca: [pki.der('ca')],
    certificateChain: [pki.der('sensor')],
    privateKey: pki.key('sensor'),
    ciphers: process.env.CLIENT_CIPHERS ?? 'ECDHE-ECDSA-AES128-GCM-SHA256',
  };
  const probe = await DtlsClient.connect(options);
  const saved = probe.saveSession();
  probe.close();
  return {
    script,
    child,
    options,
    saved,
    full: { done: 0, cpu: 0 },
    resumed: { done: 0, cpu: 0, resumed: 0 },
  };
}

const cpu = (server: Server) => {
  const { user, kernel } = cpuSeconds(server.child.pid);
  return user + kernel;
};

/** Runs `work` from 8 loops for one round; returns completions and the server's CPU seconds. */
async function roundOf(server: Server, work: () => Promise<unknown>): Promise<{ done: number; cpu: number }> {
  const deadline = performance.now() + ROUND_SECONDS * 1000;
  let done = 0;
  const before = cpu(server);
  await Promise.all(
    Array.from({ length: 8 }, async () => {
      while (performance.now() < deadline) {
        try {
          await work();
          done++;
        } catch {}
      }
    }),
  );
  return { done, cpu: cpu(server) - before };
}

const servers: Server[] = [];
for (const [index, script] of scripts.entries()) servers.push(await startServer(script, index === 0));
for (const server of servers) {
  await roundOf(server, async () => (await DtlsClient.connect(server.options)).close()); // warm-up
}
// Round r starts with server r mod n: whoever ran first in a round was seen to win.
const records = await inRotatingRounds(
  servers,
  rounds,
  (server) => server.script,
  async (server) => {
    const figures: Record<string, number> = {};
    if (only !== 'resumed') {
      const full = await roundOf(server, async () => (await DtlsClient.connect(server.options)).close());
      server.full.done += full.done;
      server.full.cpu += full.cpu;
      figures.full_per_cpu_s = round(full.done / full.cpu, 0);
    }
    if (only !== 'full') {
      const resumed = await roundOf(server, async () => {
        const client = await DtlsClient.connect({ ...server.options, resume: server.saved });
        if (client.resumed) server.resumed.resumed++;
        client.close();
      });
      server.resumed.done += resumed.done;
      server.resumed.cpu += resumed.cpu;
      figures.resumed_per_cpu_s = round(resumed.done / resumed.cpu, 0);
    }
    return figures;
  },
);
const perRound = summarizeRounds(records, servers[0]?.script ?? '', (figures) => figures);

const rssKb = (server: Server) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${server.child.pid}/status`, 'utf8'))?.[1]);

const result: Record<string, unknown> = { rounds: records.map(({ round, order }) => ({ round, order })) };
for (const server of servers) {
  const entry: Record<string, unknown> = {};
  if (server.full.done > 0) {
    entry.full = {
      completed: server.full.done,
      server_cpu_s: round(server.full.cpu, 2),
      per_cpu_s: round(server.full.done / server.full.cpu, 0),
      median_per_cpu_s: perRound[server.script]?.full_per_cpu_s?.median ?? null,
      paired_ratio: perRound[server.script]?.full_per_cpu_s?.paired_ratio ?? null,
    };
  }
  if (server.resumed.done > 0) {
    entry.resumed = {
      completed: server.resumed.done,
      actually_resumed: server.resumed.resumed,
      server_cpu_s: round(server.resumed.cpu, 2),
      per_cpu_s: round(server.resumed.done / server.resumed.cpu, 0),
      median_per_cpu_s: perRound[server.script]?.resumed_per_cpu_s?.median ?? null,
      paired_ratio: perRound[server.script]?.resumed_per_cpu_s?.paired_ratio ?? null,
    };
  }
  for (const count of idleCounts) {
    await new Promise((resolve) => setTimeout(resolve, 500));
    const before = rssKb(server);
    const open: DtlsClient[] = [];
    let started = 0;
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (started < count) {
          started++;
          try {
            open.push(await DtlsClient.connect(server.options));
          } catch {}
        }
      }),
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
    entry[`idle_${count}`] = {
      sessions: open.length,
      rss_per_session_kb: round((rssKb(server) - before) / Math.max(1, open.length), 1),
    };
    for (const client of open) client.close();
  }
  result[server.script] = entry;
}
for (const server of servers) {
  server.child.kill('SIGINT');
  await new Promise((resolve) => server.child.once('exit', resolve));
}
pki.remove();
process.stdout.write(`${JSON.stringify(result, null, 1)}\n`);
process.exit(0);
