import { EventEmitter } from 'node:events';
import type coap from 'coap';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CoapCounters } from '../../../../src/downstream/coap/coap-counters.js';
import { CommandObservation } from '../../../../src/downstream/coap/command-observation.js';
import type { CommandMessage, CommandSource } from '../../../../src/downstream/index.js';

interface SentPacket {
  messageId: number;
  payload: Buffer;
  options: { name: string; value: unknown }[];
}

/** node-coap's ObserveWriteStream as CommandObservation uses it: packets are recorded, ids counted. */
class FakeObserveStream extends EventEmitter {
  _packet: { options: { name: string; value: unknown }[]; confirmable: boolean; ack: boolean } = {
    options: [],
    confirmable: false,
    ack: false,
  };
  statusCode = '';
  writableEnded = false;
  readonly sent: SentPacket[] = [];
  #nextId = 100;

  _send(_stream: unknown, packet: { messageId?: number }): void {
    packet.messageId = this.#nextId++;
  }

  write(payload: Buffer): boolean {
    const packet = { options: [...this._packet.options], payload } as unknown as SentPacket;
    this._send(this, packet);
    this.sent.push(packet);
    return true;
  }

  setOption(name: string, value: unknown): this {
    this._packet.options = [
      ...this._packet.options.filter((option) => option.name !== name),
      { name, value },
    ];
    return this;
  }

  end(): void {
    this.writableEnded = true;
  }
}

const now = new Date('2031-01-01T00:00:00Z');
const command = (id: string, payload: string): CommandMessage => ({
  id,
  sensorId: 'sensor',
  contentFormat: 0,
  payload: Buffer.from(payload),
  receivedAt: now,
  expiresAt: new Date(now.getTime() + 3_600_000),
});

afterEach(() => {
  vi.useRealTimers();
});

describe('CommandObservation', () => {
  it('passes over a block-wise command whose other blocks the sensor never fetches, then sends the next one', () => {
    vi.useFakeTimers();
    const stream = new FakeObserveStream();
    const delivered: string[] = [];
    const source: CommandSource = {
      subscribe: (_sensorId, deliver) => {
        deliver(command('large', 'L'.repeat(40))); // three 16-byte blocks
        deliver(command('small', 'next'));
        return () => {};
      },
      delivered: (_sensorId, id) => delivered.push(id),
    };
    const counters = new CoapCounters();
    const closed: string[] = [];
    const observation = new CommandObservation({
      stream: stream as unknown as coap.ObserveWriteStream,
      sensorId: 'sensor',
      peer: '10.0.0.1:40000/1',
      token: '01',
      commands: source,
      counters,
      now: () => now,
      ackTimeoutMs: 1_000,
      szx: 0,
      onClose: (_observation, reason) => closed.push(reason),
    });
    observation.start();
    const first = stream.sent[1] as SentPacket; // [0] answered the registration
    expect(first.payload.toString()).toBe('L'.repeat(16));
    expect(first.options.map((option) => option.name)).toContain('Block2');
    expect(observation.answered('ack', first.messageId)).toBe(true);
    expect(stream.sent).toHaveLength(2); // waiting for the sensor's GETs of blocks 1 and 2
    vi.advanceTimersByTime(1_001);
    expect(counters.commandsSkipped).toBe(1);
    const next = stream.sent[2] as SentPacket;
    expect(next.payload.toString()).toBe('next');
    expect(next.options.map((option) => option.name)).not.toContain('Block2');
    observation.answered('ack', next.messageId);
    expect(delivered).toEqual(['small']);
    expect(closed).toEqual([]);
  });
});
