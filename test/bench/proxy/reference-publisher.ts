/**
 * The reference of the latency bench (telemetry-latency.ts): one mqtt.js client straight to
 * mosquitto over TLS (mutual), publishing the load generator's telemetry payload at a fixed rate,
 * QoS 1, as many in flight as the broker's Receive Maximum lets — what the gateway's own upstream
 * connection does, without the gateway. "{us}" in the payload becomes the wall clock at publishing
 * (µs since the epoch), "{seq}" a counter, as in dtls-coap-load.
 *
 * Run as a child process (its own event loop, as the gateway has): one JSON argument
 * {brokerUrl, caPem, certFile, keyFile, topic, payload, rate, seconds, warmup}; prints one JSON line
 * (PUBACK round trip p50/p99 over the window after the warm-up, counts) on stdout.
 */
import { keepRealtimeToMainThread } from '../realtime.js';
import { connectReferenceClient, type ReferenceBroker } from './reference-mqtt-client.js';
import { wallClockUs } from './wall-clock.js';

interface Command extends ReferenceBroker {
  topic: string;
  payload: string;
  rate: number;
  seconds: number;
  warmup: number;
}

const wallUs = wallClockUs;

function percentileMs(sorted: number[], q: number): number {
  if (sorted.length === 0) return 0;
  const value = sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number;
  return Math.round(value) / 1000;
}

async function main(): Promise<void> {
  keepRealtimeToMainThread(); // BENCH_LATENCY_RT=1: as the daemon, only the main thread SCHED_FIFO
  const command = JSON.parse(process.argv[2] ?? '{}') as Command;
  const client = await connectReferenceClient(command, 'bench-latency-reference');
  const pubackUs: number[] = [];
  let sent = 0;
  let acknowledged = 0;
  let failed = 0;
  const started = performance.now();
  const windowOpens = started + command.warmup * 1000;
  const ends = windowOpens + command.seconds * 1000;
  const intervalMs = 1000 / command.rate;
  let next = started;
  // Open loop: what is owed by now goes out, then a 1 ms timer (the same fixed-rate scheme as the
  // C load generator: a slow broker does not slow the offered rate).
  while (performance.now() < ends) {
    const now = performance.now();
    while (next <= now) {
      const sentAt = wallUs();
      const inWindow = next >= windowOpens;
      const payload = command.payload.replace('{seq}', String(++sent)).replace('{us}', String(sentAt));
      client.publish(command.topic, payload, { qos: 1 }, (error) => {
        if (error) failed++;
        else {
          acknowledged++;
          if (inWindow) pubackUs.push(wallUs() - sentAt);
        }
      });
      next += intervalMs;
    }
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
  const drainBy = performance.now() + 10_000;
  while (acknowledged + failed < sent && performance.now() < drainBy)
    await new Promise((resolve) => setTimeout(resolve, 20));
  await client.endAsync();
  pubackUs.sort((a, b) => a - b);
  process.stdout.write(
    `${JSON.stringify({
      offered_per_s: command.rate,
      sent,
      acknowledged,
      failed,
      puback_round_trip_ms: { p50: percentileMs(pubackUs, 0.5), p99: percentileMs(pubackUs, 0.99) },
    })}\n`,
  );
}

await main();
