/**
 * The hw-sim EST server (RFC 7030) against clients that share no code with it: curl for HTTPS (client
 * certificates, Basic auth, keep-alive) and the openssl CLI for everything cryptographic (CSRs,
 * base64, PKCS#7, chain verification, certificate profile). The server runs in this process; every
 * client call is an async child process so the server keeps answering while it runs.
 */
import { execFile, spawn, spawnSync } from 'node:child_process';
import { webcrypto } from 'node:crypto';
import {
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type EstAuditEntry,
  EstCa,
  EstServer,
  type EstServerOptions,
} from '../../hw-sim/est-server/index.js';
import { InProcessKeyStore, SoftwareKeyDevice } from '../../src/keys/index.js';
import { buildCsr } from '../../src/pki/index.js';
import * as x509 from '../../src/pki/x509.js';

const execFileAsync = promisify(execFile);
const factoryCaScript = fileURLToPath(new URL('../../scripts/factory-ca.sh', import.meta.url));
const mainJs = fileURLToPath(new URL('../../dist/hw-sim/est-server/main.js', import.meta.url));
const DEVICE_TYPE_OID = '1.3.6.1.4.1.12345.1.1';
const LIFETIME_SECONDS = 3600;

let work: string;
/** Files made with openssl in beforeAll. */
const files = {
  factoryRoot: '',
  /** Factory device certificate + the factory intermediate: what curl presents. */
  factoryClient: '',
  rogueClient: '',
  rogueKey: '',
  deviceKey: '',
  /** base64 (64-column lines, LF, trailing newline) of a DER CSR asking for clientAuth+serverAuth. */
  csr: '',
  /** The same CSR in one base64 line without a newline. */
  csrOneLine: '',
  csrClientOnly: '',
  csrOtherSubject: '',
  csrNoCn: '',
  csrBadSignature: '',
  garbage: '',
};
const servers: EstServer[] = [];

/** Runs openssl synchronously (it never talks to the in-process server) and returns stdout. */
function openssl(args: string[], input?: string | Buffer): string {
  const result = spawnSync('openssl', args, { cwd: work, input, encoding: 'utf8' });
  if (result.error) throw new Error('openssl is missing: apt-get install openssl (or run scripts/setup.sh)');
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function opensslStatus(args: string[]): { status: number | null; output: string } {
  const result = spawnSync('openssl', args, { cwd: work, encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

function file(name: string, content: string | Buffer): string {
  const path = join(work, name);
  writeFileSync(path, content);
  return path;
}

/** DER CSR for the device key, base64 with line breaks as EST clients send it. */
function makeCsr(name: string, subject: string, extensions: string[]): string {
  const der = join(work, `${name}.der`);
  const addext = extensions.flatMap((extension) => ['-addext', extension]);
  openssl([
    'req',
    '-new',
    '-key',
    files.deviceKey,
    '-subj',
    subject,
    ...addext,
    '-outform',
    'DER',
    '-out',
    der,
  ]);
  openssl(['base64', '-in', der, '-out', join(work, `${name}.b64`)]);
  return join(work, `${name}.b64`);
}

const FULL_PROFILE = [
  'subjectAltName=DNS:device-ABC,URI:urn:dev:serial:ABC',
  'extendedKeyUsage=clientAuth,serverAuth',
  `${DEVICE_TYPE_OID}=ASN1:UTF8String:edge-gateway`,
];

interface Http {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** curl -v output (connection reuse etc.). */
  trace: string;
}

interface CurlOptions {
  cert?: string;
  key?: string;
  /** File whose bytes are POSTed (--data-binary @file). */
  data?: string;
  contentType?: string;
  basic?: string;
  method?: string;
}

/** One HTTPS call with curl, pinning the server's root. */
async function curl(server: EstServer, path: string, options: CurlOptions = {}): Promise<Http> {
  const id = Math.random().toString(36).slice(2);
  const bodyFile = join(work, `curl-${id}.body`);
  const headerFile = join(work, `curl-${id}.headers`);
  const args = ['-sS', '-v', '--cacert', rootFile(server), '-o', bodyFile, '-D', headerFile];
  if (options.cert) args.push('--cert', options.cert, '--key', options.key ?? files.deviceKey);
  if (options.data) args.push('--data-binary', `@${options.data}`);
  if (options.contentType) args.push('-H', `Content-Type: ${options.contentType}`);
  if (options.basic) args.push('-u', options.basic);
  if (options.method) args.push('-X', options.method);
  args.push(`${server.url}${path}`);
  const { stderr } = await execFileAsync('curl', args, { encoding: 'utf8' });
  const blocks = readFileSync(headerFile, 'utf8')
    .trim()
    .split(/\r?\n\r?\n/);
  const lines = (blocks.at(-1) ?? '').split(/\r?\n/);
  const status = Number(/^HTTP\/[\d.]+ (\d{3})/.exec(lines[0] ?? '')?.[1]);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { status, headers, body: readFileSync(bodyFile), trace: stderr };
}

const rootFiles = new WeakMap<EstServer, string>();
function rootFile(server: EstServer): string {
  let path = rootFiles.get(server);
  if (!path) {
    path = file(`est-root-${server.port}.pem`, server.rootPem);
    rootFiles.set(server, path);
  }
  return path;
}

async function startServer(name: string, options: Partial<EstServerOptions> = {}): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: join(work, `state-${name}`),
    factoryCaPem: [readFileSync(files.factoryRoot, 'utf8')],
    lifetimeSeconds: LIFETIME_SECONDS,
    ...options,
  });
  servers.push(server);
  return server;
}

/** The PEM certificates of a base64 certs-only PKCS#7 body, decoded and printed by openssl. */
function certificatesOf(body: Buffer): string[] {
  const id = Math.random().toString(36).slice(2);
  const b64 = file(`p7-${id}.b64`, body);
  const der = join(work, `p7-${id}.der`);
  // openssl wants -A for base64 on one line (no line breaks at all).
  openssl(['base64', '-d', ...(body.includes(0x0a) ? [] : ['-A']), '-in', b64, '-out', der]);
  const printed = openssl(['pkcs7', '-inform', 'DER', '-in', der, '-print_certs']);
  return printed.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----\n/g) ?? [];
}

function subjectOf(pem: string): string {
  return openssl(['x509', '-noout', '-subject', '-nameopt', 'RFC2253'], pem).trim();
}

/** openssl verify of `leaf` to `root` through `untrusted`; returns openssl's exit status and output. */
function verify(root: string, untrusted: string[], leaf: string) {
  const rootPath = file(`verify-root-${Math.random().toString(36).slice(2)}.pem`, root);
  const leafPath = file(`verify-leaf-${Math.random().toString(36).slice(2)}.pem`, leaf);
  const args = ['verify', '-CAfile', rootPath];
  if (untrusted.length > 0)
    args.push('-untrusted', file(`verify-chain-${leafPath.slice(-12)}`, untrusted.join('')));
  return opensslStatus([...args, leafPath]);
}

async function enroll(server: EstServer, data = files.csr, extra: CurlOptions = {}): Promise<Http> {
  return curl(server, '/.well-known/est/simpleenroll', {
    cert: files.factoryClient,
    data,
    contentType: 'application/pkcs10',
    ...extra,
  });
}

beforeAll(() => {
  const curlCheck = spawnSync('curl', ['--version']);
  if (curlCheck.error) throw new Error('curl is missing: apt-get install curl (or run scripts/setup.sh)');
  work = mkdtempSync(join(tmpdir(), 'egw-est-'));
  // The factory line's CA kit (root + signer) and a device certificate from it, as a gateway has.
  const factory = join(work, 'factory-ca');
  const rogue = join(work, 'rogue-ca');
  for (const dir of [factory, rogue]) spawnSyncOk(factoryCaScript, ['init', dir]);
  files.factoryRoot = join(factory, 'root.crt');
  files.deviceKey = join(work, 'device.key');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', files.deviceKey]);
  const factoryCsr = join(work, 'factory.csr');
  openssl([
    'req',
    '-new',
    '-key',
    files.deviceKey,
    '-subj',
    '/CN=device-ABC/serialNumber=ABC',
    '-out',
    factoryCsr,
  ]);
  spawnSyncOk(factoryCaScript, ['sign', factory, factoryCsr, join(work, 'factory-device.crt')]);
  files.factoryClient = file(
    'factory-client.pem',
    readFileSync(join(work, 'factory-device.crt'), 'utf8') +
      readFileSync(join(factory, 'intermediate.crt'), 'utf8'),
  );
  // The same kind of certificate from a CA the EST server does not know.
  files.rogueKey = join(work, 'rogue.key');
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', files.rogueKey]);
  const rogueCsr = join(work, 'rogue.csr');
  openssl([
    'req',
    '-new',
    '-key',
    files.rogueKey,
    '-subj',
    '/CN=device-BAD/serialNumber=BAD',
    '-out',
    rogueCsr,
  ]);
  spawnSyncOk(factoryCaScript, ['sign', rogue, rogueCsr, join(work, 'rogue-device.crt')]);
  files.rogueClient = file(
    'rogue-client.pem',
    readFileSync(join(work, 'rogue-device.crt'), 'utf8') +
      readFileSync(join(rogue, 'intermediate.crt'), 'utf8'),
  );

  files.csr = makeCsr('csr', '/CN=device-ABC/serialNumber=ABC', FULL_PROFILE);
  files.csrOneLine = file('csr-one-line.b64', readFileSync(files.csr, 'utf8').replace(/\s+/g, ''));
  files.csrClientOnly = makeCsr('csr-client', '/CN=device-ABC/serialNumber=ABC', [
    'subjectAltName=DNS:device-ABC',
    'extendedKeyUsage=clientAuth',
  ]);
  files.csrOtherSubject = makeCsr('csr-other', '/CN=device-DEF/serialNumber=DEF', FULL_PROFILE);
  files.csrNoCn = makeCsr('csr-no-cn', '/O=acme/serialNumber=ABC', FULL_PROFILE);
  const tampered = readFileSync(join(work, 'csr.der'));
  tampered[tampered.length - 1] = (tampered[tampered.length - 1] ?? 0) ^ 0x01;
  files.csrBadSignature = file('csr-bad-signature.b64', `${tampered.toString('base64')}\n`);
  files.garbage = file(
    'garbage.b64',
    `${Buffer.from('this is not a certificate request').toString('base64')}\n`,
  );
});

function spawnSyncOk(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
}

afterAll(async () => {
  await Promise.all(servers.map((server) => server.stop()));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('EST server: defaults (leaf-only enroll, root+issuing cacerts, wrapped base64)', () => {
  let server: EstServer;
  beforeAll(async () => {
    server = await startServer('main', { wrapBase64: true });
  });

  it('/cacerts: no client certificate needed; root and issuing CA in 64-column CRLF base64', async () => {
    const answer = await curl(server, '/.well-known/est/cacerts');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/pkcs7-mime');
    expect(answer.headers['content-transfer-encoding']).toBe('base64');
    const text = answer.body.toString('latin1');
    expect(text.endsWith('\r\n')).toBe(true);
    for (const line of text.split('\r\n').slice(0, -1)) expect(line.length).toBeLessThanOrEqual(64);
    expect(text.split('\r\n').length).toBeGreaterThan(3);
    const certificates = certificatesOf(answer.body);
    expect(certificates.map(subjectOf)).toEqual([subjectOf(server.rootPem), subjectOf(server.issuingPem)]);
    expect(certificates[0]?.trim()).toBe(server.rootPem.trim());
    expect(verify(server.rootPem, [], certificates[1] ?? '').status).toBe(0);
    const issuing = openssl(['x509', '-noout', '-text'], certificates[1]);
    expect(issuing).toMatch(/CA:TRUE, pathlen:0/);
    expect(openssl(['x509', '-noout', '-text'], certificates[0])).toMatch(/CA:TRUE, pathlen:1/);
  });

  it('/csrattrs: DER CsrAttrs with ecdsa-with-SHA256, serialNumber, the device-type OID, P-256', async () => {
    const answer = await curl(server, '/.well-known/est/csrattrs');
    expect(answer.status).toBe(200);
    expect(answer.headers['content-type']).toBe('application/csrattrs');
    const der = file('csrattrs.der', Buffer.alloc(0));
    openssl(['base64', '-d', '-in', file('csrattrs.b64', answer.body), '-out', der]);
    const parsed = openssl(['asn1parse', '-inform', 'DER', '-in', der]);
    expect(parsed).toMatch(/^\s*0:d=0 .*cons: SEQUENCE/);
    expect(parsed).toMatch(/d=1 .*OBJECT\s+:ecdsa-with-SHA256/);
    expect(parsed).toMatch(/d=1 .*OBJECT\s+:serialNumber/);
    expect(parsed).toMatch(new RegExp(`d=1 .*OBJECT\\s+:${DEVICE_TYPE_OID.replaceAll('.', '\\.')}`));
    expect(parsed).toMatch(/d=2 .*OBJECT\s+:id-ecPublicKey[\s\S]*d=3 .*OBJECT\s+:prime256v1/);
  });

  it('/simpleenroll with the factory certificate issues the device profile, leaf only', async () => {
    const answer = await enroll(server);
    expect(answer.status, answer.body.toString()).toBe(200);
    expect(answer.headers['content-type']).toBe('application/pkcs7-mime; smime-type=certs-only');
    expect(answer.headers['content-transfer-encoding']).toBe('base64');
    const certificates = certificatesOf(answer.body);
    expect(certificates).toHaveLength(1);
    const leaf = certificates[0] ?? '';
    expect(verify(server.rootPem, [], leaf).status).not.toBe(0); // the client must add the issuing CA
    const verified = verify(server.rootPem, [server.issuingPem], leaf);
    expect(verified.output).toContain(': OK');
    const text = openssl(['x509', '-noout', '-text'], leaf);
    expect(text).toContain('Subject: CN = device-ABC, serialNumber = ABC');
    expect(text).toMatch(/Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(
      /Extended Key Usage:\s*\n\s+TLS Web Client Authentication, TLS Web Server Authentication\n/,
    );
    expect(text).toMatch(/Subject Alternative Name:\s*\n\s+DNS:device-ABC, URI:urn:dev:serial:ABC\n/);
    expect(text).toMatch(
      new RegExp(`${DEVICE_TYPE_OID.replaceAll('.', '\\.')}:\\s*\\n\\s+\\.\\.edge-gateway`),
    );
    expect(text).toMatch(/Subject Key Identifier/);
    expect(text).toMatch(/Authority Key Identifier/);
    expect(text).toContain('ASN1 OID: prime256v1');
    const dates = openssl(['x509', '-noout', '-startdate', '-enddate'], leaf);
    const notBefore = Date.parse(/notBefore=(.*)/.exec(dates)?.[1] ?? '');
    const notAfter = Date.parse(/notAfter=(.*)/.exec(dates)?.[1] ?? '');
    // Backdated 5 minutes, then the configured lifetime.
    expect((notAfter - notBefore) / 1000).toBe(LIFETIME_SECONDS + 300);
    // The certificate is for the CSR's key.
    const certKey = openssl(['x509', '-noout', '-pubkey'], leaf);
    expect(certKey).toBe(openssl(['pkey', '-in', files.deviceKey, '-pubout']));
    file('issued-leaf.pem', leaf);
  });

  it('grants clientAuth only when the CSR does not ask for serverAuth; takes one-line base64 too', async () => {
    const clientOnly = await enroll(server, files.csrClientOnly);
    expect(clientOnly.status).toBe(200);
    const text = openssl(['x509', '-noout', '-text'], certificatesOf(clientOnly.body)[0]);
    expect(text).toMatch(/Extended Key Usage:\s*\n\s+TLS Web Client Authentication\n/);
    expect(text).not.toContain(DEVICE_TYPE_OID);
    const oneLine = await enroll(server, files.csrOneLine);
    expect(oneLine.status, oneLine.body.toString()).toBe(200);
  });

  it("round-trips the gateway's own CSR (src/pki buildCsr through a KeyStore) into the profile", async () => {
    const dir = join(work, 'gateway-key');
    mkdirSync(dir);
    const params = { path: join(dir, 'key.pem'), certificateDir: dir };
    new SoftwareKeyDevice(params).generateKey({ overwrite: false });
    const store = new InProcessKeyStore(new SoftwareKeyDevice(params));
    const csr = await buildCsr(store, {
      serial: '0123A1B2C3D4E5F6EE',
      commonName: 'device-{serial}',
      sanDns: ['device-{serial}'],
      sanUri: ['urn:dev:serial:{serial}'],
      serverAuth: true,
      deviceType: 'edge-gateway',
      deviceTypeOid: DEVICE_TYPE_OID,
    });
    await store.close();
    const lines =
      Buffer.from(csr.der)
        .toString('base64')
        .match(/.{1,64}/g) ?? [];
    const answer = await enroll(server, file('gateway-csr.b64', `${lines.join('\n')}\n`));
    expect(answer.status, answer.body.toString()).toBe(200);
    const [leaf = ''] = certificatesOf(answer.body);
    const text = openssl(['x509', '-noout', '-text'], leaf);
    expect(text).toContain('Subject: CN = device-0123A1B2C3D4E5F6EE, serialNumber = 0123A1B2C3D4E5F6EE');
    expect(text).toContain('DNS:device-0123A1B2C3D4E5F6EE, URI:urn:dev:serial:0123A1B2C3D4E5F6EE');
    expect(text).toMatch(/TLS Web Client Authentication, TLS Web Server Authentication/);
    expect(text).toMatch(
      new RegExp(`${DEVICE_TYPE_OID.replaceAll('.', '\\.')}:\\s*\\n\\s+\\.\\.edge-gateway`),
    );
    expect(verify(server.rootPem, [server.issuingPem], leaf).status).toBe(0);
  });

  it('no client certificate → 401; a certificate from another CA → 403', async () => {
    const none = await curl(server, '/.well-known/est/simpleenroll', {
      data: files.csr,
      contentType: 'application/pkcs10',
    });
    expect(none.status).toBe(401);
    expect(none.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(none.headers['www-authenticate']).toBeUndefined();
    expect(none.body.toString()).toMatch(/^no TLS client certificate.*\n$/);
    const rogue = await enroll(server, files.csr, { cert: files.rogueClient, key: files.rogueKey });
    expect(rogue.status).toBe(403);
    expect(rogue.body.toString()).toMatch(/CN=device-BAD.* is not from an accepted CA/);
  });

  it('bad bodies → 400 with the reason; a wrong content type → 415', async () => {
    const cases: [string, RegExp][] = [
      [file('not-base64.txt', 'this is *not* base64!\n'), /not base64/],
      [files.garbage, /not a DER PKCS#10/],
      [files.csrBadSignature, /signature does not verify/],
      [files.csrNoCn, /no CN/],
      [file('pem.csr', openssl(['req', '-inform', 'DER', '-in', join(work, 'csr.der')])), /PEM/],
      [file('empty.b64', ''), /empty/],
    ];
    for (const [data, reason] of cases) {
      const answer = await enroll(server, data);
      expect(answer.status, data).toBe(400);
      expect(answer.body.toString()).toMatch(reason);
    }
    const form = await enroll(server, files.csr, { contentType: 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
  });

  it('wrong method → 405 with Allow; unknown paths → 404', async () => {
    const post = await curl(server, '/.well-known/est/cacerts', { method: 'POST' });
    expect(post.status).toBe(405);
    expect(post.headers.allow).toBe('GET');
    const get = await curl(server, '/.well-known/est/simpleenroll', { cert: files.factoryClient });
    expect(get.status).toBe(405);
    expect(get.headers.allow).toBe('POST');
    expect((await curl(server, '/.well-known/est/serverkeygen')).status).toBe(404);
    expect((await curl(server, '/index.html')).status).toBe(404);
  });

  it('pending: 202 + Retry-After, then 200 on the next call', async () => {
    server.faults.pending = { count: 1, retryAfterSeconds: 7 };
    const first = await enroll(server);
    expect(first.status).toBe(202);
    expect(first.headers['retry-after']).toBe('7');
    expect(first.body.toString()).toMatch(/pending/);
    const second = await enroll(server);
    expect(second.status).toBe(200);
    expect(certificatesOf(second.body)).toHaveLength(1);
    expect(server.faults.pending).toBeUndefined();
  });

  it('failNext 503: cacerts and enroll fail `count` times (csrattrs does not count), then recover', async () => {
    server.faults.failNext = { status: 503, count: 2, retryAfterSeconds: 3 };
    expect((await curl(server, '/.well-known/est/csrattrs')).status).toBe(200);
    const cacerts = await curl(server, '/.well-known/est/cacerts');
    expect(cacerts.status).toBe(503);
    expect(cacerts.headers['retry-after']).toBe('3');
    const enrolled = await enroll(server);
    expect(enrolled.status).toBe(503);
    expect(enrolled.body.toString()).toMatch(/injected failure/);
    expect((await curl(server, '/.well-known/est/cacerts')).status).toBe(200);
    expect((await enroll(server)).status).toBe(200);
  });

  it('stallMs: a slow server does not answer within the client timeout; it answers again once cleared', async () => {
    server.faults.stallMs = 600_000;
    const timedOut = await execFileAsync('curl', [
      '-sS',
      '--max-time',
      '2',
      '--cacert',
      rootFile(server),
      `${server.url}/.well-known/est/cacerts`,
    ]).then(
      () => 0,
      (error: { code?: number }) => error.code,
    );
    expect(timedOut).toBe(28); // curl: operation timed out
    server.faults.stallMs = 0;
    expect((await curl(server, '/.well-known/est/cacerts')).status).toBe(200);
  });

  it('/simplereenroll: the issued certificate renews with the same subject; others are refused', async () => {
    const current = join(work, 'issued-leaf.pem');
    expect(existsSync(current)).toBe(true);
    const renewed = await curl(server, '/.well-known/est/simplereenroll', {
      cert: current,
      data: files.csr,
      contentType: 'application/pkcs10',
    });
    expect(renewed.status, renewed.body.toString()).toBe(200);
    const [leaf = ''] = certificatesOf(renewed.body);
    expect(subjectOf(leaf)).toBe(subjectOf(readFileSync(current, 'utf8')));
    expect(openssl(['x509', '-noout', '-serial'], leaf)).not.toBe(
      openssl(['x509', '-noout', '-serial', '-in', current]),
    );
    expect(verify(server.rootPem, [server.issuingPem], leaf).status).toBe(0);

    const otherSubject = await curl(server, '/.well-known/est/simplereenroll', {
      cert: current,
      data: files.csrOtherSubject,
      contentType: 'application/pkcs10',
    });
    expect(otherSubject.status).toBe(400);
    expect(otherSubject.body.toString()).toMatch(/CN=device-DEF.*differs.*CN=device-ABC/);

    const factoryCert = await curl(server, '/.well-known/est/simplereenroll', {
      cert: files.factoryClient,
      data: files.csr,
      contentType: 'application/pkcs10',
    });
    expect(factoryCert.status).toBe(403);
    expect(factoryCert.body.toString()).toMatch(/needs a certificate issued by this EST CA/);

    const none = await curl(server, '/.well-known/est/simplereenroll', {
      data: files.csr,
      contentType: 'application/pkcs10',
    });
    expect(none.status).toBe(401);
  });

  /** Two enrolments in one curl run; `extraHeaders` decide whether the connection is kept. */
  async function enrollTwice(extraHeaders: string[]): Promise<{ stderr: string; lines: string[] }> {
    const url = `${server.url}/.well-known/est/simpleenroll`;
    const headers = ['Content-Type: application/pkcs10', ...extraHeaders].flatMap((header) => ['-H', header]);
    const { stderr, stdout } = await execFileAsync(
      'curl',
      [
        '-sS',
        '-v',
        '--cacert',
        rootFile(server),
        '--cert',
        files.factoryClient,
        '--key',
        files.deviceKey,
        ...headers,
        '--data-binary',
        `@${files.csr}`,
        '-o',
        '/dev/null',
        '-o',
        '/dev/null',
        '-w',
        '%{http_code} %{num_connects}\n',
        url,
        url,
      ],
      { encoding: 'utf8' },
    );
    return { stderr, lines: stdout.trim().split('\n') };
  }

  it('authenticates a resumed TLS session (new connection, no certificate chain resent)', async () => {
    // Connection: close makes curl open a second connection for the second URL, resuming the session.
    const { stderr, lines } = await enrollTwice(['Connection: close']);
    expect(stderr).toMatch(/SSL re-using session ID/);
    expect(lines).toEqual(['200 1', '200 1']);
  });

  it('keeps one TLS connection for several calls (keep-alive), with a client certificate', async () => {
    const { stderr, lines } = await enrollTwice([]);
    expect(lines).toEqual(['200 1', '200 0']);
    expect(stderr).toMatch(/Re-using existing connection/);
  });
});

describe('EST server: interop variants (chain enroll, root-only cacerts, unwrapped base64, label)', () => {
  let server: EstServer;
  const base = '/.well-known/est/gw';
  beforeAll(async () => {
    server = await startServer('variants', {
      enrollResponse: 'chain',
      cacerts: 'root',
      wrapBase64: false,
      label: 'gw',
    });
  });

  it('/cacerts holds only the root, on one base64 line; unlabelled paths are 404', async () => {
    const answer = await curl(server, `${base}/cacerts`);
    expect(answer.status).toBe(200);
    expect(answer.body.includes(0x0a)).toBe(false);
    expect(answer.body.includes(0x0d)).toBe(false);
    const certificates = certificatesOf(answer.body);
    expect(certificates).toHaveLength(1);
    expect(certificates[0]?.trim()).toBe(server.rootPem.trim());
    const unlabelled = await curl(server, '/.well-known/est/cacerts');
    expect(unlabelled.status).toBe(404);
    expect(unlabelled.body.toString()).toContain('/.well-known/est/gw/');
  });

  it('/simpleenroll answers the leaf and its issuing CA', async () => {
    const answer = await enroll(server, files.csr, {});
    const labelled = await curl(server, `${base}/simpleenroll`, {
      cert: files.factoryClient,
      data: files.csr,
      contentType: 'application/pkcs10',
    });
    expect(answer.status).toBe(404);
    expect(labelled.status).toBe(200);
    expect(labelled.body.includes(0x0a)).toBe(false);
    const [leaf = '', issuing = ''] = certificatesOf(labelled.body);
    expect(certificatesOf(labelled.body)).toHaveLength(2);
    expect(issuing.trim()).toBe(server.issuingPem.trim());
    expect(verify(server.rootPem, [issuing], leaf).status).toBe(0);
  });

  it('wrongCa: the certificate does not verify against the server root', async () => {
    server.faults.wrongCa = true;
    try {
      const answer = await curl(server, `${base}/simpleenroll`, {
        cert: files.factoryClient,
        data: files.csr,
        contentType: 'application/pkcs10',
      });
      expect(answer.status).toBe(200);
      const [leaf = '', wrongCa = ''] = certificatesOf(answer.body);
      const refused = verify(server.rootPem, [wrongCa, server.issuingPem], leaf);
      expect(refused.status).not.toBe(0);
      expect(refused.output).toMatch(
        /self-signed certificate in certificate chain|unable to get local issuer/,
      );
      expect(subjectOf(wrongCa)).toMatch(/EST wrong CA/);
      expect(verify(wrongCa, [], leaf).status).toBe(0); // it is a real CA, just not this one
    } finally {
      server.faults.wrongCa = false;
    }
  });

  it('expiredIssuingCa: issued under the same root by an issuing CA that has expired', async () => {
    server.faults.expiredIssuingCa = true;
    try {
      const answer = await curl(server, `${base}/simpleenroll`, {
        cert: files.factoryClient,
        data: files.csr,
        contentType: 'application/pkcs10',
      });
      expect(answer.status).toBe(200);
      const [leaf = '', expired = ''] = certificatesOf(answer.body);
      expect(
        opensslStatus(['x509', '-checkend', '0', '-noout', '-in', file('expired-ca.pem', expired)]).status,
      ).toBe(1);
      expect(
        opensslStatus(['verify', '-no_check_time', '-CAfile', rootFile(server), join(work, 'expired-ca.pem')])
          .status,
      ).toBe(0);
      const refused = verify(server.rootPem, [expired], leaf);
      expect(refused.status).not.toBe(0);
      expect(refused.output).toMatch(/certificate has expired/);
    } finally {
      server.faults.expiredIssuingCa = false;
    }
    const normal = await curl(server, `${base}/simpleenroll`, {
      cert: files.factoryClient,
      data: files.csr,
      contentType: 'application/pkcs10',
    });
    const [leaf = '', issuing = ''] = certificatesOf(normal.body);
    expect(verify(server.rootPem, [issuing], leaf).status).toBe(0);
  });
});

describe('EST server: HTTP Basic in addition to the client certificate', () => {
  let server: EstServer;
  beforeAll(async () => {
    server = await startServer('basic', { basicAuth: { username: 'gw', password: 's3cret:with:colons' } });
  });

  it('missing or wrong Basic → 401 with the challenge; right Basic without a certificate → 401; both → 200', async () => {
    const missing = await enroll(server);
    expect(missing.status).toBe(401);
    expect(missing.headers['www-authenticate']).toBe('Basic realm="est"');
    expect(missing.body.toString()).toMatch(/Basic authentication is required/);
    const wrong = await enroll(server, files.csr, { basic: 'gw:nope' });
    expect(wrong.status).toBe(401);
    expect(wrong.headers['www-authenticate']).toBe('Basic realm="est"');
    expect(wrong.body.toString()).toMatch(/wrong username or password/);
    const wrongUser = await enroll(server, files.csr, { basic: 'root:s3cret:with:colons' });
    expect(wrongUser.status).toBe(401);
    const noCertificate = await curl(server, '/.well-known/est/simpleenroll', {
      data: files.csr,
      contentType: 'application/pkcs10',
      basic: 'gw:s3cret:with:colons',
    });
    expect(noCertificate.status).toBe(401);
    expect(noCertificate.body.toString()).toMatch(/no TLS client certificate/);
    const good = await enroll(server, files.csr, { basic: 'gw:s3cret:with:colons' });
    expect(good.status, good.body.toString()).toBe(200);
    // /cacerts stays open.
    expect((await curl(server, '/.well-known/est/cacerts')).status).toBe(200);
  });
});

describe('EST server: certificates written as DER', () => {
  /** The device profile as @peculiar/x509 objects (what the CA issued through it before). */
  function peculiarProfile(csr: x509.Pkcs10CertificateRequest): x509.Extension[] {
    const requested = csr.getExtension('2.5.29.37');
    const eku = requested ? new x509.ExtendedKeyUsageExtension(requested.rawData) : undefined;
    const serverAuth = eku?.usages.includes(x509.ExtendedKeyUsage.serverAuth) ?? false;
    const usages = [
      x509.ExtendedKeyUsage.clientAuth,
      ...(serverAuth ? [x509.ExtendedKeyUsage.serverAuth] : []),
    ];
    const extensions: x509.Extension[] = [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      new x509.ExtendedKeyUsageExtension(usages, false),
    ];
    for (const oid of ['2.5.29.17', DEVICE_TYPE_OID]) {
      const extension = csr.getExtension(oid);
      if (extension) extensions.push(extension);
    }
    return extensions;
  }

  /** The TBSCertificate (the first element inside the outer SEQUENCE) of a DER certificate, hex. */
  function tbsHex(certificate: ArrayBuffer): string {
    const der = new Uint8Array(certificate);
    const headerLength = (offset: number) => {
      const first = der[offset + 1] ?? 0;
      return first < 0x80 ? 2 : 2 + (first & 0x7f);
    };
    const lengthAt = (offset: number) => {
      const first = der[offset + 1] ?? 0;
      if (first < 0x80) return first;
      let length = 0;
      for (let i = 0; i < (first & 0x7f); i++) length = length * 256 + (der[offset + 2 + i] ?? 0);
      return length;
    };
    const start = headerLength(0);
    return Buffer.from(der.subarray(start, start + headerLength(start) + lengthAt(start))).toString('hex');
  }

  function csrDer(name: string, key: string, subject: string, extra: string[]): Uint8Array {
    const der = join(work, `${name}.der`);
    openssl(['req', '-new', '-key', key, '-subj', subject, ...extra, '-outform', 'DER', '-out', der]);
    return new Uint8Array(readFileSync(der));
  }

  it('issues byte for byte the TBSCertificate @peculiar/x509 would, for fast-path and generic CSRs', async () => {
    const stateDir = join(work, 'state-der');
    const ca = await EstCa.open({ stateDir });
    const keyPem = readFileSync(join(stateDir, 'issuing-ca.key'), 'utf8');
    const signingKey = await webcrypto.subtle.importKey(
      'pkcs8',
      Buffer.from(keyPem.replace(/-----[^-]+-----|\s/g, ''), 'base64'),
      { name: 'ECDSA', namedCurve: 'P-256' },
      false,
      ['sign'],
    );
    const rsaKey = join(work, 'rsa.key');
    openssl(['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', rsaKey]);
    const profile = FULL_PROFILE.flatMap((extension) => ['-addext', extension]);
    const cases: [string, Uint8Array, number][] = [
      [
        'ECDSA P-256, full profile',
        csrDer('der-ec', files.deviceKey, '/CN=device-ABC/serialNumber=ABC/O=Acme, Inc.', profile),
        3600,
      ],
      [
        'ECDSA with SHA-384, clientAuth only, notAfter past 2049',
        csrDer('der-ec384', files.deviceKey, '/CN=device-ABC', [
          '-sha384',
          '-addext',
          'extendedKeyUsage=clientAuth',
        ]),
        40 * 365 * 86_400,
      ],
      ['RSA PKCS#1 v1.5', csrDer('der-rsa', rsaKey, '/CN=device-R/serialNumber=R', profile), 3600],
      [
        'RSA-PSS (generic path)',
        csrDer('der-pss', rsaKey, '/CN=device-P/serialNumber=P', [
          ...profile,
          '-sigopt',
          'rsa_padding_mode:pss',
        ]),
        3600,
      ],
    ];
    for (const [label, der, lifetimeSeconds] of cases) {
      const issued = await ca.issue(der, { lifetimeSeconds });
      const csr = new x509.Pkcs10CertificateRequest(der);
      const certificate = issued.certificate;
      expect(certificate.serialNumber, label).toBe(issued.serialNumber);
      expect(certificate.notAfter.getTime(), label).toBe(issued.notAfter.getTime());
      expect(Buffer.from(issued.der).equals(Buffer.from(certificate.rawData)), label).toBe(true);
      expect(await certificate.verify({ publicKey: ca.issuing.publicKey }, webcrypto), label).toBe(true);
      const reference = await x509.X509CertificateGenerator.create(
        {
          serialNumber: issued.serialNumber,
          subject: csr.subjectName,
          issuer: ca.issuing.subjectName,
          notBefore: certificate.notBefore,
          notAfter: certificate.notAfter,
          publicKey: csr.publicKey,
          signingKey,
          signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
          extensions: [
            ...peculiarProfile(csr),
            new x509.SubjectKeyIdentifierExtension(
              Buffer.from(await csr.publicKey.getKeyIdentifier(webcrypto)).toString('hex'),
            ),
            new x509.AuthorityKeyIdentifierExtension(
              ca.issuing.getExtension(x509.SubjectKeyIdentifierExtension)?.keyId ?? '',
            ),
          ],
        },
        webcrypto,
      );
      expect(tbsHex(certificate.rawData), label).toBe(tbsHex(reference.rawData));
      const pem = certificate.toString('pem');
      expect(verify(ca.rootPem, [ca.issuingPem], pem).status, label).toBe(0);
    }
  });
});

describe('EST server: audit log and state directory', () => {
  it('writes one NDJSON line per answer, the same as auditEntries()', async () => {
    const server = await startServer('audit');
    await curl(server, '/.well-known/est/cacerts');
    await curl(server, '/.well-known/est/csrattrs');
    await curl(server, '/.well-known/est/simpleenroll', {
      data: files.csr,
      contentType: 'application/pkcs10',
    });
    const issued = await enroll(server);
    await curl(server, '/nope');
    await curl(server, '/.well-known/est/cacerts', { method: 'POST' });
    const lines = readFileSync(join(work, 'state-audit', 'audit.log'), 'utf8')
      .trimEnd()
      .split('\n');
    const entries = lines.map((line) => JSON.parse(line) as EstAuditEntry);
    expect(entries.map((entry) => [entry.method, entry.path, entry.status])).toEqual([
      ['GET', '/.well-known/est/cacerts', 200],
      ['GET', '/.well-known/est/csrattrs', 200],
      ['POST', '/.well-known/est/simpleenroll', 401],
      ['POST', '/.well-known/est/simpleenroll', 200],
      ['GET', '/nope', 404],
      ['POST', '/.well-known/est/cacerts', 405],
    ]);
    expect(server.auditEntries()).toEqual(entries);
    expect(entries[2]?.client).toBeUndefined();
    expect(entries[2]?.reason).toMatch(/no TLS client certificate/);
    const enrolled = entries[3];
    expect(enrolled?.client).toMatchObject({
      subject: 'CN=device-ABC, serialNumber=ABC',
      issuer: expect.stringContaining('signer'),
      authorized: true,
    });
    const clientSerial = openssl(['x509', '-noout', '-serial', '-in', join(work, 'factory-device.crt')])
      .trim()
      .replace('serial=', '');
    expect(enrolled?.client?.serial.toUpperCase()).toBe(clientSerial);
    const [leaf = ''] = certificatesOf(issued.body);
    const serial = openssl(['x509', '-noout', '-serial'], leaf).trim().replace('serial=', '');
    expect(enrolled?.issued?.serial.toUpperCase()).toBe(serial);
    expect(enrolled?.issued?.subject).toBe('CN=device-ABC, serialNumber=ABC');
    const notAfter = openssl(['x509', '-noout', '-enddate'], leaf).trim().replace('notAfter=', '');
    expect(Date.parse(enrolled?.issued?.notAfter ?? '')).toBe(Date.parse(notAfter));
    expect(Number.isNaN(Date.parse(entries[0]?.time ?? ''))).toBe(false);
  });

  it('reuses the CA from the state directory on restart; keys are 0600; an incomplete state is refused', async () => {
    const first = await startServer('restart');
    const issued = await enroll(first);
    expect(issued.status).toBe(200);
    const [leaf = ''] = certificatesOf(issued.body);
    await first.stop();
    const second = await startServer('restart');
    expect(second.rootPem).toBe(first.rootPem);
    expect(second.issuingPem).toBe(first.issuingPem);
    const cacerts = certificatesOf((await curl(second, '/.well-known/est/cacerts')).body);
    expect(verify(cacerts[0] ?? '', [cacerts[1] ?? ''], leaf).status).toBe(0);
    const dir = join(work, 'state-restart');
    for (const key of ['root-ca.key', 'issuing-ca.key'])
      expect(statSync(join(dir, key)).mode & 0o777).toBe(0o600);
    expect(openssl(['pkey', '-in', join(dir, 'root-ca.key'), '-noout', '-text'])).toContain('prime256v1');

    const broken = join(work, 'state-broken');
    mkdirSync(broken);
    cpSync(dir, broken, { recursive: true });
    rmSync(join(broken, 'issuing-ca.pem'));
    await expect(
      EstServer.start({ stateDir: broken, factoryCaPem: [readFileSync(files.factoryRoot, 'utf8')] }),
    ).rejects.toMatchObject({ code: 'EGW_EST_CA_STATE' });
  });
});

/** Starts hw-sim/est-server/main.js and resolves with its ready line, the child and its exit. */
async function startEstServerProcess(stateDir: string, nodeFlags: string[] = []) {
  if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run npm run build first`);
  const child = spawn(
    process.execPath,
    [...nodeFlags, mainJs, '--state-dir', stateDir, '--factory-ca', files.factoryRoot],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = { stderr: '' };
  child.stderr.on('data', (chunk: Buffer) => {
    output.stderr += chunk.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    const line = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        if (out.includes('\n')) resolve(out.split('\n')[0] ?? '');
      });
      void exited.then((code) =>
        reject(new Error(`main.js exited ${code} before it was ready: ${output.stderr}`)),
      );
    });
    const ready = JSON.parse(line) as { url: string; port: number; rootPemFile: string };
    return { child, exited, ready, output };
  } catch (error) {
    if (child.exitCode === null) child.kill('SIGKILL');
    throw error;
  }
}

describe('EST server process (main.js)', () => {
  it('prints its URL and root file, answers curl, and exits 0 on SIGTERM', async () => {
    const stateDir = join(work, 'state-process');
    const { child, exited, ready } = await startEstServerProcess(stateDir);
    try {
      expect(ready.url).toBe(`https://127.0.0.1:${ready.port}`);
      expect(ready.rootPemFile).toBe(join(stateDir, 'est-root.pem'));
      const { stdout } = await execFileAsync(
        'curl',
        [
          '-sS',
          '--cacert',
          ready.rootPemFile,
          '-w',
          '\n%{http_code}',
          `${ready.url}/.well-known/est/cacerts`,
        ],
        { encoding: 'utf8' },
      );
      expect(stdout.trim().split('\n').at(-1)).toBe('200');
      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(readFileSync(join(stateDir, 'audit.log'), 'utf8').trim().split('\n')).toHaveLength(1);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  });

  it('restarts on its state directory (CA keys loaded from PEM) without a deprecation warning', async () => {
    // Node 24+ deprecates KeyObject.from() on a non-extractable key (DEP0204); the second start loads
    // the CAs from PEM, the path that used it. --throw-deprecation turns any such warning into a crash.
    const stateDir = join(work, 'state-restart');
    for (const round of [1, 2]) {
      const { child, exited, output } = await startEstServerProcess(stateDir, ['--throw-deprecation']);
      child.kill('SIGTERM');
      expect(await exited, `start ${round}: ${output.stderr}`).toBe(0);
      expect(output.stderr).not.toContain('DEP0');
    }
  });

  it('explains its options with --help and refuses a missing --factory-ca', () => {
    const help = spawnSync(process.execPath, [mainJs, '--help'], { encoding: 'utf8' });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--factory-ca FILE');
    const missing = spawnSync(process.execPath, [mainJs, '--state-dir', join(work, 'x')], {
      encoding: 'utf8',
    });
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('--factory-ca is required');
  });
});
