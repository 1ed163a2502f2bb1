import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { AnswerCacheBound } from '../../../../src/downstream/answer-cache-bound.js';
import { CoapSessions } from '../../../../src/downstream/coap/index.js';
import type { DtlsPeer, DtlsServer } from '../../../../src/tls/index.js';
import { coapGet } from '../../../bench/dtls/coap-get.js';
import { until } from '../../../helpers/dtls-pki.js';

/** A DtlsServer as CoapSessions uses it: its three events, send() and address(), recorded. */
class FakeDtlsServer extends EventEmitter {
  readonly sent: { to: string; datagram: Buffer }[] = [];

  send(address: string, port: number, data: Uint8Array): void {
    this.sent.push({ to: `${address}:${port}`, datagram: Buffer.from(data) });
  }

  address() {
    return { address: '127.0.0.1', port: 5684, family: 'IPv4' };
  }
}

const peer = (address: string, port: number): DtlsPeer =>
  ({ address, port, family: 'IPv4', identity: {}, resumed: false, cipher: 'test' }) as unknown as DtlsPeer;

/** The payload of a CoAP message with a 2-byte token and no options (as the handler below answers). */
const payloadOf = (datagram: Buffer) => datagram.subarray(datagram.indexOf(0xff) + 1).toString();

function sessionsOver(dtls: FakeDtlsServer) {
  const ended: string[] = [];
  const sessions = new CoapSessions(dtls as unknown as DtlsServer, {
    serve: (server, session) =>
      server.on('request', (_request: unknown, response: { end(body: string): void }) =>
        response.end(`from ${session}`),
      ),
    ended: (session) => ended.push(session),
    answers: new AnswerCacheBound(),
  });
  return { sessions, ended };
}

describe('CoapSessions', () => {
  it("a session's late 'sessionEnd' after a newer session took its address and port leaves the newer one alone", async () => {
    const dtls = new FakeDtlsServer();
    const { sessions, ended } = sessionsOver(dtls);
    const first = peer('10.0.0.1', 40000);
    const second = peer('10.0.0.1', 40000);
    dtls.emit('session', first);
    dtls.emit('session', second); // established before the first one's end was reported
    expect(ended).toEqual(['10.0.0.1:40000/1']);
    dtls.emit('sessionEnd', first);
    expect(ended).toEqual(['10.0.0.1:40000/1']);
    expect(sessions.size).toBe(1);
    dtls.emit('message', coapGet(1), second);
    await until(() => dtls.sent.length === 1);
    expect(payloadOf(dtls.sent[0]?.datagram as Buffer)).toBe('from 10.0.0.1:40000/2');
    dtls.emit('sessionEnd', second);
    expect(ended).toEqual(['10.0.0.1:40000/1', '10.0.0.1:40000/2']);
    expect(sessions.size).toBe(0);
  });

  it('ends a session re-judged (reverify hands out a new DtlsPeer) when its end carries the new object', () => {
    const dtls = new FakeDtlsServer();
    const { sessions, ended } = sessionsOver(dtls);
    const judged = peer('10.0.0.2', 40001);
    dtls.emit('session', judged);
    const rejudged = { ...judged } as DtlsPeer;
    sessions.refresh(rejudged);
    dtls.emit('sessionEnd', rejudged);
    expect(ended).toEqual(['10.0.0.2:40001/1']);
    expect(sessions.size).toBe(0);
  });

  it('a datagram carrying the DtlsPeer of an ended session goes to the session now at its address, or none', async () => {
    const dtls = new FakeDtlsServer();
    const { sessions } = sessionsOver(dtls);
    const first = peer('10.0.0.4', 40004);
    dtls.emit('session', first);
    dtls.emit('message', coapGet(1), first); // its session is found by the DtlsPeer object from now on
    await until(() => dtls.sent.length === 1);
    expect(payloadOf(dtls.sent[0]?.datagram as Buffer)).toBe('from 10.0.0.4:40004/1');
    dtls.emit('session', peer('10.0.0.4', 40004)); // supersedes the first
    dtls.emit('message', coapGet(2), first);
    await until(() => dtls.sent.length === 2);
    expect(payloadOf(dtls.sent[1]?.datagram as Buffer)).toBe('from 10.0.0.4:40004/2');
    const third = peer('10.0.0.5', 40005);
    dtls.emit('session', third);
    dtls.emit('message', coapGet(3), third);
    await until(() => dtls.sent.length === 3);
    dtls.emit('sessionEnd', third);
    dtls.emit('message', coapGet(4), third);
    expect(sessions.orphanDatagrams).toBe(1);
    expect(dtls.sent).toHaveLength(3);
  });

  it('drops a datagram for an address without a CoAP session', () => {
    const dtls = new FakeDtlsServer();
    const { sessions } = sessionsOver(dtls);
    dtls.emit('message', coapGet(2), peer('10.0.0.3', 40002));
    expect(sessions.orphanDatagrams).toBe(1);
    expect(dtls.sent).toEqual([]);
  });
});
