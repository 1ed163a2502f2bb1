/**
 * What the benches that load the proxy with the C load generator (telemetry-c-load.ts,
 * telemetry-latency.ts) share: mosquitto and a provisioned gateway with one certificate per sensor
 * session on disk, the load generator's target and the builds to compare (in rotating rounds: ../rounds.ts).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MosquittoBroker } from '../../../hw-sim/broker/index.js';
import { SensorCa } from '../../../hw-sim/sensors/index.js';
import { builtEntry } from '../../helpers/daemon-harness.js';
import type { LoadTarget } from '../load/index.js';
import {
  type GatewaySetup,
  makeFactoryCa,
  provisionGateway,
  type RunningGateway,
} from './gateway-under-test.js';

function pem(label: string, der: Uint8Array): string {
  const body = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n?$/, '\n');
  return `-----BEGIN ${label}-----\n${body}-----END ${label}-----\n`;
}

/**
 * Starts mosquitto (1000 messages in flight per client) and provisions a gateway (not started) to
 * it, OUTBOX="key = value;…" adding [upstream.outbox] keys; writes `sessions` sensor certificates
 * (common names `${commonNamePrefix}N`) and keys to work/sensor-N.pem and .key for the load
 * generator. Stops the broker again if the rest fails.
 */
export async function prepareCLoadGateway(
  work: string,
  sessions: number,
  commonNamePrefix: string,
): Promise<{ broker: MosquittoBroker; setup: GatewaySetup }> {
  const factory = makeFactoryCa(work);
  const broker = await MosquittoBroker.start({
    caFiles: [factory.rootFile],
    dir: join(work, 'broker'),
    maxInflightMessages: 1000,
  });
  try {
    const outboxLines = (process.env.OUTBOX ?? '')
      .split(';')
      .map((line) => line.trim())
      .filter(Boolean);
    const setup = await provisionGateway(
      work,
      factory,
      broker,
      outboxLines.length > 0 ? `[upstream.outbox]\n${outboxLines.join('\n')}\n` : '',
    );
    const ca = SensorCa.open(setup.sensorCaDir);
    for (let i = 0; i < sessions; i++) {
      const sensor = ca.issue({ commonName: `${commonNamePrefix}${i}` });
      writeFileSync(
        join(work, `sensor-${i}.pem`),
        sensor.certificateChain.map((der) => pem('CERTIFICATE', der)).join(''),
      );
      writeFileSync(join(work, `sensor-${i}.key`), pem('PRIVATE KEY', sensor.privateKeyPkcs8), {
        mode: 0o600,
      });
    }
    return { broker, setup };
  } catch (error) {
    await broker.stop().catch(() => undefined);
    throw error;
  }
}

/** The running gateway as the load generator's target, with the sensor certificates prepareCLoadGateway wrote. */
export function cLoadTarget(work: string, setup: GatewaySetup, gateway: RunningGateway): LoadTarget {
  return {
    port: gateway.port,
    caFile: setup.factoryRootFile,
    certFile: join(work, 'sensor-%d.pem'),
    keyFile: join(work, 'sensor-%d.key'),
    ...(gateway.pid ? { serverPid: gateway.pid } : {}),
  };
}

/** [label, daemon entry] of this build, then of each build in BUILDS=<worktree roots, comma-separated>. */
export function buildsToCompare(): [string, string][] {
  return [
    ['this build', builtEntry('daemon')],
    ...(process.env.BUILDS ?? '')
      .split(',')
      .filter(Boolean)
      .map((root): [string, string] => [root, join(root, 'dist/src/daemon/main.js')]),
  ];
}
