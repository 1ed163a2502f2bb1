import { createSocket } from 'node:dgram';
import { describe, expect, it, vi } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { SensorWorkers } from '../../../src/downstream/index.js';

/**
 * Unit test of the sensor pool's start with a worker script that fails (a stand-in, named as such:
 * test/fixtures/failing-sensor-worker.mjs — worker 0 serves a UDP port, worker 1 fails to start).
 * No real cause makes worker N fail while worker 0 serves (they run the same code on the same port),
 * so the worker entry is replaced. A failed start must stop the workers it had started: the daemon
 * never gets a pool to close, and worker 0 would keep serving the port after its stop.
 */
vi.mock('../../../src/build-info/worker-entry.js', () => ({
  builtWorkerEntry: () => new URL('../../fixtures/failing-sensor-worker.mjs', import.meta.url),
}));

const base = parseConfigText('', '/etc/edge-gatewayd/gateway.toml');
const config = {
  ...base,
  downstream: {
    ...base.downstream,
    dtls: {
      ...base.downstream.dtls,
      enabled: true,
      host: '127.0.0.1',
      port: 0,
      workers: 2,
      // A dedicated key at a configured rate: the pool neither signs nor measures before starting.
      server_key: 'file' as const,
      signatures_per_second: 100,
      sensor_ca_files: [],
    },
  },
};

/** Binds `port` on 127.0.0.1 without SO_REUSEPORT: fails while a worker still holds it. */
function bindable(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    socket.once('error', () => resolve(false));
    socket.bind(port, '127.0.0.1', () => socket.close(() => resolve(true)));
  });
}

describe('SensorWorkers.start when worker 1 fails while worker 0 serves (stand-in worker script)', () => {
  it('rejects with worker 1’s error after stopping worker 0 (its port is free again)', async () => {
    const serving: string[] = [];
    const log = {
      info: (fields: { listening?: string }, message: string) => {
        if (message === 'sensor worker serving' && fields.listening) serving.push(fields.listening);
      },
      warn: () => undefined,
      error: () => undefined,
      debug: () => undefined,
    };

    const started = SensorWorkers.start({
      config,
      count: 2,
      identity: undefined,
      trust: undefined,
      log,
    });
    await expect(started).rejects.toMatchObject({
      code: 'EGW_TEST_WORKER_FAILED',
      message: 'sensor worker 1: this stand-in worker fails to start',
    });
    expect(serving).toHaveLength(1);
    const port = Number(serving[0]?.split(':').at(-1));
    expect(await bindable(port)).toBe(true);
  });
});
