import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { Outbox, type OutboxSettings } from '../../src/upstream/index.js';

/**
 * Power loss while telemetry pours in: a child process (the built outbox from dist/, so `npm run
 * build` first) enqueues from 16 concurrent producers and prints each id once its enqueue() resolved,
 * and is killed with SIGKILL. Every id it printed must be in the table when the outbox is opened
 * again: an acknowledgement to a sensor is a promise the gateway keeps.
 */

const root = new URL('../../', import.meta.url);
const storeModule = new URL('dist/src/store/index.js', root).href;
const upstreamModule = new URL('dist/src/upstream/index.js', root).href;

const SETTINGS: OutboxSettings = {
  max_rows: 1_000_000,
  max_bytes: 256 * 1024 * 1024,
  when_full: 'refuse',
  refuse_max_age_s: 30,
  commit_interval_ms: 5,
  commit_batch: 256,
  per_sensor_share: 1,
};

const CHILD = `
const { Store } = await import(process.env.EGW_STORE_MODULE);
const { Outbox } = await import(process.env.EGW_UPSTREAM_MODULE);
const store = Store.open(process.env.EGW_DB);
const outbox = Outbox.open(store, JSON.parse(process.env.EGW_SETTINGS));
let seq = 0;
async function producer(p) {
  for (;;) {
    const n = seq++;
    const answer = await outbox.enqueue({
      sensorId: 's' + p,
      topic: 'devices/s' + p + '/telemetry',
      payload: Buffer.from(JSON.stringify({ n })),
      contentFormat: 50,
      properties: { 'sensor-id': 's' + p },
    });
    // A pipe is written synchronously on Linux: a printed line was acknowledged before the kill.
    process.stdout.write('ack ' + answer.id + '\\n');
  }
}
for (let p = 0; p < 16; p++) producer(p);
`;

let dir: string;
let db: string;

beforeAll(() => {
  for (const module of [storeModule, upstreamModule])
    if (!existsSync(new URL(module)))
      throw new Error(
        `${module} is missing: run \`npm run -s build\` first (the child runs the built outbox)`,
      );
  dir = mkdtempSync(join(tmpdir(), 'egw-outbox-kill9-'));
  db = join(dir, 'state.db');
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs the child until it has printed `acks` acknowledgements, SIGKILLs it, returns every id it printed. */
function runAndKill(acks: number): Promise<number[]> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', CHILD], {
      env: {
        ...process.env,
        EGW_STORE_MODULE: storeModule,
        EGW_UPSTREAM_MODULE: upstreamModule,
        EGW_DB: db,
        EGW_SETTINGS: JSON.stringify(SETTINGS),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (!killed && out.split('\n').length > acks) {
        killed = true;
        child.kill('SIGKILL');
      }
    });
    child.stderr.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code, signal) => {
      if (signal !== 'SIGKILL') {
        reject(new Error(`the child ended by itself (code ${code}): ${err.trim()}`));
        return;
      }
      // Only complete lines count: a line cut by the kill was not fully acknowledged.
      const lines = out.split('\n').slice(0, -1);
      resolve(lines.map((line) => Number(/^ack (\d+)$/.exec(line)?.[1] ?? Number.NaN)));
    });
  });
}

describe('outbox under kill -9', () => {
  it('keeps every acknowledged message across 6 SIGKILLs at different points', {
    timeout: 120_000,
  }, async () => {
    const acknowledged = new Set<number>();
    for (const acks of [1, 40, 300, 1000, 2500, 700]) {
      const ids = await runAndKill(acks);
      expect(ids.every(Number.isInteger)).toBe(true);
      for (const id of ids) acknowledged.add(id);

      const store = Store.open(db); // quick_check included: the file is sound
      try {
        const outbox = Outbox.open(store, SETTINGS);
        const stored = new Set(outbox.peek(10_000_000).map((row) => row.id));
        const missing = [...acknowledged].filter((id) => !stored.has(id));
        expect(missing).toEqual([]);
        // The counts read back at open match the table.
        expect(outbox.stats().rows).toBe(stored.size);
        expect(stored.size).toBeGreaterThanOrEqual(acknowledged.size);
      } finally {
        store.close();
      }
    }
  });
});
