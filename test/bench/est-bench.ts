/**
 * `npm run bench -- est`: how fast the hw-sim EST server issues certificates, against the seeds'
 * targets (< 100 ms per certificate, < 200 ms p95 per API call, 10,000 certificates a minute).
 * The server runs as its own process (dist/hw-sim/est-server/main.js), as in the demo, so the load
 * generator here does not share its event loop; the CA's issue() is also timed in-process without
 * HTTP. Clients use node:https with a keep-alive Agent and a factory client certificate, as a gateway
 * fleet would, and once more with a full TLS handshake per call (a fleet of distinct devices). Figures
 * only: nothing fails on them.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createSecureContext } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { EstCa } from '../../hw-sim/est-server/index.js';
import * as x509 from '../../src/pki/x509.js';
import { measureLatency, round } from './measure.js';

const CSR_COUNT = 200;
const LATENCY_CALLS = 500;
const THROUGHPUT_MS = 5000;
const DEVICE_TYPE_OID = '1.3.6.1.4.1.12345.1.1';
const mainJs = fileURLToPath(new URL('../../hw-sim/est-server/main.js', import.meta.url));

interface Device {
  csrDer: Uint8Array;
  /** The request body as EST clients send it: base64, 64-column lines, trailing newline. */
  body: Buffer;
}

/** A software P-256 key and its CSR with the device profile (CN, serialNumber, SAN, EKU, device type). */
async function makeDevice(serial: string): Promise<Device & { privateKey: webcrypto.CryptoKey }> {
  const keys = (await webcrypto.subtle.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, true, [
    'sign',
    'verify',
  ])) as webcrypto.CryptoKeyPair;
  const deviceType = new TextEncoder().encode('edge-gateway');
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: [{ '2.5.4.3': [`device-${serial}`] }, { '2.5.4.5': [serial] }],
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions: [
        new x509.SubjectAlternativeNameExtension([{ type: 'dns', value: `device-${serial}` }], false),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false),
        new x509.Extension(DEVICE_TYPE_OID, false, new Uint8Array([0x0c, deviceType.length, ...deviceType])),
      ],
    },
    webcrypto,
  );
  const csrDer = new Uint8Array(csr.rawData);
  const lines =
    Buffer.from(csrDer)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return { csrDer, body: Buffer.from(`${lines.join('\n')}\n`), privateKey: keys.privateKey };
}

async function pkcs8Pem(key: webcrypto.CryptoKey): Promise<string> {
  const der = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', key));
  return `-----BEGIN PRIVATE KEY-----\n${der
    .toString('base64')
    .match(/.{1,64}/g)
    ?.join('\n')}\n-----END PRIVATE KEY-----\n`;
}

/** Starts main.js and resolves with its ready line. */
async function startServerProcess(
  stateDir: string,
  factoryCaFile: string,
): Promise<{ child: ChildProcess; url: string; rootPem: string }> {
  const child = spawn(process.execPath, [mainJs, '--state-dir', stateDir, '--factory-ca', factoryCaFile], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const line = await new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
    });
    child.once('exit', (code) =>
      reject(new Error(`EST server exited (${code}) before it was ready: ${stderr}`)),
    );
    child.once('error', reject);
  });
  const ready = JSON.parse(line) as { url: string; rootPemFile: string };
  return { child, url: ready.url, rootPem: readFileSync(ready.rootPemFile, 'utf8') };
}

/** One POST /simpleenroll; resolves with the status (200 expected) once the whole answer is read. */
function simpleenroll(agent: Agent, url: URL, body: Buffer, sockets: Set<unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        method: 'POST',
        path: '/.well-known/est/simpleenroll',
        headers: { 'content-type': 'application/pkcs10', 'content-length': String(body.length) },
      },
      (res) => {
        res.on('data', () => {});
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('socket', (socket) => sockets.add(socket));
    req.on('error', reject);
    req.end(body);
  });
}

function percentiles(samples: number[]): { p50_ms: number; p95_ms: number; p99_ms: number } {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (q: number) => round(sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0);
  return { p50_ms: at(0.5), p95_ms: at(0.95), p99_ms: at(0.99) };
}

export async function benchEst(): Promise<Record<string, unknown>> {
  const work = mkdtempSync(join(tmpdir(), 'egw-bench-est-'));
  let server: ChildProcess | undefined;
  try {
    const devices: Device[] = [];
    const generationStarted = performance.now();
    for (let i = 0; i < CSR_COUNT; i++)
      devices.push(await makeDevice((0xa000 + i).toString(16).toUpperCase()));
    const csrGenerationMs = performance.now() - generationStarted;
    const next = (() => {
      let i = 0;
      return () => devices[i++ % devices.length] as Device;
    })();

    // The CA alone: verify the CSR, build and sign the certificate.
    const ca = await EstCa.open({ stateDir: join(work, 'ca-only') });
    const caIssue = await measureLatency(() => ca.issue(next().csrDer, { lifetimeSeconds: 86_400 }), 1000);

    // A factory CA and a factory certificate for the load generator's TLS client identity.
    const factory = await EstCa.open({ stateDir: join(work, 'factory') });
    const client = await makeDevice('FACE');
    const clientCertificate = (await factory.issue(client.csrDer, { lifetimeSeconds: 86_400 })).certificate;
    const factoryRootFile = join(work, 'factory-root.pem');
    writeFileSync(factoryRootFile, factory.rootPem);
    const started = await startServerProcess(join(work, 'est'), factoryRootFile);
    server = started.child;
    const url = new URL(started.url);
    // One SecureContext for every connection: without it node:tls parses the PEMs again for each
    // handshake, a load-generator cost that is not the server's.
    const tls = {
      secureContext: createSecureContext({
        ca: started.rootPem,
        cert: `${clientCertificate.toString('pem')}\n${factory.issuingPem}`,
        key: await pkcs8Pem(client.privateKey),
      }),
    };

    const sockets = new Set<unknown>();
    let errors = 0;
    const call = async (agent: Agent) => {
      const status = await simpleenroll(agent, url, next().body, sockets);
      if (status !== 200) errors++;
    };

    // Latency per API call, one at a time on one kept-alive connection.
    const serialAgent = new Agent({ keepAlive: true, maxSockets: 1, ...tls });
    for (let i = 0; i < 20; i++) await call(serialAgent);
    const samples: number[] = [];
    for (let i = 0; i < LATENCY_CALLS; i++) {
      const t0 = performance.now();
      await call(serialAgent);
      samples.push(performance.now() - t0);
    }
    serialAgent.destroy();
    const latency = { calls: LATENCY_CALLS, ...percentiles(samples) };

    // Throughput for THROUGHPUT_MS at each concurrency, one kept-alive connection per worker; then
    // with a new, full TLS handshake (no session resumption) for every call, as a fleet of distinct
    // devices enrolling once each would cost the server.
    const throughput: Record<string, unknown> = {};
    const runs = [
      { name: 'concurrency_1', concurrency: 1, keepAlive: true },
      { name: 'concurrency_8', concurrency: 8, keepAlive: true },
      { name: 'concurrency_8_new_tls_handshake_per_call', concurrency: 8, keepAlive: false },
    ];
    for (const { name, concurrency, keepAlive } of runs) {
      // Without keep-alive, maxSockets stays unbounded (the workers bound the concurrency): a bounded
      // Agent hands a finished socket to a queued request instead of closing it.
      const agent = new Agent({
        ...(keepAlive ? { keepAlive, maxSockets: concurrency } : { keepAlive, maxCachedSessions: 0 }),
        ...tls,
      });
      for (let i = 0; i < concurrency; i++) await call(agent);
      let issued = 0;
      const errorsBefore = errors;
      const perCall: number[] = [];
      const t0 = performance.now();
      const deadline = t0 + THROUGHPUT_MS;
      await Promise.all(
        Array.from({ length: concurrency }, async () => {
          while (performance.now() < deadline) {
            const callStarted = performance.now();
            await call(agent);
            perCall.push(performance.now() - callStarted);
            issued++;
          }
        }),
      );
      const elapsed = performance.now() - t0;
      agent.destroy();
      throughput[name] = {
        calls: issued,
        errors: errors - errorsBefore,
        elapsed_ms: round(elapsed, 0),
        certificates_per_min: Math.round(((issued - (errors - errorsBefore)) / elapsed) * 60_000),
        per_call: percentiles(perCall),
      };
    }

    return {
      setup: {
        server: 'separate process (dist/hw-sim/est-server/main.js), HTTPS, factory client certificate',
        distinct_csrs: CSR_COUNT,
        csr_generation_ms_each: round(csrGenerationMs / CSR_COUNT),
        tls_connections_opened: sockets.size,
        non_200_answers: errors,
      },
      ca_issue_in_process: caIssue,
      simpleenroll_latency: latency,
      simpleenroll_throughput: throughput,
      seed_targets: { certificate_ms: 100, api_call_p95_ms: 200, certificates_per_min: 10_000 },
    };
  } finally {
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server?.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    rmSync(work, { recursive: true, force: true });
  }
}
