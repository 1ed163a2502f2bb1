import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { libcrypto } from '../../src/native/openssl/libcrypto.js';
import { libssl } from '../../src/native/openssl/libssl.js';
import type { DtlsHandshakeFailedEvent, DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import { DEFAULT_DTLS_CIPHERS } from '../../src/tls/dtls/dtls-server-options.js';
import { privateKeyFromPkcs8 } from '../../src/tls/openssl-objects.js';
import { applySecurityPolicy, MIN_SECURITY_LEVEL } from '../../src/tls/security-policy.js';
import { connectTls, type TlsClientStream } from '../../src/tls/tls-client/index.js';
import {
  addSensor,
  connectSensor,
  type DtlsPki,
  makeDtlsPki,
  run,
  startEchoServer,
  waitFor,
} from '../helpers/dtls-pki.js';
import { type PeerProcess, startOpensslServer, TestPki } from '../helpers/tls-peers.js';

/**
 * OpenSSL 3.5 (node 24/26) runs at security level 2 and rates the CCM_8 suites at 64 bits, which
 * dropped RFC 7925's mandatory CoAP suite (TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8). The engine admits
 * exactly the CCM_8 suites its cipher list names through a security callback and keeps level 2 for
 * everything else (src/tls/security-policy.ts). Clients here: openssl s_client (Debian's OpenSSL 3.0,
 * an independent implementation of the suite) and our own DtlsClient.
 */
const SUITES = DEFAULT_DTLS_CIPHERS.split(':');
const CCM_8_ONLY = 'ECDHE-ECDSA-AES128-CCM8';

let pki: DtlsPki;
let server: DtlsServer;
let port: number;

beforeAll(async () => {
  pki = makeDtlsPki();
  addSensor(pki, 'rsa1024-sensor', { key: 'rsa:1024' });
  addSensor(pki, 'rsa2048-sensor', { key: 'rsa:2048' });
  addSensor(pki, 'sha1-sensor', { key: 'ec:P-256', digest: 'sha1' });
  ({ server, port } = await startEchoServer(pki)); // the default cipher list
});

afterAll(async () => {
  await server?.close();
  pki?.remove();
});

/**
 * `openssl s_client -dtls1_2` offering only `cipher`. The client itself runs at @SECLEVEL=0 so that
 * whatever is refused is refused by our server, not by the client's own (Debian) policy.
 */
function sClient(cipher: string, sensor = 'sensor', input = 'ping\n') {
  return run(
    'openssl',
    [
      's_client',
      '-dtls1_2',
      '-connect',
      `127.0.0.1:${port}`,
      '-cert',
      pki.file(`${sensor}.pem`),
      '-key',
      pki.file(`${sensor}.key`),
      '-CAfile',
      pki.file('ca.pem'),
      '-verify_return_error',
      '-cipher',
      `${cipher}:@SECLEVEL=0`,
    ],
    { input, timeoutMs: 20_000 },
  );
}

describe('the DTLS server on OpenSSL security level 2', () => {
  it.each(SUITES)('completes a handshake with openssl s_client offering only %s', async (cipher) => {
    const received = waitFor<[Buffer]>(server, 'message');
    const result = await sClient(cipher, 'sensor', `only ${cipher}\n`);
    expect(result.stdout).toContain(`New, TLSv1.2, Cipher is ${cipher}`);
    expect(result.code, result.stderr).toBe(0);
    expect((await received)[0].toString()).toBe(`only ${cipher}\n`);
  });

  it.each(SUITES)('completes a handshake with our DtlsClient offering only %s', async (cipher) => {
    const client = await connectSensor(pki, port, 'sensor', { ciphers: cipher });
    try {
      expect(client.cipher).toBe(cipher);
      expect((await client.request(Buffer.from('x'))).toString()).toBe('echo:x');
    } finally {
      client.close();
    }
  });

  it('admits only the CCM_8 suites its list names: AES-256-CCM-8 is refused when only AES-128 is listed', async () => {
    const failed = waitFor<[DtlsHandshakeFailedEvent]>(server, 'handshakeFailed');
    const result = await sClient('ECDHE-ECDSA-AES256-CCM8');
    expect(result.code).not.toBe(0);
    expect((await failed)[0].reason).toBe('noSharedCipher');
  });

  // Level 2 still holds for everything else, CCM_8 handshakes included.
  it.each([
    ['an RSA-1024 sensor key', 'rsa1024-sensor', /X509 error 66 at depth 0/],
    ['a sensor certificate signed with SHA-1', 'sha1-sensor', /X509 error 68 at depth 0/],
  ])('refuses %s over CCM_8 (belowSecurityLevel)', async (_what, sensor, detail) => {
    const failed = waitFor<[DtlsHandshakeFailedEvent]>(server, 'handshakeFailed');
    const result = await sClient(CCM_8_ONLY, sensor);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/alert bad certificate/);
    const [event] = await failed;
    expect(event.reason).toBe('belowSecurityLevel');
    expect(event.error.message).toMatch(detail);
    expect(event.error.hint).toMatch(/security level 2/);
  });

  it('accepts an RSA-2048 sensor key over CCM_8 (112-bit, exactly level 2)', async () => {
    const result = await sClient(CCM_8_ONLY, 'rsa2048-sensor');
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain(`Cipher is ${CCM_8_ONLY}`);
  });
});

describe('applySecurityPolicy', () => {
  const newContext = (level?: number) => {
    const ssl = libssl();
    const ctx = ssl.SSL_CTX_new(ssl.DTLS_server_method());
    if (level !== undefined) ssl.SSL_CTX_set_security_level(ctx, level);
    return ctx;
  };

  it('keeps level 2 on the context and on every SSL made from it, and names the CCM_8 suites it admits', () => {
    const ssl = libssl();
    const ctx = newContext();
    try {
      expect(ssl.SSL_CTX_set_cipher_list(ctx, DEFAULT_DTLS_CIPHERS)).toBe(1);
      expect(applySecurityPolicy(ctx)).toEqual({ level: 2, admittedCcm8: [CCM_8_ONLY] });
      expect(ssl.SSL_CTX_get_security_level(ctx)).toBe(MIN_SECURITY_LEVEL);
      const connection = ssl.SSL_new(ctx);
      expect(ssl.SSL_get_security_level(connection)).toBe(2);
      ssl.SSL_free(connection);
    } finally {
      ssl.SSL_CTX_free(ctx);
    }
  });

  it('raises a lower level to 2 and never lowers a higher one', () => {
    const ssl = libssl();
    for (const [before, after] of [
      [0, 2],
      [1, 2],
      [3, 3],
    ]) {
      const ctx = newContext(before);
      try {
        expect(applySecurityPolicy(ctx).level).toBe(after);
        expect(ssl.SSL_CTX_get_security_level(ctx)).toBe(after);
      } finally {
        ssl.SSL_CTX_free(ctx);
      }
    }
  });

  it("leaves OpenSSL's own callback alone when the list selects no CCM_8 suite", () => {
    const ssl = libssl();
    const ctx = newContext();
    try {
      const original = ssl.SSL_CTX_get_security_callback(ctx);
      ssl.SSL_CTX_set_cipher_list(ctx, 'ECDHE-ECDSA-AES128-GCM-SHA256');
      expect(applySecurityPolicy(ctx).admittedCcm8).toEqual([]);
      expect(ssl.SSL_CTX_get_security_callback(ctx)).toBe(original);
    } finally {
      ssl.SSL_CTX_free(ctx);
    }
  });
});

describe('the TLS client (upstream) on OpenSSL security level 2', () => {
  let dir: string;
  let tlsPki: TestPki;
  let sServer: PeerProcess;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'egw-tls-level-'));
    tlsPki = TestPki.create(join(dir, 'pki'));
    sServer = await startOpensslServer({
      server: tlsPki.server,
      version: '-tls1_2',
      extra: ['-cipher', `${CCM_8_ONLY}:@SECLEVEL=0`],
    });
  });
  afterAll(async () => {
    await sServer?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('connects to a server that speaks only a CCM_8 suite when its cipher list names it', async () => {
    const client = tlsPki.softwareClient('0D04');
    const privateKey = privateKeyFromPkcs8(client.pkcs8);
    try {
      const stream = await new Promise<TlsClientStream>((resolve, reject) => {
        const connecting = connectTls({
          host: 'localhost',
          port: sServer.port,
          ca: tlsPki.trustBundle,
          certificateChain: client.chain,
          privateKey,
          maxVersion: 'TLSv1.2',
          ciphers: CCM_8_ONLY,
        });
        connecting.once('secureConnect', () => resolve(connecting));
        connecting.once('error', reject);
      });
      expect(stream.cipher).toBe(CCM_8_ONLY);
      stream.destroy();
    } finally {
      libcrypto().EVP_PKEY_free(privateKey);
    }
  });
});
