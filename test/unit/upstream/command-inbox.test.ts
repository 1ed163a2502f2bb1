import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CommandMessage } from '../../../src/downstream/index.js';
import { MIGRATIONS, Store } from '../../../src/store/index.js';
import { CommandInbox } from '../../../src/upstream/index.js';

let dir: string;
let store: Store;
let now: number;
let inbox: CommandInbox;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'egw-commands-'));
  store = Store.open(join(dir, 'state.db'));
  now = Date.parse('2030-01-01T00:00:00Z');
  inbox = new CommandInbox(store, { clock: () => now });
});

afterEach(() => {
  inbox.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

function command(id: string, sensorId: string, lifetimeS = 60): CommandMessage {
  return {
    id,
    sensorId,
    contentFormat: 50,
    payload: Buffer.from(JSON.stringify({ id })),
    receivedAt: new Date(now),
    expiresAt: new Date(now + lifetimeS * 1000),
  };
}

const ids = (commands: CommandMessage[]) => commands.map((c) => c.id);

describe('CommandInbox', () => {
  it('delivers pending commands oldest first on subscribe, then new ones as they come', () => {
    inbox.add(command('c1', 's1'));
    now += 1;
    inbox.add(command('c2', 's1'));
    inbox.add(command('x1', 's2'));
    const got: CommandMessage[] = [];
    const unsubscribe = inbox.subscribe('s1', (c) => got.push(c));
    expect(ids(got)).toEqual(['c1', 'c2']);
    inbox.add(command('c3', 's1'));
    inbox.add(command('x2', 's2'));
    expect(ids(got)).toEqual(['c1', 'c2', 'c3']);
    expect(Buffer.from(got[2]?.payload ?? []).toString()).toBe('{"id":"c3"}');
    unsubscribe();
    inbox.add(command('c4', 's1'));
    expect(ids(got)).toEqual(['c1', 'c2', 'c3']);
  });

  it('does not deliver a command again once delivered(), nor an expired one', () => {
    inbox.add(command('c1', 's1'));
    inbox.add(command('short', 's1', 5));
    inbox.add(command('c2', 's1'));
    inbox.delivered('s1', 'c1');
    now += 10_000;
    const got: CommandMessage[] = [];
    inbox.subscribe('s1', (c) => got.push(c));
    expect(ids(got)).toEqual(['c2']);
    expect(inbox.stats()).toMatchObject({ pending: 1, received: 3, delivered: 1 });
    expect(inbox.expire()).toBe(1);
    expect(inbox.stats().expired).toBe(1);
  });

  it('keeps one copy of a command id (a QoS 1 redelivery)', () => {
    expect(inbox.add(command('c1', 's1'))).toBe(true);
    expect(inbox.add(command('c1', 's1'))).toBe(false);
    expect(ids(inbox.pending('s1'))).toEqual(['c1']);
  });

  it('scopes command ids per sensor: the same id for two sensors is two commands, both delivered', () => {
    expect(inbox.add(command('reboot', 'th-1'))).toBe(true);
    expect(inbox.add(command('reboot', 'th-2'))).toBe(true);
    const got: string[] = [];
    inbox.subscribe('th-1', (c) => got.push(`${c.sensorId}/${c.id}`));
    inbox.subscribe('th-2', (c) => got.push(`${c.sensorId}/${c.id}`));
    expect(got).toEqual(['th-1/reboot', 'th-2/reboot']);
    // One sensor's acknowledgement is its own.
    inbox.delivered('th-1', 'reboot');
    expect(ids(inbox.pending('th-1'))).toEqual([]);
    expect(ids(inbox.pending('th-2'))).toEqual(['reboot']);
  });

  it('the migration to per-sensor ids keeps the stored commands', () => {
    inbox.close();
    store.close();
    const path = join(dir, 'v4.db');
    const v4 = Store.open(
      path,
      MIGRATIONS.filter((migration) => migration.version <= 4),
    );
    v4.prepare(
      'INSERT INTO downstream_commands (id, sensor_id, payload, content_format, received_at, expires_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run('c1', 's1', Buffer.from('{}'), 50, now, now + 60_000, null);
    v4.prepare(
      'INSERT INTO downstream_commands (id, sensor_id, payload, content_format, received_at, expires_at, delivered_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    ).run('c2', 's1', Buffer.from('{}'), 50, now, now + 60_000, now);
    v4.close();
    store = Store.open(path);
    inbox = new CommandInbox(store, { clock: () => now });
    expect(ids(inbox.pending('s1'))).toEqual(['c1']);
    expect(inbox.add(command('c1', 's1'))).toBe(false);
    expect(inbox.add(command('c1', 's2'))).toBe(true);
  });

  it('a failing subscriber neither stops others nor loses the command', () => {
    const got: string[] = [];
    inbox.subscribe('s1', () => {
      throw new Error('sensor gone');
    });
    inbox.subscribe('s1', (c) => got.push(c.id));
    inbox.add(command('c1', 's1'));
    expect(got).toEqual(['c1']);
    expect(ids(inbox.pending('s1'))).toEqual(['c1']);
  });

  it('pending commands survive a reopen of the store', () => {
    inbox.add(command('c1', 's1'));
    inbox.close();
    store.close();
    store = Store.open(join(dir, 'state.db'));
    inbox = new CommandInbox(store, { clock: () => now });
    expect(ids(inbox.pending('s1'))).toEqual(['c1']);
  });
});
