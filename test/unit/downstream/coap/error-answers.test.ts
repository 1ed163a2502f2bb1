import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import coap from 'coap';
import { generate, parse } from 'coap-packet';
import { afterEach, describe, expect, it } from 'vitest';
import { guardErrorAnswers } from '../../../../src/downstream/coap/error-answers.js';

/**
 * node-coap answers a handler that throws with 5.00 and the error's message; a message longer than one
 * CoAP message made coap-packet throw out of the socket handler and ended the daemon (npm run fuzz,
 * seed 20261206). A real node-coap server on a real UDP socket, a raw client.
 */
const servers: ReturnType<typeof coap.createServer>[] = [];
const clients: dgram.Socket[] = [];

afterEach(() => {
  for (const server of servers.splice(0)) server.close();
  for (const client of clients.splice(0)) client.close();
});

async function serverThrowing(message: string) {
  const server = coap.createServer(() => {
    throw new Error(message);
  });
  servers.push(server);
  const reports: { code: string; text: string }[] = [];
  guardErrorAnswers(server, (code, text) => reports.push({ code, text }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = ((server as unknown as { _sock: dgram.Socket })._sock.address() as AddressInfo).port;
  return { port, reports };
}

async function ask(port: number): Promise<ReturnType<typeof parse>> {
  const client = dgram.createSocket('udp4');
  clients.push(client);
  const answer = new Promise<Buffer>((resolve) => client.once('message', resolve));
  const request = generate({
    code: '0.01',
    messageId: 0x1234,
    token: Buffer.from('0a0b', 'hex'),
    confirmable: true,
    options: [{ name: 'Uri-Path', value: Buffer.from('time') }],
  });
  client.send(request, port, '127.0.0.1');
  return parse(await answer);
}

describe('guardErrorAnswers', () => {
  it('answers a handler that throws a long message with a bounded generic 5.00, and reports the text', async () => {
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown) => uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const long = `command ${'x'.repeat(5000)} failed`;
      const { port, reports } = await serverThrowing(long);
      const answer = await ask(port);
      expect(answer.code).toBe('5.00');
      expect(answer.payload.toString()).toBe('the gateway could not process the request');
      expect(answer.messageId).toBe(0x1234);
      expect(reports).toEqual([{ code: '5.00', text: long }]);
      expect(uncaught).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
    }
  });

  it('keeps the internal text out of a short 5.00 too', async () => {
    const { port, reports } = await serverThrowing('sqlite: disk I/O error at /var/lib/x');
    const answer = await ask(port);
    expect(answer.payload.toString()).toBe('the gateway could not process the request');
    expect(reports[0]?.text).toBe('sqlite: disk I/O error at /var/lib/x');
  });
});
