/**
 * `npm run -s bench -- summary`: issue 18's headline figures, all measured in this run (it takes
 * minutes), printed as one JSON object (run.ts prints it alone, not wrapped with the machine):
 * CoAP GET per server-CPU-second (8 sessions, the daemon's GET /time beside libcoap's GET /), the
 * daemon's full and resumed handshakes per CPU-second with a dedicated software server key (server_key
 * = "file", the issue's figure; the identity key through the key-store hook beside it in
 * handshakesIdentityKeyPerCpuSecond, their floor on node's OpenSSL in handshakeFloorPerCpuSecond), RSS per idle session (the larger of 1,000 and
 * 10,000 sessions: BENCH_DTLS_SESSIONS), telemetry through the whole proxy per daemon-CPU-second and
 * the reconnect storm's seconds. The last two come from the proxy and storm benches; a figure whose
 * bench is missing or fails is null and named on stderr, never made up. Details go to stderr.
 */
import { makeDtlsPki } from '../helpers/dtls-pki.js';
import { coapGets, handshakes, idleSessionBytes } from './dtls/per-cpu-second.js';
import { startReferenceServer } from './dtls/reference-server.js';
import { type ServerUnderTest, startGateway, startLibcoap } from './dtls/servers-under-test.js';
import { round } from './measure.js';

export interface Summary {
  coapGetPerCpuSecond: { gateway: number | null; libcoap: number | null };
  telemetryPerCpuSecond: number | null;
  handshakesPerCpuSecond: number | null;
  resumedPerCpuSecond: number | null;
  /** The same two with the identity key signing (the default server_key), for comparison. */
  handshakesIdentityKeyPerCpuSecond: { full: number | null; resumed: number | null };
  /**
   * The floor of the two handshake figures, measured right after them: the C reference server
   * (OpenSSL's DTLS and nothing else) on node's own OpenSSL with the same key, certificates and
   * client. Per-CPU figures here move by up to 2× between quiet runs of the same build; the ratio to
   * this floor moves much less.
   */
  handshakeFloorPerCpuSecond: { full: number | null; resumed: number | null };
  idleSessionBytes: number | null;
  stormSeconds: number | null;
}

const missing: string[] = [];

function note(what: string, detail: unknown): void {
  process.stderr.write(`  summary: ${what}: ${JSON.stringify(detail)}\n`);
}

/** A figure from a bench, or null (named on stderr) when it is missing, fails or is not a number. */
async function figure(name: string, measure: () => Promise<unknown>, keys: string[]): Promise<number | null> {
  try {
    const value = await measure();
    note(name, value);
    const found =
      typeof value === 'number'
        ? value
        : keys
            .map((key) => (value as Record<string, unknown> | null)?.[key])
            .find((v) => typeof v === 'number');
    if (typeof found === 'number' && Number.isFinite(found)) return found;
    missing.push(`${name}: no number in ${keys.join('/')}`);
  } catch (error) {
    missing.push(`${name}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return null;
}

/** Calls an exported bench function through a dynamic import; absent module or export: missing. */
async function fromBench(module: string, exported: string): Promise<unknown> {
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(module)) as Record<string, unknown>;
  } catch (error) {
    throw new Error(`${module} not loadable (${error instanceof Error ? error.message : String(error)})`);
  }
  const run = loaded[exported];
  if (typeof run !== 'function') throw new Error(`${module} does not export ${exported}() yet`);
  return (run as () => Promise<unknown>)();
}

async function withServer<T>(
  start: () => Promise<ServerUnderTest>,
  work: (server: ServerUnderTest) => Promise<T>,
) {
  const server = await start();
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

/** Full and resumed handshakes per server-CPU-second of one server (`what`: its name on stderr). */
async function handshakeFigures(
  gateway: ServerUnderTest,
  what: string,
): Promise<{ full: number | null; resumed: number | null }> {
  const full = await figure(`${what}: full handshakes`, () => handshakes(gateway, 'handshake'), [
    'handshakes_per_server_cpu_s',
  ]);
  // Only handshakes that did resume count: a server that answers with a full one is not resuming.
  const resumed = await figure(`${what}: resumed handshakes`, async () => {
    const result = await handshakes(gateway, 'resume');
    const cpu = Number(result.server_cpu_s);
    return {
      ...result,
      resumed_per_server_cpu_s: cpu > 0 ? round(Number(result.resumed) / cpu, 1) : null,
    };
  }, ['resumed_per_server_cpu_s']);
  return { full, resumed };
}

export async function benchSummary(): Promise<Summary> {
  const pki = makeDtlsPki();
  const sessionCounts = (process.env.BENCH_DTLS_SESSIONS ?? '1000,10000').split(',').map(Number);
  const summary: Summary = {
    coapGetPerCpuSecond: { gateway: null, libcoap: null },
    telemetryPerCpuSecond: null,
    handshakesPerCpuSecond: null,
    resumedPerCpuSecond: null,
    handshakesIdentityKeyPerCpuSecond: { full: null, resumed: null },
    handshakeFloorPerCpuSecond: { full: null, resumed: null },
    idleSessionBytes: null,
    stormSeconds: null,
  };
  try {
    summary.coapGetPerCpuSecond.libcoap = await figure(
      'libcoap GET, 8 sessions',
      () =>
        withServer(
          () => startLibcoap(pki),
          (server) => coapGets(server, 8),
        ),
      ['requests_per_server_cpu_s'],
    );
    await withServer(startGateway, async (gateway) => {
      summary.coapGetPerCpuSecond.gateway = await figure(
        'gateway GET /time, 8 sessions',
        () => coapGets(gateway, 8),
        ['requests_per_server_cpu_s'],
      );
      summary.handshakesIdentityKeyPerCpuSecond = await handshakeFigures(gateway, 'gateway (identity key)');
    });
    await withServer(
      () => startGateway([], false, 'file'),
      async (gateway) => {
        const dedicated = await handshakeFigures(gateway, 'gateway (dedicated key)');
        summary.handshakesPerCpuSecond = dedicated.full;
        summary.resumedPerCpuSecond = dedicated.resumed;
        try {
          summary.handshakeFloorPerCpuSecond = await withServer(
            () => startReferenceServer(gateway, 'node'),
            (reference) => handshakeFigures(reference, "C reference server on node's OpenSSL"),
          );
        } catch (error) {
          missing.push(`handshake floor: ${error instanceof Error ? error.message : String(error)}`);
        }
      },
    );
    // Idle sessions on a fresh daemon each time: a heap grown by the load above would shrink under
    // the measurement.
    const perCount: number[] = [];
    for (const count of sessionCounts) {
      const bytes = await figure(
        `gateway idle sessions (${count})`,
        () =>
          withServer(
            () => startGateway([], true),
            (gateway) => idleSessionBytes(gateway, count),
          ),
        ['server_rss_per_session_bytes'],
      );
      if (bytes !== null) perCount.push(bytes);
    }
    summary.idleSessionBytes = perCount.length > 0 ? Math.max(...perCount) : null;
  } finally {
    pki.remove();
  }
  // Under the C load generator: the JS sensor fleet (proxy-bench's benchTelemetryPerCpuSecond) costs
  // more CPU than the daemon it loads and left the daemon mostly idle on a shared 2-core machine.
  summary.telemetryPerCpuSecond = await figure(
    'telemetry through the proxy',
    () => fromBench('./proxy/telemetry-c-load.js', 'benchTelemetryCLoad'),
    ['perCpuSecond', 'telemetryPerCpuSecond'],
  );
  summary.stormSeconds = await figure('reconnect storm', () => fromBench('./storm-bench.js', 'benchStorm'), [
    'stormSeconds',
    'seconds',
  ]);
  if (missing.length > 0) process.stderr.write(`summary: missing ${JSON.stringify(missing)}\n`);
  return summary;
}
