/**
 * The drain bench's reference (outbox-drain.ts): one mqtt.js client straight to mosquitto over
 * node's TLS (mutual), publishing `rows` messages QoS 1 round-robin over `sensors` topics with the
 * gateway's user properties, at most one per sensor in flight (as the gateway's publisher does) —
 * the MQTT side of the drain without an outbox, our TLS stream or our PUBLISH encoding.
 *
 * Run as a child process (pinned where the daemon was): one JSON argument
 * {brokerUrl, caPem, certFile, keyFile, rows, sensors, payload}; prints one JSON line: its CPU
 * (process.cpuUsage(), all threads) and wall time from the first publish to the last PUBACK.
 */
import { connectReferenceClient, type ReferenceBroker } from './reference-mqtt-client.js';

interface Command extends ReferenceBroker {
  rows: number;
  sensors: number;
  payload: string;
}

const command = JSON.parse(process.argv[2] ?? '{}') as Command;
const client = await connectReferenceClient(command, 'bench-drain-reference');
const topics = Array.from({ length: command.sensors }, (_, i) => `devices/drain-ref-${i}/telemetry`);
const options = Array.from({ length: command.sensors }, (_, i) => ({
  qos: 1 as const,
  properties: {
    contentType: 'application/json',
    userProperties: {
      'sensor-id': `drain-ref-${i}`,
      'certificate-sha256': 'ab'.repeat(32),
      'gateway-id': 'bench-reference',
    },
  },
}));
let sent = 0;
let acknowledged = 0;
let failed = 0;
const cpuBefore = process.cpuUsage();
const started = performance.now();
await new Promise<void>((resolve) => {
  const send = (sensor: number) => {
    if (sent >= command.rows) return;
    const seq = sent++;
    client.publish(
      topics[sensor] as string,
      command.payload.replace('{seq}', String(seq)),
      options[sensor] as (typeof options)[number],
      (error) => {
        if (error) failed++;
        else acknowledged++;
        if (acknowledged + failed === command.rows) resolve();
        else send(sensor);
      },
    );
  };
  for (let sensor = 0; sensor < Math.min(command.sensors, command.rows); sensor++) send(sensor);
});
const wallSeconds = (performance.now() - started) / 1000;
const cpu = process.cpuUsage(cpuBefore);
await client.endAsync();
process.stdout.write(
  `${JSON.stringify({
    published: acknowledged,
    failed,
    cpu_s: (cpu.user + cpu.system) / 1e6,
    user_cpu_s: cpu.user / 1e6,
    kernel_cpu_s: cpu.system / 1e6,
    wall_s: wallSeconds,
  })}\n`,
);
