/**
 * Our DTLS endpoint with node-coap on top, as its own process so the benchmark measures its CPU and
 * RSS apart from the load generator. Argument: the bench PKI directory. Prints {"port": N} when ready.
 * Answers every request with a payload as long as libcoap's coap-server index (148 bytes on the wire).
 * The PKI directory is test/helpers/dtls-pki.ts's: server.pem, server.key, ca.pem.
 * Second argument `atecc`: the server key is in the ATECC608A simulator (modelled timing) instead.
 * Third argument `openssl`: established sessions stay on OpenSSL's record layer (default: the JS one).
 * Fourth argument `defaults`: the handshake budget as configured by default (sized from the fifth
 * argument, the signer's rate per second, if given), instead of lifted for one load generator.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import coap from 'coap';
import { CoapDtlsSocket, DtlsServer, privateKeyFromPkcs8 } from '../../../src/tls/index.js';
import { ateccServerIdentity } from './hardware-key-server.js';

const dir = process.argv[2] ?? '.';
const der = (file: string) =>
  new Uint8Array(
    Buffer.from(readFileSync(join(dir, file), 'utf8').replace(/-----[^-]+-----|\s/g, ''), 'base64'),
  );

const identity =
  process.argv[3] === 'atecc'
    ? await ateccServerIdentity(dir)
    : { chain: [der('server.pem')], key: privateKeyFromPkcs8(der('server.key')) };
const server = new DtlsServer({
  certificateChain: identity.chain,
  privateKey: identity.key,
  ca: [der('ca.pem')],
  maxSessions: 10_000,
  recordLayer: process.argv[4] === 'openssl' ? 'openssl' : 'js',
  ...(process.argv[5] === 'defaults'
    ? process.argv[6]
      ? { signaturesPerSecond: Number(process.argv[6]) }
      : {}
    : {
        // One load generator on one address opens thousands of sessions: lift the per-source limits.
        handshakeRate: {
          perAddress: { ratePerSecond: 100_000, burst: 100_000 },
          global: { ratePerSecond: 100_000, burst: 100_000 },
        },
        halfOpen: { perAddress: 100_000, global: 100_000 },
      }),
});
const { port } = await server.listen({ host: '127.0.0.1', port: 0 });
const payload = Buffer.alloc(136, 'x');
coap
  .createServer((_request: unknown, response: { end(body: Buffer): void }) => response.end(payload))
  .listen(new CoapDtlsSocket(server) as never);
process.stdout.write(`${JSON.stringify({ port })}\n`);
// Exit cleanly on SIGINT, so that `node --cpu-prof` writes its profile.
process.on('SIGINT', () => process.exit(0));
