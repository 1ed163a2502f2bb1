import { generate, parse } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { CoapSession } from '../../../../src/downstream/coap/coap-session.js';

/**
 * A route that throws gets a 5.00 the session makes itself. Its text must stay internal (names, values
 * a sensor sent), and a message longer than one CoAP message once made coap-packet throw out of the
 * datagram handler and ended the daemon (npm run fuzz, seed 20261206, then under node-coap).
 */
function sessionThrowing(message: string) {
  const sent: Buffer[] = [];
  const reports: { code: string; text: string }[] = [];
  const session = new CoapSession(
    '10.0.0.1:40000/1',
    { address: '10.0.0.1', port: 40000 },
    {
      send: (_address, _port, datagram) => sent.push(Buffer.from(datagram)),
      errorAnswered: (_session, code, text) => reports.push({ code, text }),
    },
  );
  session.on('request', () => {
    throw new Error(message);
  });
  return { session, sent, reports };
}

const request = generate({
  code: '0.01',
  messageId: 0x1234,
  token: Buffer.from('0a0b', 'hex'),
  confirmable: true,
  options: [{ name: 'Uri-Path', value: Buffer.from('time') }],
});

describe('error answers of the CoAP session', () => {
  it('answers a route that throws a long message with a bounded generic 5.00, and reports the text', () => {
    const long = `command ${'x'.repeat(5000)} failed`;
    const { session, sent, reports } = sessionThrowing(long);
    expect(() => session.receive(request)).not.toThrow();
    expect(sent).toHaveLength(1);
    const answer = parse(sent[0] as Buffer);
    expect(answer.code).toBe('5.00');
    expect(answer.payload.toString()).toBe('the gateway could not process the request');
    expect(answer.messageId).toBe(0x1234);
    expect(answer.token.toString('hex')).toBe('0a0b');
    expect(reports).toHaveLength(1);
    expect(reports[0]?.code).toBe('5.00');
    expect(reports[0]?.text).toContain(long);
  });

  it('keeps the internal text out of a short 5.00 too', () => {
    const { session, sent, reports } = sessionThrowing('sqlite: disk I/O error at /var/lib/x');
    session.receive(request);
    expect(parse(sent[0] as Buffer).payload.toString()).toBe('the gateway could not process the request');
    expect(reports[0]?.text).toContain('sqlite: disk I/O error at /var/lib/x');
  });
});
