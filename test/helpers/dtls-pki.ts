import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pointer } from '../../src/native/openssl/libssl.js';
import { DtlsClient } from '../../src/tls/dtls/dtls-client.js';
import { DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import type { DtlsServerOptions } from '../../src/tls/dtls/dtls-server-options.js';
import { privateKeyFromPkcs8 } from '../../src/tls/openssl-objects.js';

/**
 * Test PKI for the DTLS tests, made with the openssl CLI (EC P-256): a sensor CA, the gateway's server
 * certificate, a good sensor (EKU clientAuth), a sensor from a rogue CA, a sensor with EKU serverAuth
 * only, and a sensor certificate without any EKU. PEM files for libcoap/s_client, DER for our code.
 */
export interface DtlsPki {
  dir: string;
  file(name: string): string;
  der(name: string): Uint8Array;
  /** EVP_PKEY* of `<name>.key` (PKCS#8), owned by the caller. */
  key(name: string): Pointer;
  remove(): void;
}

export function makeDtlsPki(): DtlsPki {
  const check = spawnSync('openssl', ['version'], { encoding: 'utf8' });
  if (check.error) throw new Error('openssl is missing: run scripts/setup.sh (apt-get install openssl)');
  const dir = mkdtempSync(join(tmpdir(), 'egw-dtls-'));
  const openssl = opensslIn(dir);
  const newKey = (name: string) =>
    newKeyPair(openssl, name, ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  const ca = (name: string, cn: string) => {
    newKey(name);
    openssl(
      'req',
      '-x509',
      '-new',
      '-key',
      `${name}.key`,
      '-subj',
      `/CN=${cn}`,
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
  };
  const leaf = (name: string, issuer: string, extensions: string) => {
    newKey(name);
    openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
    writeFileSync(
      join(dir, `${name}.ext`),
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n${extensions}`,
    );
    openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      `${issuer}.pem`,
      '-CAkey',
      `${issuer}.key`,
      '-CAcreateserial',
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      `${name}.ext`,
    );
  };
  ca('ca', 'Test Sensor CA');
  ca('rogue-ca', 'Rogue CA');
  leaf('server', 'ca', 'extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,IP:::1\n');
  leaf('sensor', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('sensor2', 'ca', 'extendedKeyUsage=clientAuth\n');
  leaf('rogue-sensor', 'rogue-ca', 'extendedKeyUsage=clientAuth\n');
  leaf('wrong-eku', 'ca', 'extendedKeyUsage=serverAuth\n');
  leaf('no-eku', 'ca', '');
  for (const name of [
    'ca',
    'rogue-ca',
    'server',
    'sensor',
    'sensor2',
    'rogue-sensor',
    'wrong-eku',
    'no-eku',
  ]) {
    openssl('x509', '-in', `${name}.pem`, '-outform', 'DER', '-out', `${name}.der`);
  }
  return {
    dir,
    file: (name) => join(dir, name),
    der: (name) => new Uint8Array(readFileSync(join(dir, `${name}.der`))),
    key: (name) => privateKeyFromPkcs8(readFileSync(join(dir, `${name}.pk8`))),
    remove: () => rmSync(dir, { recursive: true, force: true }),
  };
}

/**
 * One more sensor certificate in `pki`, issued by its sensor CA with EKU clientAuth, for the security
 * level tests: `key` is an openssl genpkey spec ("rsa:1024", "rsa:2048", "ec:P-256"), `digest` the
 * CA's signature hash. Files as for the others: `<name>.pem/.key/.pk8/.der`.
 */
export function addSensor(
  pki: DtlsPki,
  name: string,
  options: { key: `rsa:${number}` | `ec:${string}`; digest?: 'sha1' | 'sha256' },
): void {
  const openssl = opensslIn(pki.dir);
  const [algorithm, size] = options.key.split(':') as [string, string];
  newKeyPair(
    openssl,
    name,
    algorithm === 'rsa'
      ? ['-algorithm', 'RSA', '-pkeyopt', `rsa_keygen_bits:${size}`]
      : ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${size}`],
  );
  openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
  writeFileSync(
    join(pki.dir, `${name}.ext`),
    'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
  );
  openssl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    `-${options.digest ?? 'sha256'}`,
    '-out',
    `${name}.pem`,
    '-extfile',
    `${name}.ext`,
  );
  openssl('x509', '-in', `${name}.pem`, '-outform', 'DER', '-out', `${name}.der`);
}

/** A DtlsServer for `pki` on 127.0.0.1 (or `host`) at an ephemeral port, already listening. */
export async function startDtlsServer(
  pki: DtlsPki,
  options: Partial<DtlsServerOptions> = {},
  host = '127.0.0.1',
): Promise<{ server: DtlsServer; port: number }> {
  const server = new DtlsServer({
    certificateChain: [pki.der('server')],
    privateKey: pki.key('server'),
    ca: [pki.der('ca')],
    ...options,
  });
  const { port } = await server.listen({ port: 0, host });
  return { server, port };
}

/** startDtlsServer that echoes every message back prefixed "echo:", so a test sees it went through the session. */
export async function startEchoServer(pki: DtlsPki): Promise<{ server: DtlsServer; port: number }> {
  const started = await startDtlsServer(pki);
  started.server.on('message', (data, peer) =>
    started.server.send(peer.address, peer.port, Buffer.concat([Buffer.from('echo:'), data])),
  );
  return started;
}

/** A DtlsClient presenting `sensor` (default: the good sensor). */
export function connectSensor(
  pki: DtlsPki,
  port: number,
  sensor = 'sensor',
  extra: {
    host?: string;
    resume?: Pointer;
    mtu?: number;
    handshakeTimeoutMs?: number;
    extraChain?: Uint8Array[];
    localPort?: number;
    ciphers?: string;
  } = {},
): Promise<DtlsClient> {
  return DtlsClient.connect({
    host: extra.host ?? '127.0.0.1',
    port,
    ca: [pki.der('ca')],
    certificateChain: [pki.der(sensor), ...(extra.extraChain ?? [])],
    privateKey: pki.key(sensor),
    ...(extra.resume ? { resume: extra.resume } : {}),
    ...(extra.mtu ? { mtu: extra.mtu } : {}),
    ...(extra.handshakeTimeoutMs ? { handshakeTimeoutMs: extra.handshakeTimeoutMs } : {}),
    ...(extra.localPort ? { localPort: extra.localPort } : {}),
    ...(extra.ciphers ? { ciphers: extra.ciphers } : {}),
  });
}

/**
 * A DTLS 1.2 ClientHello in one datagram (record epoch 0, sequence `sequence`), offering
 * ECDHE-ECDSA-AES128-GCM-SHA256 on P-256 with the given cookie: enough for DTLSv1_listen and for
 * OpenSSL to answer with its ServerHello flight.
 */
export function clientHello(cookie: Uint8Array = new Uint8Array(0), sequence = 0): Buffer {
  const u16 = (value: number) => Buffer.from([value >> 8, value & 0xff]);
  const u24 = (value: number) => Buffer.from([value >> 16, (value >> 8) & 0xff, value & 0xff]);
  const extension = (type: number, data: Buffer) => Buffer.concat([u16(type), u16(data.length), data]);
  const extensions = Buffer.concat([
    extension(0x000a, Buffer.from([0x00, 0x02, 0x00, 0x17])), // supported_groups: secp256r1
    extension(0x000b, Buffer.from([0x01, 0x00])), // ec_point_formats: uncompressed
    extension(0x000d, Buffer.from([0x00, 0x02, 0x04, 0x03])), // signature_algorithms: ecdsa_secp256r1_sha256
    extension(0x0017, Buffer.alloc(0)), // extended_master_secret
  ]);
  const body = Buffer.concat([
    u16(0xfefd),
    Buffer.alloc(32, 7), // random
    Buffer.from([0]), // session id
    Buffer.from([cookie.length]),
    Buffer.from(cookie),
    u16(2),
    u16(0xc02b), // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
    Buffer.from([1, 0]), // compression: null
    u16(extensions.length),
    extensions,
  ]);
  // The ClientHello answering a HelloVerifyRequest is handshake message 1 (RFC 6347 §4.2.2).
  const messageSeq = cookie.length > 0 ? 1 : 0;
  const handshake = Buffer.concat([
    Buffer.from([1]),
    u24(body.length),
    u16(messageSeq),
    u24(0),
    u24(body.length),
    body,
  ]);
  const sequenceBytes = Buffer.alloc(6);
  sequenceBytes.writeUIntBE(sequence, 0, 6);
  return Buffer.concat([
    Buffer.from([22]),
    u16(0xfeff),
    u16(0),
    sequenceBytes,
    u16(handshake.length),
    handshake,
  ]);
}

/** The cookie of a HelloVerifyRequest datagram. */
export function cookieOf(helloVerifyRequest: Buffer): Buffer {
  // record header 13, handshake header 12, server_version 2, then the length-prefixed cookie
  const length = helloVerifyRequest[13 + 12 + 2] as number;
  return helloVerifyRequest.subarray(13 + 12 + 3, 13 + 12 + 3 + length);
}

/** A record of `contentType` at `epoch` whose body is `body` (not encrypted: for framing tests). */
export function rawRecord(
  contentType: number,
  epoch: number,
  body: Buffer,
  announcedLength = body.length,
): Buffer {
  const header = Buffer.alloc(13);
  header[0] = contentType;
  header.writeUInt16BE(0xfefd, 1);
  header.writeUInt16BE(epoch, 3);
  header.writeUIntBE(1, 5, 6);
  header.writeUInt16BE(announcedLength, 11);
  return Buffer.concat([header, body]);
}

/** Polls `condition` until it holds (the vitest timeout is the ceiling): for counters, not durations. */
export async function until(condition: () => boolean, everyMs = 10): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, everyMs));
}

export interface ProcessResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after `timeoutMs`, a ceiling against hangs, not an assertion). */
export function run(
  command: string,
  args: string[],
  options: { input?: string; timeoutMs?: number; keepStdinOpenMs?: number } = {},
): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', (error) =>
      reject(
        new Error(
          `${command} could not be started (${error.message}): run scripts/setup.sh ` +
            '(apt-get install openssl libcoap3-bin)',
        ),
      ),
    );
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 20_000);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    if (options.input !== undefined) child.stdin.write(options.input);
    if (options.keepStdinOpenMs === undefined) child.stdin.end();
    else setTimeout(() => child.stdin.end(), options.keepStdinOpenMs);
  });
}

/** Resolves with the first emission of `event` for which `accept` holds. */
export function waitFor<T extends unknown[]>(
  emitter: {
    on(event: string, listener: (...args: T) => void): unknown;
    off(event: string, listener: (...args: T) => void): unknown;
  },
  event: string,
  accept: (...args: T) => boolean = () => true,
): Promise<T> {
  return new Promise((resolve) => {
    const listener = (...args: T) => {
      if (!accept(...args)) return;
      emitter.off(event, listener);
      resolve(args);
    };
    emitter.on(event, listener);
  });
}

/**
 * A self-signed sensor certificate CN=`cn` in `dir` (EC P-256, CA:FALSE, digitalSignature, EKU
 * clientAuth, 2 days): files `<name>.key/.pk8/.pem/.der`; returns the DER. For enrollments by
 * thumbprint, e.g. another enrollment claiming a sensor's name.
 */
export function selfSignedSensor(dir: string, name: string, cn: string): Uint8Array {
  const openssl = opensslIn(dir);
  newKeyPair(openssl, name, ['-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256']);
  const extensions = [
    'basicConstraints=critical,CA:FALSE',
    'keyUsage=critical,digitalSignature',
    'extendedKeyUsage=clientAuth',
  ];
  openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    `${name}.key`,
    '-subj',
    `/CN=${cn}`,
    '-days',
    '2',
    ...extensions.flatMap((extension) => ['-addext', extension]),
    '-out',
    `${name}.pem`,
  );
  openssl('x509', '-in', `${name}.pem`, '-outform', 'DER', '-out', `${name}.der`);
  return new Uint8Array(readFileSync(join(dir, `${name}.der`)));
}

/** Runs the openssl CLI in `dir`; throws with its stderr when it fails. */
function opensslIn(dir: string): (...args: string[]) => void {
  return (...args) => {
    const result = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  };
}

/** `<name>.key` (PEM, from `openssl genpkey` with `algorithm`) and `<name>.pk8` (PKCS#8 DER) for our code. */
function newKeyPair(openssl: (...args: string[]) => void, name: string, algorithm: string[]): void {
  openssl('genpkey', ...algorithm, '-out', `${name}.key`);
  openssl('pkcs8', '-topk8', '-nocrypt', '-in', `${name}.key`, '-outform', 'DER', '-out', `${name}.pk8`);
}
