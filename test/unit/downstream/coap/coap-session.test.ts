import { generate, type Packet, type ParsedPacket, parse } from 'coap-packet';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { CoapAnswer } from '../../../../src/downstream/coap/coap-answer.js';
import { CoapCounters } from '../../../../src/downstream/coap/coap-counters.js';
import type { CoapRequest } from '../../../../src/downstream/coap/coap-request.js';
import { CoapSession } from '../../../../src/downstream/coap/coap-session.js';
import { CommandObservation } from '../../../../src/downstream/coap/command-observation.js';
import type { CommandMessage } from '../../../../src/downstream/index.js';

/** A session whose datagrams are recorded (parsed), with the request listener given. */
function sessionWith(listener: (request: CoapRequest, answer: CoapAnswer) => void) {
  const sent: Buffer[] = [];
  const errors: string[] = [];
  const session = new CoapSession(
    '10.0.0.1:40000/1',
    { address: '10.0.0.1', port: 40000 },
    {
      send: (_address, _port, datagram) => sent.push(Buffer.from(datagram)),
      errorAnswered: (_session, code, text) => errors.push(`${code} ${text}`),
    },
  );
  session.on('request', listener);
  return { session, sent, errors, parsed: () => sent.map((datagram) => parse(datagram)) };
}

const get = (messageId: number, token: string, more: Packet = {}): Buffer =>
  generate({
    code: '0.01',
    messageId,
    token: Buffer.from(token, 'hex'),
    confirmable: true,
    options: [{ name: 'Uri-Path', value: Buffer.from('big') }],
    ...more,
  });

const optionOf = (packet: ParsedPacket, name: string) =>
  packet.options.find((option) => option.name === name)?.value;

afterEach(() => {
  vi.useRealTimers();
});

describe('CoapSession', () => {
  it('answers a duplicate CON with the same datagram without running the route again', () => {
    let runs = 0;
    const { session, sent } = sessionWith((_request, answer) => {
      runs++;
      answer.send('2.05', `run ${runs}`);
    });
    let duplicates = 0;
    session.onDuplicate = () => duplicates++;
    session.receive(get(7, '0a0b'));
    session.receive(get(7, '0a0b'));
    expect(runs).toBe(1);
    expect(sent).toHaveLength(2);
    expect(sent[1]).toEqual(sent[0]);
    const answer = parse(sent[0] as Buffer);
    expect(answer).toMatchObject({ ack: true, messageId: 7, code: '2.05' });
    expect(answer.payload.toString()).toBe('run 1');
    expect(duplicates).toBe(0); // replayed, not merely ignored
  });

  it('sends an answer of 1,024 bytes or more block-wise and serves the next blocks without the route', () => {
    const body = Buffer.from(Array.from({ length: 2500 }, (_, i) => i % 251));
    let runs = 0;
    const { session, parsed } = sessionWith((_request, answer) => {
      runs++;
      answer.send('2.05', body, { contentFormat: 42 });
    });
    session.receive(get(1, '01'));
    const blocks: Buffer[] = [];
    let etag: Buffer | undefined;
    for (let num = 0; ; num++) {
      if (num > 0) {
        // A new token for every block, as libcoap does (RFC 7959 allows it).
        session.receive(
          get(1 + num, `0${num + 1}`, {
            options: [
              { name: 'Uri-Path', value: Buffer.from('big') },
              { name: 'Block2', value: Buffer.of((num << 4) | 6) },
            ],
          }),
        );
      }
      const answer = parsed()[num] as ParsedPacket;
      expect(answer.code).toBe('2.05');
      expect(optionOf(answer, 'Content-Format')).toEqual(Buffer.of(42));
      etag ??= optionOf(answer, 'ETag');
      expect(optionOf(answer, 'ETag')).toEqual(etag);
      blocks.push(answer.payload);
      const block2 = optionOf(answer, 'Block2') as Buffer;
      const value = block2.reduce((number, byte) => (number << 8) | byte, 0);
      expect(value >> 4).toBe(num);
      expect(value & 7).toBe(6);
      if ((value & 8) === 0) break;
    }
    expect(blocks.map((block) => block.length)).toEqual([1024, 1024, 452]);
    expect(Buffer.concat(blocks)).toEqual(body);
    expect(runs).toBe(1);
  });

  it('retransmits an unacknowledged command notification and ends the observation on its RST', async () => {
    vi.useFakeTimers();
    const closed: string[] = [];
    let observation: CommandObservation | undefined;
    const command: CommandMessage = {
      id: 'c1',
      sensorId: 'sensor',
      contentFormat: 0,
      payload: Buffer.from('reboot'),
      receivedAt: new Date(),
      expiresAt: new Date(Date.now() + 3_600_000),
    };
    const { session, sent, parsed } = sessionWith((_request, answer) => {
      const channel = answer.observe();
      if (!channel) throw new Error('not a registration');
      observation = new CommandObservation({
        stream: channel,
        sensorId: 'sensor',
        peer: session.id,
        token: '0c',
        commands: {
          subscribe: (_sensorId, deliver) => {
            deliver(command);
            return () => {};
          },
          delivered: () => {},
        },
        counters: new CoapCounters(),
        now: () => new Date(),
        ackTimeoutMs: 93_000,
        szx: 6,
        onClose: (_observation, reason) => closed.push(reason),
      });
      observation.start();
    });
    session.observablePaths = new Set(['/commands']);
    session.onEmptyMessage = (message) => observation?.answered(message.kind, message.messageId);
    session.receive(
      generate({
        code: '0.01',
        messageId: 20,
        token: Buffer.from('0c', 'hex'),
        confirmable: true,
        options: [
          { name: 'Observe', value: Buffer.alloc(0) },
          { name: 'Uri-Path', value: Buffer.from('commands') },
        ],
      }),
    );
    const [registration, notification] = parsed();
    expect(registration).toMatchObject({ ack: true, messageId: 20, code: '2.05' });
    expect(optionOf(registration as ParsedPacket, 'Observe')).toEqual(Buffer.of(1));
    expect(notification).toMatchObject({ confirmable: true, code: '2.05' });
    expect(notification?.payload.toString()).toBe('reboot');
    // No ACK: the same datagram again after ACK_TIMEOUT (2-3 s), then after twice that.
    vi.advanceTimersByTime(3_001);
    expect(sent).toHaveLength(3);
    expect(sent[2]).toEqual(sent[1]);
    vi.advanceTimersByTime(6_001);
    expect(sent).toHaveLength(4);
    const messageId = (notification as ParsedPacket).messageId;
    session.receive(generate({ code: '0.00', messageId, reset: true }));
    await vi.runAllTimersAsync();
    expect(closed).toEqual(['the sensor reset a notification']);
    expect(sent).toHaveLength(4); // nothing retransmitted after the RST
  });

  it('keeps no timer for a session that is idle, before or after a request answered at once', () => {
    vi.useFakeTimers();
    const { session, sent } = sessionWith((_request, answer) => answer.send('2.05', 'now'));
    expect(vi.getTimerCount()).toBe(0);
    session.receive(get(3, '03'));
    expect(sent).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('acknowledges a request not answered within 50 ms, then sends the answer as a confirmable response until acknowledged', () => {
    vi.useFakeTimers();
    let later: CoapAnswer | undefined;
    const { session, sent, parsed } = sessionWith((_request, answer) => {
      later = answer;
    });
    session.receive(get(9, '09'));
    expect(sent).toHaveLength(0);
    vi.advanceTimersByTime(51);
    expect(parsed()[0]).toMatchObject({ ack: true, messageId: 9, code: '0.00' });
    // A retransmission of the request meanwhile gets the empty ACK again, not a second run.
    session.receive(get(9, '09'));
    expect(parsed()[1]).toMatchObject({ ack: true, messageId: 9, code: '0.00' });
    later?.send('2.04');
    const separate = parsed()[2] as ParsedPacket;
    expect(separate).toMatchObject({ confirmable: true, code: '2.04' });
    expect(separate.token).toEqual(Buffer.from('09', 'hex'));
    vi.advanceTimersByTime(3_001);
    expect(sent[3]).toEqual(sent[2]);
    session.receive(generate({ code: '0.00', messageId: separate.messageId, ack: true }));
    vi.advanceTimersByTime(60_000);
    expect(sent).toHaveLength(4);
    expect(vi.getTimerCount()).toBe(0);
  });
});
