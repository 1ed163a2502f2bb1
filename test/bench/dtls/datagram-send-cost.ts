/**
 * CPU per datagram of the DTLS socket's two send paths, in this process (process.cpuUsage, user +
 * system): node:dgram's socket.send (one send wrap, lookup tick and sendmsg per datagram) and
 * DatagramBatchSender (sendmmsg per turn), with `per turn` datagrams queued per event-loop turn as
 * the server does when it answers the datagrams libuv read in one poll phase. The receiver is another
 * process (its CPU is not counted), 8 peers round robin, 60-byte datagrams (a CoAP answer in a record).
 *
 *   node dist/test/bench/dtls/datagram-send-cost.js [datagrams] [per-turn list, default 1,4,8,32]
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { DatagramBatchSender } from '../../../src/tls/dtls/datagram-batch-sender.js';

if (process.argv[2] === 'receiver') {
  // Opens 8 sockets, reports their ports, counts what arrives.
  const sockets = await Promise.all(
    Array.from({ length: 8 }, async () => {
      const socket = dgram.createSocket('udp4');
      await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
      socket.setRecvBufferSize(4 << 20);
      return socket;
    }),
  );
  let received = 0;
  for (const socket of sockets) socket.on('message', () => received++);
  process.send?.({ ports: sockets.map((socket) => socket.address().port) });
  process.on('message', () => process.send?.({ received }));
} else {
  const total = Number(process.argv[2] ?? 200_000);
  const perTurnList = (process.argv[3] ?? '1,4,8,32').split(',').map(Number);
  const receiver = fork(fileURLToPath(import.meta.url), ['receiver']);
  const ports = await new Promise<number[]>((resolve) =>
    receiver.once('message', (m: { ports: number[] }) => resolve(m.ports)),
  );
  const peers = ports.map((port) => ({ address: '127.0.0.1', port }));
  const socket = dgram.createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const payload = Buffer.alloc(60, 7);
  const turn = () => new Promise<void>((resolve) => setImmediate(resolve));

  async function run(path: 'dgram' | 'batch', perTurn: number): Promise<Record<string, unknown>> {
    let failures = 0;
    const sender = new DatagramBatchSender(socket, {
      failed: () => failures++,
      batch: path === 'batch',
    });
    const started = process.cpuUsage();
    const wall = performance.now();
    for (let sent = 0; sent < total; ) {
      for (let i = 0; i < perTurn && sent < total; i++, sent++) {
        sender.send(payload, peers[sent % peers.length] as (typeof peers)[number]);
      }
      await turn();
    }
    await turn();
    const cpu = process.cpuUsage(started);
    const stats = sender.stats();
    sender.close();
    return {
      path,
      per_turn: perTurn,
      cpu_us_per_datagram: Math.round(((cpu.user + cpu.system) / total) * 100) / 100,
      system_us_per_datagram: Math.round((cpu.system / total) * 100) / 100,
      wall_ms: Math.round(performance.now() - wall),
      ...stats,
      failures,
    };
  }

  const results = [];
  for (const perTurn of perTurnList) {
    for (const path of ['dgram', 'batch'] as const) {
      results.push(await run(path, perTurn));
      process.stderr.write(`${JSON.stringify(results.at(-1))}\n`);
    }
  }
  receiver.send('count');
  const { received } = await new Promise<{ received: number }>((resolve) =>
    receiver.once('message', (m: { received: number }) => resolve(m)),
  );
  receiver.kill();
  socket.close();
  process.stdout.write(
    `${JSON.stringify({ datagrams_each_run: total, received_all_runs: received, results }, null, 1)}\n`,
  );
}
