import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MosquittoBroker } from '../../../hw-sim/broker/index.js';
import { SENSOR_CA_FILES, SensorCa } from '../../../hw-sim/sensors/index.js';
import type { DaemonStatus } from '../../../src/control/index.js';
import type { DtlsPki } from '../../helpers/dtls-pki.js';
import { type LoadTarget, pinServer } from '../load/index.js';
import { makeFactoryCa, provisionGateway, RunningGateway } from '../proxy/gateway-under-test.js';
import { collectGarbage, inspectorUrlIn } from './collect-garbage.js';
import { dedicatedServerKey } from './dedicated-server-key.js';

const here = dirname(fileURLToPath(import.meta.url));
/** The inspector on a free loopback port: only for a full GC before RSS is read (collect-garbage.ts). */
const INSPECT = '--inspect=127.0.0.1:0';

/** A DTLS/CoAP server in its own process, as the C load generator sees it. */
export interface ServerUnderTest {
  name: string;
  pid: number | undefined;
  /** Where to send the load and the client's PEM files (serverPid included). */
  target: LoadTarget;
  /** The path a GET is answered at, without work upstream. */
  getPath: string;
  /** Authenticated telemetry (POST, durable before 2.04), for the servers that take it. */
  telemetry?: { path: string; payload: string; contentFormat: number };
  /** A full GC in the server (Node servers started with inspectGc), before RSS is read. */
  collectGarbage?: () => Promise<void>;
  /** The daemon's status (its own counters), for the servers that have one. */
  status?: () => Promise<DaemonStatus>;
  /**
   * The daemon's dedicated server key and certificate and the sensor CA it verifies clients against
   * (server_key = "file"): what the C reference server (reference-server.ts) is given.
   */
  serverFiles?: { certFile: string; keyFile: string; clientCaFile: string };
  stop(): Promise<void>;
}

function pkiTarget(pki: DtlsPki, port: number, pid: number | undefined): LoadTarget {
  return {
    port,
    caFile: pki.file('ca.pem'),
    certFile: pki.file('sensor.pem'),
    keyFile: pki.file('sensor.key'),
    ...(pid ? { serverPid: pid } : {}),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGINT'); // the bench server exits on SIGINT (a --cpu-prof profile gets written)
  const killer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(killer);
}

/** libcoap 4.3.1's coap-server-openssl (its default resources: GET / answers the index). */
export async function startLibcoap(pki: DtlsPki): Promise<ServerUnderTest> {
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const child = spawn(
    'coap-server-openssl',
    [
      '-A',
      '127.0.0.1',
      '-p',
      String(port),
      '-c',
      pki.file('server.pem'),
      '-j',
      pki.file('server.key'),
      '-C',
      pki.file('ca.pem'),
      '-v',
      '0',
    ],
    { stdio: 'ignore' },
  );
  child.once('error', () => undefined);
  await new Promise((resolve) => setTimeout(resolve, 500));
  if (child.exitCode !== null || !child.pid)
    throw new Error('coap-server-openssl did not start: apt-get install libcoap3-bin');
  await pinServer(child.pid);
  return {
    name: 'libcoap coap-server-openssl',
    pid: child.pid,
    target: pkiTarget(pki, port + 1, child.pid), // libcoap: DTLS on port + 1
    getPath: '/',
    stop: () => stopChild(child),
  };
}

/** Our bare DTLS endpoint (JS record layer) with node-coap answering every request (dtls-bench-server.ts). */
export async function startBareEndpoint(
  pki: DtlsPki,
  nodeFlags: string[] = [],
  inspectGc = false,
): Promise<ServerUnderTest> {
  const flags = inspectGc ? [...nodeFlags, INSPECT] : nodeFlags;
  const child = spawn(process.execPath, [...flags, join(here, 'dtls-bench-server.js'), pki.dir], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
    // The inspector's own chatter stays out of the bench's progress.
    const lines = chunk
      .toString()
      .split('\n')
      .filter((l) => l && !/Debugger (listening|attached|ending)|For help, see/.test(l));
    if (lines.length > 0) process.stderr.write(`${lines.join('\n')}\n`);
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`bench server exited with ${code}`)));
  });
  const url = inspectorUrlIn(stderr);
  await pinServer(child.pid);
  const { port } = JSON.parse(line) as { port: number };
  return {
    name: 'bare DTLS endpoint (JS record layer)',
    pid: child.pid,
    target: pkiTarget(pki, port, child.pid),
    getPath: '/',
    ...(url ? { collectGarbage: () => collectGarbage(url) } : {}),
    stop: () => stopChild(child),
  };
}

/**
 * The built daemon as systemd starts it (software identity key, simulated hardware, mosquitto
 * upstream, handshake limits lifted as in the proxy bench); the load is GET /time, which the gateway
 * answers itself. The client is a sensor of the gateway's sensor CA; it trusts the factory root.
 * `serverKey` "file": the endpoint signs with a dedicated software key (server_key = "file") instead
 * of the identity key through the key-store hook; the client then trusts that key's certificate.
 */
export async function startGateway(
  nodeFlags: string[] = [],
  inspectGc = false,
  serverKey: 'identity' | 'file' = 'identity',
  /** Another build's dist/src/daemon/main.js (to compare builds in one run). */
  entry?: string,
  /** More [downstream.dtls] lines, e.g. `workers = 2` (dtls/workers-bench.ts). */
  dtlsExtra = '',
): Promise<ServerUnderTest> {
  const work = mkdtempSync(join(tmpdir(), 'egw-dtls-bench-'));
  let broker: MosquittoBroker | undefined;
  let gateway: RunningGateway | undefined;
  try {
    const factory = makeFactoryCa(work);
    broker = await MosquittoBroker.start({ caFiles: [factory.rootFile], dir: join(work, 'broker') });
    // 10,000 idle sessions (above the default max_sessions, 5000) that take minutes to open on a
    // busy machine (longer than the default idle_timeout_ms, 300 s).
    const dedicated = serverKey === 'file' ? dedicatedServerKey(work) : undefined;
    const setup = await provisionGateway(
      work,
      factory,
      broker,
      `max_sessions = 20000\nidle_timeout_ms = 3600000\n${dedicated?.dtlsLines ?? ''}${dtlsExtra}`,
    );
    gateway = await RunningGateway.start(setup, inspectGc ? [...nodeFlags, INSPECT] : nodeFlags, true, entry);
    const url = inspectorUrlIn(gateway.service.stderr);
    await pinServer(gateway.pid);
    const sensor = SensorCa.open(setup.sensorCaDir).issue({ commonName: 'dtls-bench-sensor' });
    const pem = (label: string, der: Uint8Array) =>
      `-----BEGIN ${label}-----\n${Buffer.from(der)
        .toString('base64')
        .replace(/.{64}/g, '$&\n')
        .replace(/\n?$/, '\n')}-----END ${label}-----\n`;
    const certFile = join(work, 'sensor.pem');
    const keyFile = join(work, 'sensor.key');
    writeFileSync(certFile, sensor.certificateChain.map((der) => pem('CERTIFICATE', der)).join(''));
    writeFileSync(keyFile, pem('PRIVATE KEY', sensor.privateKeyPkcs8), { mode: 0o600 });
    const running = gateway;
    const upstream = broker;
    return {
      name: dedicated ? 'gateway daemon (dedicated server key)' : 'gateway daemon',
      pid: running.pid,
      target: {
        port: running.port,
        caFile: dedicated?.caFile ?? setup.factoryRootFile,
        certFile,
        keyFile,
        ...(running.pid ? { serverPid: running.pid } : {}),
      },
      getPath: '/time',
      telemetry: {
        path: '/telemetry',
        // "{seq}": the load generator counts there, so no message looks like a retransmission.
        payload:
          '{"sensor":"dtls-bench-sensor","seq":{seq},"ts":1765000000000,"temperature":21.5,"humidity":45.2}',
        contentFormat: 50,
      },
      status: () => running.status(),
      ...(dedicated
        ? {
            serverFiles: {
              certFile: dedicated.caFile,
              keyFile: dedicated.keyFile,
              clientCaFile: join(setup.sensorCaDir, SENSOR_CA_FILES.certificate),
            },
          }
        : {}),
      ...(url ? { collectGarbage: () => collectGarbage(url) } : {}),
      stop: async () => {
        try {
          await running.stop();
          await upstream.stop();
        } finally {
          rmSync(work, { recursive: true, force: true });
        }
      },
    };
  } catch (error) {
    await gateway?.stop().catch(() => undefined);
    await broker?.stop().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
    throw error;
  }
}
