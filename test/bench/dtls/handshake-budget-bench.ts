/**
 * The handshake budget under load (issue 16): what the default limits let through, what a cookie-less
 * flood leaves for a legitimate sensor, and how many signatures one host can cause. The server runs in
 * its own process (dtls-bench-server.ts); the load comes from DtlsClients and raw UDP sockets on
 * several loopback addresses (127.0.0.x), so per-address budgets see several hosts.
 */
import type { ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync } from 'node:fs';
import { DtlsClient, type DtlsClientOptions } from '../../../src/tls/index.js';
import { round } from '../measure.js';

interface Server {
  process: ChildProcess;
  port: number;
}
type Start = (
  budget: 'lifted' | 'defaults',
  signaturesPerSecond?: number,
  key?: 'software' | 'atecc',
) => Promise<Server>;

/** The server process's CPU time so far (user + system), seconds. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.split(' ') ?? [];
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (100/s)
}

/** `work(i)` from `concurrency` loops for `seconds`: completions per second and per server CPU-second. */
async function measured(
  server: Server,
  seconds: number,
  concurrency: number,
  work: (loop: number) => Promise<void>,
) {
  const pid = server.process.pid ?? 0;
  const cpuBefore = cpuSeconds(pid);
  const deadline = performance.now() + seconds * 1000;
  let done = 0;
  let failed = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, loop) => {
      while (performance.now() < deadline) {
        try {
          await work(loop);
          done++;
        } catch {
          failed++;
        }
      }
    }),
  );
  const cpu = cpuSeconds(pid) - cpuBefore;
  return {
    per_s: round(done / seconds, 1),
    per_server_cpu_s: round(done / Math.max(cpu, 0.01), 1),
    server_cpu_share: round(cpu / seconds, 2),
    failed,
  };
}

/** Full and resumed handshakes/s from 8 loops on 8 loopback addresses. */
async function handshakeRates(server: Server, client: DtlsClientOptions, addresses: number) {
  const options = (loop: number): DtlsClientOptions => ({
    ...client,
    port: server.port,
    localAddress: `127.0.0.${1 + (loop % addresses)}`,
    handshakeTimeoutMs: 5000,
  });
  const full = await measured(server, 4, 8, async (loop) =>
    (await DtlsClient.connect(options(loop))).close(),
  );
  const probe = await DtlsClient.connect(options(0));
  const session = probe.saveSession();
  probe.close();
  let resumedCount = 0;
  const resumed = await measured(server, 3, 8, async (loop) => {
    const connection = await DtlsClient.connect({ ...options(loop), resume: session });
    if (connection.resumed) resumedCount++;
    connection.close();
  });
  DtlsClient.freeSession(session);
  return { full_handshakes: full, resumed_handshakes: { ...resumed, actually_resumed: resumedCount } };
}

/** A real ClientHello: the first datagram a DtlsClient sends (to a socket that never answers). */
async function capturedClientHello(client: DtlsClientOptions): Promise<Buffer> {
  const trap = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => trap.bind(0, '127.0.0.1', () => resolve()));
  const first = new Promise<Buffer>((resolve) => trap.once('message', (message) => resolve(message)));
  const attempt = DtlsClient.connect({ ...client, port: trap.address().port, handshakeTimeoutMs: 500 }).catch(
    () => undefined,
  );
  const hello = await first;
  await attempt;
  trap.close();
  return hello;
}

/** `hello` with its random set from `n`, and `cookie` (message_seq 1 then, as after a HelloVerifyRequest). */
function variant(hello: Buffer, n: number, cookie: Buffer = Buffer.alloc(0)): Buffer {
  const body = 13 + 12;
  const cookieAt = body + 35 + (hello[body + 34] as number);
  const oldLength = hello[cookieAt] as number;
  const out = Buffer.concat([
    hello.subarray(0, cookieAt),
    Buffer.from([cookie.length]),
    cookie,
    hello.subarray(cookieAt + 1 + oldLength),
  ]);
  out.writeUInt32BE(n >>> 0, body + 2);
  const delta = cookie.length - oldLength;
  out.writeUInt16BE(hello.readUInt16BE(11) + delta, 11);
  out.writeUIntBE(hello.readUIntBE(14, 3) + delta, 14, 3);
  out.writeUIntBE(hello.readUIntBE(22, 3) + delta, 22, 3);
  out.writeUInt16BE(cookie.length > 0 ? 1 : 0, 17);
  return out;
}

/**
 * A cookie-less ClientHello flood at `ratePerSecond` from 200 loopback addresses while one sensor does
 * `handshakes` handshakes one after another (5 s each at most): its success rate.
 */
async function legitimateDuringFlood(
  server: Server,
  client: DtlsClientOptions,
  ratePerSecond: number,
  handshakes: number,
) {
  const hello = await capturedClientHello(client);
  const flood = Array.from({ length: 1024 }, (_, i) => variant(hello, i));
  const sockets = await Promise.all(
    Array.from({ length: 200 }, async (_, i) => {
      const socket = dgram.createSocket('udp4');
      socket.on('message', () => undefined);
      await new Promise<void>((resolve) => socket.bind(0, `127.0.1.${1 + i}`, () => resolve()));
      return socket;
    }),
  );
  let sent = 0;
  const started = performance.now();
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - started) / 1000) * ratePerSecond);
    for (; sent < due; sent++) {
      (sockets[sent % sockets.length] as dgram.Socket).send(
        flood[sent % flood.length] as Buffer,
        server.port,
        '127.0.0.1',
      );
    }
  }, 2);
  await new Promise((resolve) => setTimeout(resolve, 500));
  const pid = server.process.pid ?? 0;
  const cpuBefore = cpuSeconds(pid);
  const sensorStarted = performance.now();
  let completed = 0;
  const times: number[] = [];
  for (let i = 0; i < handshakes; i++) {
    const begun = performance.now();
    try {
      const connection = await DtlsClient.connect({ ...client, port: server.port, handshakeTimeoutMs: 5000 });
      times.push(performance.now() - begun);
      completed++;
      connection.close();
    } catch {
      // counted as a failure
    }
  }
  clearInterval(timer);
  const serverCpuShare = (cpuSeconds(pid) - cpuBefore) / ((performance.now() - sensorStarted) / 1000);
  const seconds = (performance.now() - started) / 1000;
  for (const socket of sockets) socket.close();
  times.sort((a, b) => a - b);
  return {
    flood_client_hellos_per_s: round(sent / seconds, 0),
    flood_sources: sockets.length,
    server_cpu_share: round(serverCpuShare, 2),
    sensor_handshakes: handshakes,
    sensor_success_rate: round(completed / handshakes, 2),
    sensor_handshake_p50_ms: round(times[Math.floor(times.length / 2)] ?? 0),
    sensor_handshake_max_ms: round(times.at(-1) ?? 0),
  };
}

/**
 * One host (127.0.0.1) making the server sign as fast as it can: 16 loops of cookie exchange, then the
 * ClientHello with the cookie, then silence (the handshake is abandoned). Counts ServerKeyExchanges.
 */
async function signaturesFromOneHost(server: Server, client: DtlsClientOptions, seconds: number) {
  const hello = await capturedClientHello(client);
  const signatures = new Set<string>(); // by the signed bytes: a retransmitted flight is no new signature
  let attempts = 0;
  const deadline = performance.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 16 }, async (_, loop) => {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', () => resolve()));
      let waiting: ((message: Buffer) => void) | undefined;
      socket.on('message', (message) => {
        const signed = serverKeyExchange(message);
        if (signed) signatures.add(signed);
        if (message[13] === 3) waiting?.(message);
      });
      let n = loop * 1_000_000;
      while (performance.now() < deadline) {
        const first = variant(hello, n);
        const verify = await new Promise<Buffer | undefined>((resolve) => {
          const timer = setTimeout(() => resolve(undefined), 200);
          waiting = (message) => {
            clearTimeout(timer);
            resolve(message);
          };
          socket.send(first, server.port, '127.0.0.1');
        });
        waiting = undefined;
        if (verify) {
          const length = verify[13 + 12 + 2] as number;
          socket.send(variant(hello, n, verify.subarray(28, 28 + length)), server.port, '127.0.0.1');
          attempts++;
        }
        n++;
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
      socket.close();
    }),
  );
  return {
    cookie_verified_attempts_per_s: round(attempts / seconds, 1),
    signatures: signatures.size,
    signatures_per_s: round(signatures.size / seconds, 1),
  };
}

/**
 * A busy session's round trips while 8 hosts (127.0.0.1-8) try full handshakes back to back, with the
 * key in the timed ATECC608A simulator: the signature budget bounds how much of the loop signing takes
 * (signing is synchronous on the loop, see dtls-server.ts).
 */
async function busySessionWhileSignerSaturated(server: Server, client: DtlsClientOptions, seconds: number) {
  const options = (loop: number): DtlsClientOptions => ({
    ...client,
    port: server.port,
    localAddress: `127.0.0.${1 + (loop % 8)}`,
    handshakeTimeoutMs: 3000,
  });
  const busy = await DtlsClient.connect({ ...client, port: server.port, localAddress: '127.0.0.9' });
  const samples: number[] = [];
  const deadline = performance.now() + seconds * 1000;
  let completed = 0;
  let id = 1;
  const { coapGet } = await import('./coap-get.js');
  await Promise.all([
    (async () => {
      while (performance.now() < deadline) {
        const started = performance.now();
        await busy.request(coapGet(id++));
        samples.push(performance.now() - started);
      }
    })(),
    ...Array.from({ length: 8 }, async (_, loop) => {
      while (performance.now() < deadline) {
        try {
          (await DtlsClient.connect(options(loop))).close();
          completed++;
        } catch {
          // refused by the budget: the client timed out
        }
      }
    }),
  ]);
  busy.close();
  samples.sort((a, b) => a - b);
  const at = (q: number) => round(samples[Math.min(samples.length - 1, Math.floor(samples.length * q))] ?? 0);
  return {
    full_handshakes_per_s: round(completed / seconds, 1),
    busy_session_round_trips: samples.length,
    busy_session_p50_ms: at(0.5),
    busy_session_p99_ms: at(0.99),
    busy_session_max_ms: at(1),
  };
}

/** The ServerKeyExchange record body of a datagram (hex), if it carries one. */
function serverKeyExchange(datagram: Buffer): string | undefined {
  let offset = 0;
  while (offset + 13 <= datagram.length) {
    const length = datagram.readUInt16BE(offset + 11);
    if (datagram[offset] === 22 && datagram.readUInt16BE(offset + 3) === 0 && datagram[offset + 13] === 12)
      return datagram.subarray(offset + 13, offset + 13 + length).toString('hex');
    offset += 13 + length;
  }
  return undefined;
}

export async function benchHandshakeBudget(
  client: DtlsClientOptions,
  start: Start,
): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {
    note: 'load from 8 loopback addresses (127.0.0.1-8), 8 loops; the server in its own process',
  };
  for (const budget of ['lifted', 'defaults'] as const) {
    const server = await start(budget);
    try {
      const name =
        budget === 'lifted'
          ? 'bare endpoint (limits lifted)'
          : 'default config (software key: signer 1000/s)';
      results[name] = await handshakeRates(server, client, 8);
      if (budget === 'defaults')
        results['default config, one source address'] = await handshakeRates(server, client, 1);
    } finally {
      server.process.kill();
    }
  }
  const flooded = await start('defaults');
  try {
    results['legitimate sensor during a cookie-less flood (default config)'] = await legitimateDuringFlood(
      flooded,
      client,
      10_000,
      20,
    );
  } finally {
    flooded.process.kill();
  }
  for (const [label, signer] of [
    ['software key (signer 1000/s: 200/s per address; 8 half-open per address)', undefined],
    ['ATECC608A-sized budget (signer 9/s: 1.8/s per address, burst 2)', 9],
  ] as const) {
    const server = await start('defaults', signer);
    try {
      results[`signatures one host can cause in 10 s, ${label}`] = await signaturesFromOneHost(
        server,
        client,
        10,
      );
    } finally {
      server.process.kill();
    }
  }
  for (const [label, budget] of [
    ['limits lifted', 'lifted'],
    ['default budget for a 15/s signer (12/s in all, 3/s per address)', 'defaults'],
  ] as const) {
    const server = await start(budget, budget === 'defaults' ? 15 : undefined, 'atecc');
    try {
      results[`busy session while 8 hosts handshake, ATECC608A simulator key, ${label}`] =
        await busySessionWhileSignerSaturated(server, client, 8);
    } finally {
      server.process.kill();
    }
  }
  return results;
}
