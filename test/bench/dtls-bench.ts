/**
 * `npm run bench -- dtls`: libcoap 4.3.1's coap-server-openssl, our bare DTLS endpoint (JS record
 * layer + node-coap) and the real daemon, side by side in one run under the same independent load
 * generator (test/bench/load/dtls-coap-load.c: C on the system's OpenSSL), the same kind of
 * certificates (ECDSA P-256, mutual auth) and the same cipher (ECDHE-ECDSA-AES128-GCM-SHA256).
 * Each server runs in its own process, pinned to core 0 (the load generator to core 1) when there
 * are two cores; figures are per server-CPU-second (utime+stime from /proc over the measured
 * window) with the wall rate beside them. RSS per idle session is read from /proc.
 * BENCH_DTLS_SESSIONS (idle session counts, default 1000,10000), BENCH_DTLS_SECONDS (window, 5),
 * BENCH_DTLS_ADDRESSES (source addresses of the handshake runs, 16), BENCH_DTLS_SERVERS (a comma
 * list of libcoap,bare,gateway), BENCH_DTLS_MIN_CPU (server CPU seconds a saturated window gathers,
 * 1), BENCH_DTLS_NODE_FLAGS (for our servers: --cpu-prof …), BENCH_DTLS_ONLY=budget (only the
 * handshake-budget section), BENCH_DTLS_ONLY=servers (only the side-by-side servers), =idle (only
 * their RSS per idle session). BENCH_DTLS_WORKERS=1,2 adds the daemon with that many sensor worker
 * threads (dtls/workers-bench.ts; BENCH_DTLS_ONLY=workers: that section alone).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DtlsClient, type DtlsClientOptions } from '../../src/tls/index.js';
import { type DtlsPki, makeDtlsPki } from '../helpers/dtls-pki.js';
import { coapGet } from './dtls/coap-get.js';
import { benchHandshakeBudget } from './dtls/handshake-budget-bench.js';
import {
  coapGets,
  halfLoadRate,
  handshakes,
  idleSessionBytes,
  latencyAt,
  telemetryPosts,
} from './dtls/per-cpu-second.js';
import { benchRecordSealOpen } from './dtls/record-seal-open.js';
import { startReferenceServer } from './dtls/reference-server.js';
import {
  type ServerUnderTest,
  startBareEndpoint,
  startGateway,
  startLibcoap,
} from './dtls/servers-under-test.js';
import { benchWorkers } from './dtls/workers-bench.js';
import { pinning } from './load/index.js';
import { round } from './measure.js';

const CIPHER = 'ECDHE-ECDSA-AES128-GCM-SHA256';
const here = dirname(fileURLToPath(import.meta.url));

/** Our bare endpoint for the DtlsClient-driven sections (busy session, handshake budget). */
interface OurServer {
  name: string;
  process: ChildProcess;
  port: number;
}

async function startOurs(
  pkiDir: string,
  key: 'software' | 'atecc' = 'software',
  recordLayer: 'js' | 'openssl' = 'js',
  limits: { budget: 'lifted' | 'defaults'; signaturesPerSecond?: number } = { budget: 'lifted' },
): Promise<OurServer> {
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

/**
 * How long one established session waits while the server signs new handshakes: a busy session does
 * back-to-back round trips while `handshakes` newcomers connect one after another. With the key in the
 * ATECC608A simulator, each ServerKeyExchange blocks the loop for one ~55 ms signature, no more.
 */
async function sessionStallDuringHandshakes(
  server: OurServer,
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
  const sessionCounts = (process.env.BENCH_DTLS_SESSIONS ?? '1000,10000').split(',').map(Number);
  const results: Record<string, unknown> = {
    cipher: CIPHER,
    load_generator: 'test/bench/load/dtls-coap-load.c (C, system OpenSSL), one UDP socket per session, epoll',
    pinning: pinning ? 'server on core 0, load generator on core 1 (taskset)' : 'none (one core)',
  };
  try {
    const only = process.env.BENCH_DTLS_ONLY;
    if (process.env.BENCH_DTLS_WORKERS)
      results['edge-gatewayd sensor workers'] = await benchWorkers(
        process.env.BENCH_DTLS_WORKERS.split(',').map(Number),
      );
    if (only === 'workers') return results;
    if (only !== 'budget') await benchSideBySide(pki, sessionCounts, results);
    if (only === undefined || only === '') results.record_seal_open = benchRecordSealOpen();
    if (only === undefined || only === '') await benchStall(dir, client, results);
    if (only !== 'servers' && only !== 'idle') {
      process.stderr.write('  dtls: handshake budget\n');
      results['edge-gatewayd handshake budget'] = await benchHandshakeBudget(
        client,
        (budget, signaturesPerSecond, key = 'software') =>
          startOurs(dir, key, 'js', { budget, ...(signaturesPerSecond ? { signaturesPerSecond } : {}) }),
      );
    }
  } finally {
    pki.remove();
  }
  return results;
}

/** Node flags for our servers, e.g. BENCH_DTLS_NODE_FLAGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const nodeFlags = (process.env.BENCH_DTLS_NODE_FLAGS ?? '').split(' ').filter(Boolean);

/** `inspectGc`: with the inspector on, for a full GC before RSS readings (the idle runs). */
const SERVERS: Record<string, (pki: DtlsPki, inspectGc?: boolean) => Promise<ServerUnderTest>> = {
  libcoap: startLibcoap,
  bare: (pki, inspectGc) => startBareEndpoint(pki, nodeFlags, inspectGc),
  gateway: (_pki, inspectGc) => startGateway(nodeFlags, inspectGc),
};

/**
 * libcoap frees a session idle for 300 s (COAP_DEFAULT_SESSION_TIMEOUT) and, looping over all its
 * sessions, opens them ever slower: 10,000 take longer than that on a shared 2-core machine, so its
 * first sessions are gone before the last ones open. BENCH_DTLS_LIBCOAP_SESSIONS raises the cap.
 */
const LIBCOAP_MAX_IDLE = Number(process.env.BENCH_DTLS_LIBCOAP_SESSIONS ?? 2000);
const LIBCOAP_SKIPPED_WHY = `more than BENCH_DTLS_LIBCOAP_SESSIONS=${LIBCOAP_MAX_IDLE}: libcoap ends sessions idle for 300 s before 10k are open`;

/** The load runs of one server: CoAP GET, telemetry, latency at half load, handshakes. */
async function loadFigures(server: ServerUnderTest, figures: Record<string, unknown>): Promise<void> {
  const get8 = await coapGets(server, 8);
  figures.coap_get_8_sessions = get8;
  figures.coap_get_64_sessions = await coapGets(server, 64);
  if (server.telemetry) figures.telemetry_post_64_sessions = await telemetryPosts(server, 64);
  figures.latency_at_half_load = await latencyAt(server, halfLoadRate(get8));
  figures.full_handshakes = await handshakes(server, 'handshake');
  figures.resumed_handshakes = await handshakes(server, 'resume');
}

/**
 * The daemon's handshakes again with a dedicated software server key (server_key = "file", the
 * issue's figure) beside the identity key signing through the key-store hook (the default).
 */
async function dedicatedKeyHandshakes(figures: Record<string, unknown>): Promise<void> {
  const server = await startGateway(nodeFlags, false, 'file');
  const dedicated: Record<string, unknown> = {};
  // The floor beside it, same key, certificates and client, each mode right after the daemon's: on
  // the system's OpenSSL and on node's own (the daemon's library; their handshake costs differ).
  const reference: Record<string, unknown> = {};
  const referenceNode: Record<string, unknown> = {};
  try {
    const start = (openssl: 'system' | 'node', into: Record<string, unknown>) =>
      startReferenceServer(server, openssl).catch((error: unknown) => {
        into.error = error instanceof Error ? error.message : String(error);
        return undefined;
      });
    const floor = await start('system', reference);
    const floorNode = await start('node', referenceNode);
    try {
      process.stderr.write(`  dtls: ${server.name}${floor ? ` and ${floor.name}` : ''}\n`);
      dedicated.full_handshakes = await handshakes(server, 'handshake');
      if (floor) reference.full_handshakes = await handshakes(floor, 'handshake');
      if (floorNode) referenceNode.full_handshakes = await handshakes(floorNode, 'handshake');
      dedicated.resumed_handshakes = await handshakes(server, 'resume');
      if (floor) reference.resumed_handshakes = await handshakes(floor, 'resume');
      if (floorNode) referenceNode.resumed_handshakes = await handshakes(floorNode, 'resume');
    } finally {
      await floor?.stop();
      await floorNode?.stop();
    }
  } catch (error) {
    dedicated.error = error instanceof Error ? error.message : String(error);
  } finally {
    await server.stop();
  }
  figures.dedicated_server_key = dedicated;
  figures.reference_c_server = reference;
  figures.reference_c_server_node_openssl = referenceNode;
}

/** Every figure for each server, then one table of the per-CPU-second ones. */
async function benchSideBySide(
  pki: DtlsPki,
  sessionCounts: number[],
  results: Record<string, unknown>,
): Promise<void> {
  const wanted = (process.env.BENCH_DTLS_SERVERS ?? 'libcoap,gateway,bare').split(',');
  const table: Record<string, Record<string, unknown>> = {};
  const row = (name: string, server: string, value: unknown) => {
    table[name] = { ...(table[name] ?? {}), [server]: value };
  };
  for (const key of wanted) {
    const start = SERVERS[key];
    if (!start) throw new Error(`BENCH_DTLS_SERVERS: unknown server ${key}; known: ${Object.keys(SERVERS)}`);
    const figures: Record<string, unknown> = {};
    let name = key;
    if (process.env.BENCH_DTLS_ONLY !== 'idle') {
      const server = await start(pki);
      name = server.name;
      try {
        process.stderr.write(`  dtls: ${server.name}\n`);
        await loadFigures(server, figures);
      } catch (error) {
        figures.error = error instanceof Error ? error.message : String(error);
      } finally {
        await server.stop();
      }
      if (key === 'gateway') await dedicatedKeyHandshakes(figures);
    }
    // Each idle count in a fresh process, RSS read after a full GC (Node servers): after the load
    // above a Node heap is grown and shrinks under the measurement (-48.9 KB per session once).
    const idle: Record<string, unknown> = {};
    for (const count of sessionCounts) {
      if (key === 'libcoap' && count > LIBCOAP_MAX_IDLE) {
        idle[`sessions_${count}`] = { skipped: LIBCOAP_SKIPPED_WHY };
        continue;
      }
      const fresh = await start(pki, true);
      name = fresh.name;
      try {
        idle[`sessions_${count}`] = await idleSessionBytes(fresh, count);
      } catch (error) {
        idle[`sessions_${count}`] = { error: error instanceof Error ? error.message : String(error) };
      } finally {
        await fresh.stop();
      }
    }
    figures.idle_sessions = idle;
    results[name] = figures;
    process.stderr.write(`  dtls: ${name}: ${JSON.stringify(figures)}\n`);
    const get = (figure: string) => (figures[figure] as Record<string, unknown> | undefined) ?? {};
    row('coap_get_8_sessions_per_server_cpu_s', key, get('coap_get_8_sessions').requests_per_server_cpu_s);
    row('coap_get_64_sessions_per_server_cpu_s', key, get('coap_get_64_sessions').requests_per_server_cpu_s);
    if (figures.telemetry_post_64_sessions)
      row(
        'telemetry_post_64_sessions_per_server_cpu_s',
        key,
        get('telemetry_post_64_sessions').messages_per_server_cpu_s,
      );
    row('p99_ms_at_half_load', key, get('latency_at_half_load').p99_ms);
    row('full_handshakes_per_server_cpu_s', key, get('full_handshakes').handshakes_per_server_cpu_s);
    row('resumed_handshakes_per_server_cpu_s', key, {
      per_server_cpu_s: get('resumed_handshakes').handshakes_per_server_cpu_s,
      actually_resumed: get('resumed_handshakes').resumed,
      of: get('resumed_handshakes').handshakes,
    });
    if (figures.dedicated_server_key) {
      const dedicated = get('dedicated_server_key') as Record<string, Record<string, unknown>>;
      row(
        'full_handshakes_per_server_cpu_s',
        `${key}_dedicated_key`,
        dedicated.full_handshakes?.handshakes_per_server_cpu_s,
      );
      row('resumed_handshakes_per_server_cpu_s', `${key}_dedicated_key`, {
        per_server_cpu_s: dedicated.resumed_handshakes?.handshakes_per_server_cpu_s,
        actually_resumed: dedicated.resumed_handshakes?.resumed,
        of: dedicated.resumed_handshakes?.handshakes,
      });
      for (const [figure, column] of [
        ['reference_c_server', 'reference_c_openssl'],
        ['reference_c_server_node_openssl', 'reference_c_node_openssl'],
      ] as const) {
        const reference = get(figure) as Record<string, Record<string, unknown>>;
        row(
          'full_handshakes_per_server_cpu_s',
          column,
          reference.full_handshakes?.handshakes_per_server_cpu_s,
        );
        row('resumed_handshakes_per_server_cpu_s', column, {
          per_server_cpu_s: reference.resumed_handshakes?.handshakes_per_server_cpu_s,
          actually_resumed: reference.resumed_handshakes?.resumed,
          of: reference.resumed_handshakes?.handshakes,
        });
      }
    }
    for (const count of sessionCounts) {
      const idle = (get('idle_sessions')[`sessions_${count}`] ?? {}) as Record<string, unknown>;
      row(`rss_kb_per_idle_session_${count}`, key, idle.rss_per_session_kb);
    }
  }
  results.table_per_server_cpu_second = table;
}

async function benchStall(dir: string, client: DtlsClientOptions, results: Record<string, unknown>) {
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
