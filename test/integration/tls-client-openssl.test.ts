import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer as createTcpServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer } from 'node:tls';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { KeyError, type KeyStore, type WorkerKeyStore } from '../../src/keys/index.js';
import { libcrypto } from '../../src/native/openssl/index.js';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { keyStorePrivateKey } from '../../src/tls/key-store-private-key.js';
import { privateKeyFromPkcs8 } from '../../src/tls/openssl-objects.js';
import {
  connectTls,
  TlsClientContext,
  type TlsClientOptions,
  type TlsClientStream,
} from '../../src/tls/tls-client/index.js';
import { TlsError } from '../../src/tls/tls-error.js';
import {
  ateccKeyStore,
  derOfCertFile,
  type PeerProcess,
  slowSigningKeyStore,
  startOpensslServer,
  TestPki,
  tpmKeyStore,
} from '../helpers/tls-peers.js';

// The key stores run their devices in workers from dist/: build first (`npm test` does).
type Backend = 'software' | 'tpm' | 'atecc608';
interface Client {
  privateKey: Pointer;
  chain: Uint8Array[];
}

let work: string;
let pki: TestPki;
let swtpm: SwtpmProcess | undefined;
const stores: WorkerKeyStore[] = [];
const clients = {} as Record<Backend, Client>;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-tls-openssl-'));
  pki = TestPki.create(join(work, 'pki'));
  const software = pki.softwareClient('0A01');
  clients.software = { privateKey: privateKeyFromPkcs8(software.pkcs8), chain: software.chain };

  const tpm = await tpmKeyStore(join(work, 'tpm'));
  swtpm = tpm.swtpm;
  stores.push(tpm.store);
  clients.tpm = {
    privateKey: keyStorePrivateKey(tpm.store, await tpm.store.publicKey()),
    chain: await pki.clientChain(tpm.store, '0B02'),
  };

  const atecc = await ateccKeyStore(work);
  stores.push(atecc);
  clients.atecc608 = {
    privateKey: keyStorePrivateKey(atecc, await atecc.publicKey()),
    chain: await pki.clientChain(atecc, '0C03'),
  };
});

afterAll(async () => {
  for (const client of Object.values(clients)) libcrypto().EVP_PKEY_free(client.privateKey);
  for (const store of stores) await store.close();
  await swtpm?.stop();
  rmSync(work, { recursive: true, force: true });
});

/** Resolves at 'secureConnect', rejects with the stream's error. */
function connected(options: TlsClientOptions): Promise<TlsClientStream> {
  return new Promise((resolve, reject) => {
    const stream = connectTls(options);
    stream.once('secureConnect', () => {
      stream.off('error', reject);
      resolve(stream);
    });
    stream.once('error', reject);
  });
}

/** The error the connection ends with, whether it comes during or right after the handshake. */
function failure(options: TlsClientOptions, send?: string): Promise<TlsError> {
  return new Promise((resolve, reject) => {
    const stream = connectTls(options);
    stream.on('secureConnect', () => {
      if (send) stream.write(send);
    });
    stream.on('data', () => undefined);
    stream.once('error', (error) => {
      if (error instanceof TlsError) resolve(error);
      else reject(error);
    });
    stream.once('close', () => reject(new Error('closed without an error')));
  });
}

/** Writes a line to an `s_server -rev` and returns its answer line. */
function exchange(stream: TlsClientStream, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let received = '';
    const onData = (chunk: Buffer) => {
      received += chunk.toString();
      const end = received.indexOf('\n');
      if (end >= 0) {
        stream.off('data', onData);
        stream.off('error', reject);
        resolve(received.slice(0, end));
      }
    };
    stream.on('data', onData);
    stream.once('error', reject);
    stream.write(`${line}\n`);
  });
}

/** end() → close_notify → FIN; resolves once the stream closed without an error. */
function closed(stream: TlsClientStream): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.once('close', () => resolve());
    stream.resume();
    stream.end();
  });
}

const reversed = (text: string) => [...text].reverse().join('');

describe.each([
  ['-tls1_3', 'TLSv1.3'],
  ['-tls1_2', 'TLSv1.2'],
] as const)('against openssl s_server %s requiring a client certificate', (flag, protocol) => {
  let server: PeerProcess;

  beforeAll(async () => {
    server = await startOpensslServer({ server: pki.server, version: flag, clientCa: pki.factoryRoot });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test.each(['software', 'tpm', 'atecc608'] as const)(
    'mutual TLS with the client key in %s: negotiates the version, verifies the server, data round-trips',
    async (backend) => {
      const client = clients[backend];
      const stream = await connected({
        host: 'localhost',
        port: server.port,
        ca: pki.trustBundle,
        certificateChain: client.chain,
        privateKey: client.privateKey,
      });
      expect(stream.protocol).toBe(protocol);
      expect(stream.cipher).toMatch(protocol === 'TLSv1.3' ? /^TLS_AES_|^TLS_CHACHA20/ : /ECDHE-ECDSA/);
      expect(stream.authorized).toBe(true);
      expect(Buffer.from(stream.peerCertificateChain[0] ?? [])).toEqual(
        Buffer.from(derOfCertFile(pki.server.cert)),
      );
      const line = `hello from the ${backend} key over ${protocol}`;
      expect(await exchange(stream, line)).toBe(reversed(line));
      // A second exchange on the same session, larger than one read chunk of the server's.
      const long = 'x'.repeat(3000) + backend;
      expect(await exchange(stream, long)).toBe(reversed(long));
      await closed(stream);
    },
  );

  test('an IP literal host is verified against the IP subjectAltName and sends no SNI', async () => {
    const stream = await connected({
      host: '127.0.0.1',
      port: server.port,
      ca: pki.trustBundle,
      certificateChain: clients.software.chain,
      privateKey: clients.software.privateKey,
    });
    expect(stream.protocol).toBe(protocol);
    expect(await exchange(stream, 'by address')).toBe(reversed('by address'));
    await closed(stream);
  });

  test('without a client certificate → EGW_TLS_ALERT naming the alert the server sent', async () => {
    const error = await failure({ host: 'localhost', port: server.port, ca: pki.trustBundle }, 'anyone?\n');
    expect(error.code).toBe('EGW_TLS_ALERT');
    // TLS 1.3 has a dedicated alert; TLS 1.2 servers answer with handshake_failure.
    expect(error.message).toContain(
      protocol === 'TLSv1.3' ? 'alert "certificate required" (116)' : 'alert "handshake failure" (40)',
    );
    expect(error.message).toContain(`localhost:${server.port}`);
    expect(error.hint).toContain('client certificate');
  });

  test('a key store that cannot sign → EGW_TLS_KEY_STORE carrying the KeyError', async () => {
    const tpm = stores[0] as KeyStore;
    const failing: KeyStore = {
      get info() {
        return tpm.info;
      },
      publicKey: () => tpm.publicKey(),
      signDigest: (digest) => tpm.signDigest(digest),
      signDigestSync: () => {
        throw new KeyError('EGW_KEY_TIMEOUT', 'tpm key device did not answer signDigestSync within 5000 ms', {
          hint: 'check the TPM',
        });
      },
      certificates: () => tpm.certificates(),
      healthCheck: () => tpm.healthCheck(),
      close: async () => undefined,
    };
    const privateKey = keyStorePrivateKey(failing, await tpm.publicKey());
    try {
      const error = await failure({
        host: 'localhost',
        port: server.port,
        ca: pki.trustBundle,
        certificateChain: clients.tpm.chain,
        privateKey,
      });
      expect(error.code).toBe('EGW_TLS_KEY_STORE');
      expect(error.message).toContain('EGW_KEY_TIMEOUT');
      expect(error.hint).toBe('check the TPM');
      expect((error.cause as KeyError).code).toBe('EGW_KEY_TIMEOUT');
    } finally {
      libcrypto().EVP_PKEY_free(privateKey);
    }
  });
});

describe('server certificate verification (always on)', () => {
  const peers: PeerProcess[] = [];
  afterAll(async () => {
    for (const peer of peers) await peer.stop();
  });
  const serve = async (server: { cert: string; key: string }) => {
    const peer = await startOpensslServer({ server, version: '-tls1_3' });
    peers.push(peer);
    return peer;
  };

  test('a server certificate from a CA outside the trust bundle → EGW_TLS_UNKNOWN_CA', async () => {
    const peer = await serve(pki.rogueServer);
    const error = await failure({ host: 'localhost', port: peer.port, ca: pki.trustBundle });
    expect(error.code).toBe('EGW_TLS_UNKNOWN_CA');
    expect(error.message).toContain('unable to get local issuer certificate (X509_V_ERR 20)');
    expect(error.message).toContain('depth 0 (/CN=localhost)');
    expect(error.hint).toContain('trust bundle');
  });

  test('a name the certificate does not carry → EGW_TLS_HOSTNAME_MISMATCH', async () => {
    const peer = await serve(pki.server);
    const error = await failure({
      host: '127.0.0.1',
      port: peer.port,
      servername: 'broker.example.net',
      ca: pki.trustBundle,
    });
    expect(error.code).toBe('EGW_TLS_HOSTNAME_MISMATCH');
    expect(error.message).toContain('broker.example.net');
    expect(error.message).toContain('(X509_V_ERR 62)');
  });

  test('an expired server certificate → EGW_TLS_CERT_EXPIRED', async () => {
    const peer = await serve(await pki.expiredServer());
    const error = await failure({ host: 'localhost', port: peer.port, ca: pki.trustBundle });
    expect(error.code).toBe('EGW_TLS_CERT_EXPIRED');
    expect(error.message).toContain('certificate has expired (X509_V_ERR 10)');
  });

  test('a port that does not speak TLS → EGW_TLS_PROTOCOL', async () => {
    const peer = await serve(pki.server);
    const plain = await import('node:net').then(
      ({ createServer }) =>
        new Promise<import('node:net').Server>((resolve) => {
          const s = createServer((socket) => socket.end('SSH-2.0-OpenSSH_9.2\r\n'));
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    );
    try {
      const port = (plain.address() as { port: number }).port;
      const error = await failure({ host: 'localhost', port, ca: pki.trustBundle });
      expect(error.code).toBe('EGW_TLS_PROTOCOL');
      expect(error.message).toContain('wrong version number');
    } finally {
      plain.close();
    }
    expect(peer.port).toBeGreaterThan(0);
  });

  test('configuration errors are thrown by connectTls with EGW_TLS_CONFIG', () => {
    expect(() => connectTls({ host: 'localhost', port: 1, ca: [] })).toThrow(
      expect.objectContaining({ code: 'EGW_TLS_CONFIG' }),
    );
    expect(() =>
      connectTls({ host: 'localhost', port: 1, ca: pki.trustBundle, certificateChain: clients.tpm.chain }),
    ).toThrow(
      expect.objectContaining({ code: 'EGW_TLS_CONFIG', message: expect.stringContaining('private key') }),
    );
    // A key that is not the leaf's.
    expect(
      () =>
        new TlsClientContext({
          ca: pki.trustBundle,
          certificateChain: clients.tpm.chain,
          privateKey: clients.software.privateKey,
        }),
    ).toThrow(
      expect.objectContaining({ code: 'EGW_TLS_CONFIG', message: expect.stringContaining('does not') }),
    );
  });
});

describe('node:http over the TLS stream', () => {
  let server: PeerProcess;
  beforeAll(async () => {
    server = await startOpensslServer({
      server: pki.server,
      version: '-tls1_3',
      clientCa: pki.factoryRoot,
      mode: '-www',
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('http.request({ createConnection }) with a shared context and the swtpm key gets the status page', async () => {
    const context = new TlsClientContext({
      ca: pki.trustBundle,
      certificateChain: clients.tpm.chain,
      privateKey: clients.tpm.privateKey,
    });
    try {
      for (let i = 0; i < 2; i++) {
        const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
          const req = request(
            {
              host: 'localhost',
              port: server.port,
              path: '/',
              createConnection: () => connectTls({ host: 'localhost', port: server.port, context }),
            },
            (res) => {
              let body = '';
              res.setEncoding('utf8');
              res.on('data', (chunk: string) => {
                body += chunk;
              });
              res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
              res.on('error', reject);
            },
          );
          req.on('error', reject);
          req.end();
        });
        expect(status).toBe(200);
        expect(body).toContain('TLSv1.3');
      }
    } finally {
      context.free();
    }
  });
});

describe('SNI', () => {
  let server: PeerProcess;
  beforeAll(async () => {
    // A server that knows only "sni.example.test" and fails any other name the client sends.
    server = await startOpensslServer({
      server: pki.server,
      version: '-tls1_3',
      extra: [
        '-servername',
        'sni.example.test',
        '-cert2',
        pki.server.cert,
        '-key2',
        pki.server.key,
        '-servername_fatal',
      ],
    });
  });
  afterAll(async () => {
    await server?.stop();
  });

  test('the servername is sent: a name the server does not know gets alert "unrecognized name"', async () => {
    const error = await failure({ host: 'localhost', port: server.port, ca: pki.trustBundle });
    expect(error.code).toBe('EGW_TLS_ALERT');
    expect(error.message).toContain('"unrecognized name" (112)');
  });

  test('an explicit servername is what gets sent (and verified, here: turned off)', async () => {
    const stream = await connected({
      host: 'localhost',
      servername: 'sni.example.test',
      verifyHostname: false,
      port: server.port,
      ca: pki.trustBundle,
    });
    expect(stream.protocol).toBe('TLSv1.3');
    await closed(stream);
  });

  test('an IP literal sends no SNI at all, so the server has nothing to refuse', async () => {
    const stream = await connected({ host: '127.0.0.1', port: server.port, ca: pki.trustBundle });
    expect(stream.protocol).toBe('TLSv1.3');
    await closed(stream);
  });
});

/** Polls (no deadline of its own: the test timeout is the ceiling) until `condition` holds. */
async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const sha256 = (data: Uint8Array) => createHash('sha256').update(data).digest('hex');

describe('stream behaviour (node:tls echo server as the peer)', () => {
  let echo: Server;
  let port: number;
  beforeAll(async () => {
    echo = createTlsServer(
      {
        cert: readFileSync(pki.server.cert),
        key: readFileSync(pki.server.key),
        ca: readFileSync(pki.factoryRoot),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.pipe(socket),
    );
    await new Promise<void>((resolve) => echo.listen(0, '127.0.0.1', resolve));
    port = (echo.address() as { port: number }).port;
  });
  afterAll(async () => {
    await new Promise((resolve) => echo.close(resolve));
  });

  const options = (): TlsClientOptions => ({
    host: 'localhost',
    port,
    ca: pki.trustBundle,
    certificateChain: clients.tpm.chain,
    privateKey: clients.tpm.privateKey,
  });

  test('backpressure both ways: a reader that stops pauses the socket; 8 MiB echo back intact', async () => {
    const stream = await connected(options());
    const payload = randomBytes(8 << 20);
    let writeDone = false;
    stream.end(payload, () => {
      writeDone = true;
    });
    // Nobody reads: the readable buffer fills, the TCP socket is paused, the echo server stalls,
    // and so does our write (its callback waits for the socket to drain).
    await until(() => stream.socket.isPaused());
    expect(stream.readableLength).toBeGreaterThanOrEqual(stream.readableHighWaterMark);
    expect(writeDone).toBe(false);
    const chunks: Buffer[] = [];
    for await (const chunk of stream) chunks.push(chunk as Buffer);
    const echoed = Buffer.concat(chunks);
    expect(echoed.length).toBe(payload.length);
    expect(sha256(echoed)).toBe(sha256(payload));
    expect(writeDone).toBe(true);
  });

  test('many small writes made before the handshake finishes are sent in order after it', async () => {
    const stream = connectTls(options());
    const parts = Array.from({ length: 500 }, (_, i) => `${i},`);
    for (const part of parts) stream.write(part);
    stream.end();
    let echoed = '';
    for await (const chunk of stream) echoed += (chunk as Buffer).toString();
    expect(echoed).toBe(parts.join(''));
    expect(stream.protocol).toBe('TLSv1.3');
  });

  test('data from a server that has gone before we read it stays readable, then the stream ends and closes', async () => {
    const parting = createTlsServer(
      {
        cert: readFileSync(pki.server.cert),
        key: readFileSync(pki.server.key),
        ca: readFileSync(pki.factoryRoot),
        requestCert: true,
        rejectUnauthorized: true,
      },
      (socket) => socket.end('last words'),
    );
    await new Promise<void>((resolve) => parting.listen(0, '127.0.0.1', resolve));
    try {
      const stream = connectTls({ ...options(), port: (parting.address() as { port: number }).port });
      stream.pause();
      // The server's FIN is in; our side stays open (half-open) until the reader has seen 'end'.
      await new Promise((resolve) => stream.socket.once('end', resolve));
      expect(stream.destroyed).toBe(false);
      const closedEvent = new Promise((resolve) => stream.once('close', resolve));
      let text = '';
      for await (const chunk of stream) text += (chunk as Buffer).toString();
      expect(text).toBe('last words');
      await closedEvent;
    } finally {
      parting.close();
    }
  });

  test('destroy() during the handshake closes quietly and frees the connection', async () => {
    const stream = connectTls(options());
    const errors: Error[] = [];
    stream.on('error', (error) => errors.push(error));
    await new Promise<void>((resolve) => {
      stream.once('close', () => resolve());
      stream.destroy();
    });
    expect(errors).toEqual([]);
    expect(stream.destroyed).toBe(true);
  });
});

describe('a server that never answers', () => {
  let silent: Server;
  beforeAll(async () => {
    silent = createTcpServer(() => undefined);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  });
  afterAll(async () => {
    silent.close();
  });

  test('→ EGW_TLS_TIMEOUT after handshakeTimeoutMs', async () => {
    const port = (silent.address() as { port: number }).port;
    const error = await failure({ host: 'localhost', port, ca: pki.trustBundle, handshakeTimeoutMs: 200 });
    expect(error.code).toBe('EGW_TLS_TIMEOUT');
    expect(error.message).toBe(`TLS handshake with localhost:${port} did not finish within 200 ms`);
  });
});

describe('a hardware key signs on the TLS handshake thread', () => {
  test('the event loop keeps running while the client key signs (TLS 1.3 CertificateVerify)', async () => {
    // Test double: the software key, 300 ms per signature, flagging while it signs. Were the signature
    // waited for on the event loop, no timer could fire while the flag is up.
    const { store, flags } = await slowSigningKeyStore(work, 'slow-tls-client', 300);
    stores.push(store);
    const server = await startOpensslServer({
      server: pki.server,
      version: '-tls1_3',
      clientCa: pki.factoryRoot,
    });
    const privateKey = keyStorePrivateKey(store, await store.publicKey());
    const certificateChain = await pki.clientChain(store, '0D04'); // a signature of its own (the CSR)
    const signaturesBefore = Atomics.load(flags, 1);
    let ticksWhileSigning = 0;
    const ticker = setInterval(() => {
      if (Atomics.load(flags, 0) === 1) ticksWhileSigning++;
    }, 1);
    try {
      const stream = await connected({
        host: 'localhost',
        port: server.port,
        ca: pki.trustBundle,
        certificateChain,
        privateKey,
      });
      expect(Atomics.load(flags, 1) - signaturesBefore).toBe(1);
      expect(ticksWhileSigning).toBeGreaterThan(0);
      expect(await exchange(stream, 'signed off the loop')).toBe(reversed('signed off the loop'));
      await closed(stream);
    } finally {
      clearInterval(ticker);
      libcrypto().EVP_PKEY_free(privateKey);
      await server.stop();
    }
  });

  test('an alert the server sends during a step on that thread is still named (TLS 1.2, client CA not trusted)', async () => {
    const server = await startOpensslServer({
      server: pki.server,
      version: '-tls1_2',
      clientCa: pki.rogueCa,
    });
    try {
      const error = await failure({
        host: 'localhost',
        port: server.port,
        ca: pki.trustBundle,
        certificateChain: clients.atecc608.chain,
        privateKey: clients.atecc608.privateKey,
      });
      expect(error.code).toBe('EGW_TLS_ALERT');
      expect(error.message).toContain('the server sent alert "unknown ca" (48)');
    } finally {
      await server.stop();
    }
  });
});
