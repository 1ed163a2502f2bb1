/**
 * `npm run bench -- dtls`: our DTLS endpoint (+ node-coap) and libcoap's coap-server-openssl, side by
 * side in one run, under the same load generator (our DtlsClient), the same certificates (ECDSA
 * P-256, mutual auth) and the same cipher (ECDHE-ECDSA-AES128-GCM-SHA256). Each server runs in its
 * own process; RSS per idle session is read from /proc.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DtlsClient, type DtlsClientOptions } from '../../src/tls/index.js';
import { makeDtlsPki } from '../helpers/dtls-pki.js';
import { coapCode, coapGet } from './dtls/coap-get.js';
import { benchHandshakeBudget } from './dtls/handshake-budget-bench.js';
import { measureLatency, round } from './measure.js';

const CIPHER = 'ECDHE-ECDSA-AES128-GCM-SHA256';
const here = dirname(fileURLToPath(import.meta.url));

interface ServerUnderTest {
  name: string;
  process: ChildProcess;
  port: number;
}

async function startOurs(
  pkiDir: string,
  key: 'software' | 'atecc' = 'software',
  recordLayer: 'js' | 'openssl' = 'js',
  limits: { budget: 'lifted' | 'defaults'; signaturesPerSecond?: number } = { budget: 'lifted' },
): Promise<ServerUnderTest> {
  const args = [join(here, 'dtls/dtls-bench-server.js'), pkiDir, key, recordLayer, limits.budget];
  if (limits.signaturesPerSecond) args.push(String(limits.signaturesPerSecond));
  const child = spawn(process.execPath, args, {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const name = recordLayer === 'js' ? 'edge-gatewayd' : 'edge-gatewayd (OpenSSL record layer)';
  return { name, process: child, port: (JSON.parse(line) as { port: number }).port };
}

async function startLibcoap(pkiDir: string): Promise<ServerUnderTest> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(
    'coap-server-openssl',
    [
      '-A',
      '127.0.0.1',
      '-p',
      String(port),
      '-c',
      join(pkiDir, 'server.pem'),
      '-j',
      join(pkiDir, 'server.key'),
      '-C',
      join(pkiDir, 'ca.pem'),
      '-v',
      '0',
    ],
    { stdio: 'ignore' },
  );
  child.once('error', () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 500));
  if (child.exitCode !== null)
    throw new Error('coap-server-openssl did not start: apt-get install libcoap3-bin');
  return { name: 'libcoap coap-server-openssl', process: child, port: port + 1 }; // libcoap: DTLS on port+1
}

function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
}

/** Runs `work` from `concurrency` loops for `seconds`; returns completions per second and errors. */
async function throughput(seconds: number, concurrency: number, work: () => Promise<void>) {
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  const errors = new Map<string, number>();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < deadline) {
        try {
          await work();
          done++;
        } catch (error) {
          const key = error instanceof Error ? error.message.slice(0, 120) : String(error);
          errors.set(key, (errors.get(key) ?? 0) + 1);
          if (done === 0 && (errors.get(key) ?? 0) > 20) return; // failing outright: stop this loop
        }
      }
    }),
  );
  return { per_s: round(done / seconds, 1), completed: done, errors: Object.fromEntries(errors) };
}

/** Opens `count` sessions, 16 handshakes at a time, and keeps them open (idle). */
async function openSessions(count: number, options: DtlsClientOptions) {
  const open: DtlsClient[] = [];
  let started = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (started < count) {
        started++;
        try {
          open.push(await DtlsClient.connect(options));
        } catch {
          failed++;
        }
      }
    }),
  );
  return { open, failed };
}

async function measureServer(server: ServerUnderTest, client: DtlsClientOptions, sessionCounts: number[]) {
  const options = { ...client, port: server.port };
  const result: Record<string, unknown> = {};
  const probe = await DtlsClient.connect(options);
  result.probe_response = coapCode(await probe.request(coapGet(1)));
  const session = probe.saveSession();
  probe.close();

  result.full_handshakes = await throughput(4, 8, async () => (await DtlsClient.connect(options)).close());
  let resumedCount = 0;
  result.resumed_handshakes = await throughput(3, 8, async () => {
    const resumed = await DtlsClient.connect({ ...options, resume: session });
    if (resumed.resumed) resumedCount++;
    resumed.close();
  });
  (result.resumed_handshakes as Record<string, unknown>).actually_resumed = resumedCount;
  DtlsClient.freeSession(session);

  const connection = await DtlsClient.connect(options);
  let id = 2;
  result.request_round_trips = await measureLatency(() => connection.request(coapGet(id++)), 3000, 100);
  connection.close();

  const pid = server.process.pid ?? 0;
  const idle: Record<string, unknown> = {};
  for (const count of sessionCounts) {
    await new Promise((resolve) => setTimeout(resolve, 300));
    const before = rssKb(pid);
    const { open, failed } = await openSessions(count, options);
    await new Promise((resolve) => setTimeout(resolve, 500));
    const after = rssKb(pid);
    idle[`sessions_${count}`] = {
      sessions: open.length,
      failed_handshakes: failed,
      rss_before_kb: before,
      rss_after_kb: after,
      rss_per_session_kb: round((after - before) / Math.max(1, open.length), 1),
    };
    for (const connectionToClose of open) connectionToClose.close();
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  result.idle_sessions = idle;
  return result;
}

/**
 * How long one established session waits while the server signs new handshakes: a busy session does
 * back-to-back round trips while `handshakes` newcomers connect one after another. With the key in the
 * ATECC608A simulator, each ServerKeyExchange blocks the loop for one ~55 ms signature, no more.
 */
async function sessionStallDuringHandshakes(
  server: ServerUnderTest,
  client: DtlsClientOptions,
  handshakes: number,
) {
  const options = { ...client, port: server.port };
  const busy = await DtlsClient.connect(options);
  const samples: number[] = [];
  let running = true;
  const load = (async () => {
    let id = 1;
    while (running) {
      const started = performance.now();
      await busy.request(coapGet(id++));
      samples.push(performance.now() - started);
    }
  })();
  const started = performance.now();
  for (let i = 0; i < handshakes; i++) (await DtlsClient.connect(options)).close();
  const handshakeMs = (performance.now() - started) / handshakes;
  running = false;
  await load;
  busy.close();
  samples.sort((a, b) => a - b);
  return {
    handshakes,
    mean_handshake_ms: round(handshakeMs),
    busy_session_round_trips: samples.length,
    busy_session_p50_ms: round(samples[Math.floor(samples.length / 2)] ?? 0),
    busy_session_max_ms: round(samples.at(-1) ?? 0),
  };
}

export async function benchDtls(): Promise<Record<string, unknown>> {
  const pki = makeDtlsPki();
  const dir = pki.dir;
  const client: DtlsClientOptions = {
    host: '127.0.0.1',
    port: 0,
    ca: [pki.der('ca')],
    certificateChain: [pki.der('sensor')],
    privateKey: pki.key('sensor'),
    ciphers: CIPHER,
  };
  const sessionCounts = (process.env.BENCH_DTLS_SESSIONS ?? '1000,5000').split(',').map(Number);
  const results: Record<string, unknown> = {
    cipher: CIPHER,
    load_generator: 'DtlsClient (koffi/OpenSSL), one UDP socket per session',
  };
  try {
    if (process.env.BENCH_DTLS_ONLY !== 'budget') await benchAll(dir, client, sessionCounts, results);
    process.stderr.write('  dtls: handshake budget\n');
    results['edge-gatewayd handshake budget'] = await benchHandshakeBudget(
      client,
      (budget, signaturesPerSecond, key = 'software') =>
        startOurs(dir, key, 'js', { budget, ...(signaturesPerSecond ? { signaturesPerSecond } : {}) }),
    );
  } finally {
    pki.remove();
  }
  return results;
}

async function benchAll(
  dir: string,
  client: DtlsClientOptions,
  sessionCounts: number[],
  results: Record<string, unknown>,
): Promise<void> {
  {
    const servers = [
      () => startOurs(dir),
      () => startOurs(dir, 'software', 'openssl'),
      () => startLibcoap(dir),
    ];
    for (const start of servers) {
      const server = await start();
      try {
        process.stderr.write(`  dtls: ${server.name}\n`);
        results[server.name] = await measureServer(server, client, sessionCounts);
      } finally {
        server.process.kill();
      }
    }
    const stall: Record<string, unknown> = {};
    for (const key of ['software', 'atecc'] as const) {
      const server = await startOurs(dir, key);
      try {
        stall[key === 'atecc' ? 'server_key_atecc608_simulator_timed' : 'server_key_software'] =
          await sessionStallDuringHandshakes(server, client, 20);
      } finally {
        server.process.kill();
      }
    }
    results['edge-gatewayd busy session while handshakes are signed'] = stall;
  }
}
