/**
 * The hw-sim EST server (RFC 7030) against strongSwan's `pki` (Debian strongswan-pki 5.9.8), an EST
 * client that shares no code with it or with our own client: its own HTTP/1.1 code, its own TLS stack
 * (libtls), its own base64 and PKCS#7 parsers. Keys and CSRs are made by `pki --gen` / `pki --req`;
 * everything `pki` receives is checked again with the openssl CLI. The server runs in this process, so
 * `pki` always runs as an async child process (a synchronous one would block the server).
 *
 * What pki 5.9.8 does, from its man pages and its behaviour here:
 * - `pki --estca` GETs /cacerts; `pki --est` POSTs /simpleenroll WITHOUT a TLS client certificate
 *   (HTTP Basic with --userpass, or nothing), and switches to /simplereenroll as soon as --cert/--key
 *   are given (the "old" certificate authenticates TLS). There is no "simpleenroll with a client
 *   certificate" mode.
 * - It decodes base64 bodies with a decoder that does not skip line breaks.
 * - It polls on 202 every max(--interval, Retry-After) seconds, for at most --maxpolltime seconds.
 *
 * So against this server, whose /simpleenroll always requires a TLS client certificate (RFC 7030
 * §3.3.2 local policy; Basic only in addition) and whose /simplereenroll accepts only certificates of
 * its own CA, pki cannot do the initial enrolment: the tests marked "interop gap" pin exactly how it
 * fails, so a change on either side shows up here. The operational certificate pki re-enrols with is
 * obtained the way a device does it, /simpleenroll with the factory certificate (over curl here).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type EstAuditEntry, EstServer, type EstServerOptions } from '../../hw-sim/est-server/index.js';

const factoryCaScript = fileURLToPath(new URL('../../scripts/factory-ca.sh', import.meta.url));
const PKI_PACKAGES = 'strongswan-pki libstrongswan-standard-plugins';
const SERIAL = '5EED01';
const SUBJECT = `CN=device-${SERIAL}, serialNumber=${SERIAL}`;
/** openssl's RFC 2253 view of SUBJECT (last RDN first). */
const SUBJECT_RFC2253 = `serialNumber=${SERIAL},CN=device-${SERIAL}`;
const BASIC = { username: 'est-device', password: 'pa55:word' };
/** A ceiling against hangs for one pki run (not a timing assertion). */
const PKI_CEILING_MS = 45_000;

let work: string;
const files = {
  factoryRoot: '',
  factoryIntermediate: '',
  /** The factory device certificate (leaf only: pki loads one certificate per --cert). */
  factoryCert: '',
  factoryKey: '',
  rogueRoot: '',
  rogueIntermediate: '',
  rogueCert: '',
  rogueKey: '',
};
const servers: EstServer[] = [];

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  /** The command line, for failure messages and the report. */
  command: string;
}

/** Runs a command without blocking the event loop (the EST server is in this process). */
function run(command: string, args: string[], cwd = work): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, timeout: PKI_CEILING_MS, killSignal: 'SIGKILL' });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => out.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => err.push(chunk));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out),
        // libstrongswan lists the plugins of its default load list that Debian does not build: noise.
        stderr: Buffer.concat(err)
          .toString('utf8')
          .split('\n')
          .filter((line) => !/^plugin '[^']+': failed to load/.test(line))
          .join('\n'),
        command: [command, ...args].join(' '),
      }),
    );
  });
}

function pki(args: string[]): Promise<Run> {
  return run('pki', args);
}

/** Synchronous helpers for tools that never talk to the in-process server. */
function runSync(command: string, args: string[], input?: string): string {
  const result = spawnSync(command, args, { cwd: work, input, encoding: 'utf8' });
  if (result.error) throw new Error(`${command} cannot run: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.stderr}`);
  return result.stdout;
}

function openssl(args: string[], input?: string): string {
  return runSync('openssl', args, input);
}

function path(name: string): string {
  return join(work, name);
}

function file(name: string, content: string | Buffer): string {
  writeFileSync(path(name), content);
  return path(name);
}

/** A P-256 key made by strongSwan (PEM "EC PRIVATE KEY", which openssl reads too). */
function pkiKey(name: string): string {
  const key = runSync('pki', ['--gen', '--type', 'ecdsa', '--size', '256', '--outform', 'pem']);
  return file(name, key);
}

/** A DER PKCS#10 request made by strongSwan for `key`. */
function pkiCsr(name: string, key: string, subject: string, sans: string[] = []): string {
  const result = spawnSync(
    'pki',
    ['--req', '--in', key, '--type', 'ecdsa', '--dn', subject, ...sans.flatMap((san) => ['--san', san])],
    { cwd: work },
  );
  if (result.status !== 0) throw new Error(`pki --req failed: ${result.stderr.toString()}`);
  return file(name, result.stdout);
}

function subjectOf(pemFile: string): string {
  return openssl(['x509', '-in', pemFile, '-noout', '-subject', '-nameopt', 'RFC2253'])
    .trim()
    .replace(/^subject=/, '');
}

function opensslVerify(args: string[]): { status: number | null; output: string } {
  const result = spawnSync('openssl', ['verify', ...args], { cwd: work, encoding: 'utf8' });
  return { status: result.status, output: result.stdout + result.stderr };
}

function issuerOf(pemFile: string): string {
  return openssl(['x509', '-in', pemFile, '-noout', '-issuer', '-nameopt', 'RFC2253'])
    .trim()
    .replace(/^issuer=/, '');
}

/** A serial number as lowercase hex without leading zeros (openssl and the audit log differ there). */
function normalSerial(hex: string | undefined): string {
  return (hex ?? '').toLowerCase().replace(/^(00)+/, '');
}

function serialOf(pemFile: string): string {
  return normalSerial(
    openssl(['x509', '-in', pemFile, '-noout', '-serial'])
      .trim()
      .replace(/^serial=/, ''),
  );
}

function publicKeyOfKey(keyFile: string): string {
  return openssl(['pkey', '-in', keyFile, '-pubout']);
}

function publicKeyOfCert(certFile: string): string {
  return openssl(['x509', '-in', certFile, '-noout', '-pubkey']);
}

async function startServer(name: string, options: Partial<EstServerOptions> = {}): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: path(`state-${name}`),
    factoryCaPem: [readFileSync(files.factoryRoot, 'utf8')],
    lifetimeSeconds: 3600,
    ...options,
  });
  servers.push(server);
  // The trust anchors a client pins: the EST root (TLS and CA) and the issuing CA (leaf-only answers).
  file(`est-root-${name}.pem`, server.rootPem);
  file(`est-issuing-${name}.pem`, server.issuingPem);
  return server;
}

/** --url and the --cacert options pki needs for `server`: the EST root and issuing CA. */
function estOptions(server: EstServer, name: string): string[] {
  return [
    '--url',
    server.url,
    '--cacert',
    path(`est-root-${name}.pem`),
    '--cacert',
    path(`est-issuing-${name}.pem`),
  ];
}

/** The audit entries `action` added. */
async function audited(server: EstServer, action: () => Promise<Run>): Promise<[Run, EstAuditEntry[]]> {
  const before = server.auditEntries().length;
  const result = await action();
  return [result, server.auditEntries().slice(before)];
}

/**
 * The device's first enrolment, as our gateway does it: /simpleenroll with the factory certificate
 * (and the factory intermediate) over curl, for a key and CSR made by pki. Returns the operational
 * certificate and key files pki then re-enrols with.
 */
async function operationalIdentity(
  server: EstServer,
  name: string,
  basic = false,
): Promise<{ cert: string; key: string }> {
  const key = pkiKey(`${name}-op.key`);
  const csr = pkiCsr(`${name}-op.csr.der`, key, SUBJECT, [`device-${SERIAL}`]);
  const csrB64 = file(`${name}-op.csr.b64`, readFileSync(csr).toString('base64'));
  const clientChain = file(
    `${name}-factory-chain.pem`,
    readFileSync(files.factoryCert, 'utf8') + readFileSync(files.factoryIntermediate, 'utf8'),
  );
  const body = path(`${name}-op.p7.b64`);
  const curl = await run('curl', [
    '-sS',
    '--fail-with-body',
    '--cacert',
    path(`est-root-${name}.pem`),
    '--cert',
    clientChain,
    '--key',
    files.factoryKey,
    ...(basic ? ['-u', `${BASIC.username}:${BASIC.password}`] : []),
    '-H',
    'Content-Type: application/pkcs10',
    '--data-binary',
    `@${csrB64}`,
    '-o',
    body,
    `${server.url}/.well-known/est/simpleenroll`,
  ]);
  expect(curl.code, `${curl.command}\n${curl.stderr}`).toBe(0);
  const der = Buffer.from(readFileSync(body, 'utf8').replace(/\s+/g, ''), 'base64');
  const p7 = file(`${name}-op.p7.der`, der);
  const cert = file(`${name}-op.crt`, openssl(['pkcs7', '-inform', 'DER', '-in', p7, '-print_certs']));
  expect(subjectOf(cert)).toBe(SUBJECT_RFC2253);
  return { cert, key };
}

let server: EstServer;
let basicServer: EstServer;
let wrappedServer: EstServer;

beforeAll(async () => {
  const check = spawnSync('pki', ['--help']);
  if (check.error) {
    throw new Error(`strongSwan pki is missing: apt-get install ${PKI_PACKAGES} (or run scripts/setup.sh)`);
  }
  for (const tool of ['openssl', 'curl']) {
    if (spawnSync(tool, ['--version']).error) {
      throw new Error(`${tool} is missing: apt-get install ${tool} (or run scripts/setup.sh)`);
    }
  }
  work = mkdtempSync(join(tmpdir(), 'egw-est-strongswan-'));
  // ECDSA needs libstrongswan's openssl plugin (libstrongswan-standard-plugins, only a Recommends).
  const gen = spawnSync('pki', ['--gen', '--type', 'ecdsa', '--size', '256'], { cwd: work });
  if (gen.status !== 0) {
    throw new Error(
      `pki cannot make ECDSA keys (no openssl plugin): apt-get install ${PKI_PACKAGES} ` +
        `(or run scripts/setup.sh)\n${gen.stderr.toString()}`,
    );
  }

  // The factory line's CA kit and a device certificate from it, for a key and CSR made by pki.
  const factory = path('factory-ca');
  const rogue = path('rogue-ca');
  for (const dir of [factory, rogue]) runSync(factoryCaScript, ['init', dir]);
  files.factoryRoot = join(factory, 'root.crt');
  files.factoryIntermediate = join(factory, 'intermediate.crt');
  files.factoryKey = pkiKey('factory-device.key');
  const factoryCsr = pkiCsr('factory-device.csr', files.factoryKey, SUBJECT);
  files.factoryCert = path('factory-device.crt');
  runSync(factoryCaScript, ['sign', factory, factoryCsr, files.factoryCert]);
  // The same kind of certificate from a CA the EST server does not trust.
  files.rogueRoot = join(rogue, 'root.crt');
  files.rogueIntermediate = join(rogue, 'intermediate.crt');
  files.rogueKey = pkiKey('rogue-device.key');
  const rogueCsr = pkiCsr('rogue-device.csr', files.rogueKey, 'CN=device-BAD, serialNumber=BAD');
  files.rogueCert = path('rogue-device.crt');
  runSync(factoryCaScript, ['sign', rogue, rogueCsr, files.rogueCert]);

  // pki's base64 decoder stops at the first line break: the servers it can talk to send one line.
  server = await startServer('main');
  basicServer = await startServer('basic', { basicAuth: BASIC });
  wrappedServer = await startServer('wrapped', { wrapBase64: true });
});

afterAll(async () => {
  await Promise.all(servers.map((each) => each.stop()));
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('strongSwan pki --estca against the EST server', () => {
  it('fetches the root and issuing CA from /cacerts; openssl verifies both files', async () => {
    const [result, entries] = await audited(server, () =>
      pki([
        '--estca',
        '--url',
        server.url,
        '--cacert',
        path('est-root-main.pem'),
        '--caout',
        path('estca.pem'),
        '--outform',
        'pem',
      ]),
    );
    expect(result.code, `${result.command}\n${result.stderr}`).toBe(0);
    expect(entries.map((entry) => [entry.method, entry.path, entry.status])).toEqual([
      ['GET', '/.well-known/est/cacerts', 200],
    ]);
    // pki checked both against the TLS trust anchor itself.
    expect(result.stderr).toContain('Root CA equals trusted TLS Root CA');
    expect(result.stderr).toMatch(/Root CA cert is trusted, valid until .*'.*estca\.pem'/);
    expect(result.stderr).toMatch(/Sub CA cert is trusted, valid until .*'.*estca-1\.pem'/);

    // --caout writes the root to the name given and the issuing CA to name-1.
    const root = path('estca.pem');
    const issuing = path('estca-1.pem');
    expect(subjectOf(root)).toBe(subjectOf(path('est-root-main.pem')));
    expect(subjectOf(issuing)).toBe(subjectOf(path('est-issuing-main.pem')));
    const fingerprint = (pem: string) => openssl(['x509', '-in', pem, '-noout', '-fingerprint', '-sha256']);
    expect(fingerprint(root)).toBe(fingerprint(path('est-root-main.pem')));
    expect(fingerprint(issuing)).toBe(fingerprint(path('est-issuing-main.pem')));
    expect(openssl(['x509', '-in', root, '-noout', '-text'])).toMatch(/CA:TRUE, pathlen:1/);
    expect(openssl(['x509', '-in', issuing, '-noout', '-text'])).toMatch(/CA:TRUE, pathlen:0/);
    expect(opensslVerify(['-CAfile', root, root]).output).toContain(': OK');
    const issuingVerified = opensslVerify(['-CAfile', root, issuing]);
    expect(issuingVerified.status, issuingVerified.output).toBe(0);
    // Not trusted the other way round: the files are what they claim to be.
    expect(opensslVerify(['-CAfile', issuing, root]).status).not.toBe(0);

    // Without --caout and with PEM, pki writes the bundle (root, then issuing) to stdout.
    const bundle = await pki(['--estca', ...estOptions(server, 'main').slice(0, 4), '--outform', 'pem']);
    expect(bundle.code, bundle.stderr).toBe(0);
    const blocks = bundle.stdout
      .toString()
      .match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g);
    expect(blocks?.map((pem) => pem.trim())).toEqual([
      readFileSync(root, 'utf8').trim(),
      readFileSync(issuing, 'utf8').trim(),
    ]);
  });
});

describe('strongSwan pki --est: initial enrolment (interop gap)', () => {
  it('with the factory certificate pki sends /simplereenroll, which the server refuses (403)', async () => {
    const key = pkiKey('gap-factory.key');
    const csr = pkiCsr('gap-factory.csr.der', key, SUBJECT, [`device-${SERIAL}`]);
    const [result, entries] = await audited(server, () =>
      pki([
        '--est',
        ...estOptions(server, 'main'),
        // The factory chain, so pki sends the intermediate and the TLS client check passes.
        '--cacert',
        files.factoryRoot,
        '--cacert',
        files.factoryIntermediate,
        '--cert',
        files.factoryCert,
        '--key',
        files.factoryKey,
        '--in',
        csr,
        '--outform',
        'pem',
      ]),
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toContain("sending TLS client certificate 'CN=device-5EED01, serialNumber=5EED01'");
    expect(result.stderr).toContain("sending TLS intermediate certificate 'O=edge-gatewayd factory");
    expect(result.stderr).toContain('EST request failed: HTTP 403');
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry?.path).toBe('/.well-known/est/simplereenroll');
    expect(entry?.status).toBe(403);
    // TLS client authentication itself succeeded (the factory chain verified) ...
    expect(entry?.client).toMatchObject({ subject: SUBJECT, authorized: true });
    expect(entry?.client?.issuer).toBe('O=edge-gatewayd factory, CN=edge-gatewayd factory signer');
    // ... the refusal is the server's re-enrolment policy: only its own certificates renew.
    expect(entry?.reason).toMatch(/\/simplereenroll needs a certificate issued by this EST CA/);
    expect(entry?.issued).toBeUndefined();
  });

  it('without a client certificate pki sends /simpleenroll with no TLS client auth: 401', async () => {
    const key = pkiKey('gap-nocert.key');
    const csr = pkiCsr('gap-nocert.csr.der', key, SUBJECT);
    const [result, entries] = await audited(basicServer, () =>
      pki([
        '--est',
        ...estOptions(basicServer, 'basic'),
        '--userpass',
        `${BASIC.username}:${BASIC.password}`,
        '--in',
        csr,
      ]),
    );
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('server requested a certificate, but client authentication disabled');
    expect(result.stderr).toContain('EST request failed: HTTP 401');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ path: '/.well-known/est/simpleenroll', status: 401 });
    expect(entries[0]?.client).toBeUndefined();
    expect(entries[0]?.reason).toMatch(/^no TLS client certificate: \/simpleenroll needs one/);
  });
});

describe('strongSwan pki --est: re-enrolment with the operational certificate', () => {
  let operational: { cert: string; key: string };
  beforeAll(async () => {
    operational = await operationalIdentity(server, 'main');
  });

  it('/simplereenroll with a fresh key: the device profile, verified by openssl against the EST CA', async () => {
    const newKey = pkiKey('reenrol.key');
    const csr = pkiCsr('reenrol.csr.der', newKey, SUBJECT, [`device-${SERIAL}`]);
    const [result, entries] = await audited(server, () =>
      pki([
        '--est',
        ...estOptions(server, 'main'),
        '--cert',
        operational.cert,
        '--key',
        operational.key,
        '--in',
        csr,
        '--outform',
        'pem',
      ]),
    );
    expect(result.code, `${result.command}\n${result.stderr}`).toBe(0);
    expect(result.stderr).toContain(`Issued certificate "${SUBJECT}"`);
    expect(result.stderr).toMatch(/Issued certificate is trusted, valid from .* \(currently valid\)/);
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry).toMatchObject({ method: 'POST', path: '/.well-known/est/simplereenroll', status: 200 });
    // pki authenticated TLS with the operational certificate.
    expect(entry?.client).toMatchObject({ subject: SUBJECT, authorized: true });
    expect(normalSerial(entry?.client?.serial)).toBe(serialOf(operational.cert));

    const issued = file('reenrol.crt', result.stdout);
    const verified = opensslVerify(['-CAfile', path('estca.pem'), '-untrusted', path('estca-1.pem'), issued]);
    expect(verified.status, verified.output).toBe(0);
    // Leaf-only answer: the root alone does not verify it.
    expect(opensslVerify(['-CAfile', path('estca.pem'), issued]).status).not.toBe(0);
    expect(subjectOf(issued)).toBe(SUBJECT_RFC2253);
    expect(publicKeyOfCert(issued)).toBe(publicKeyOfKey(newKey));
    expect(publicKeyOfCert(issued)).not.toBe(publicKeyOfCert(operational.cert));
    expect(serialOf(issued)).toBe(normalSerial(entry?.issued?.serial));
    expect(issuerOf(issued)).toBe(subjectOf(path('estca-1.pem')));
    const text = openssl(['x509', '-in', issued, '-noout', '-text']);
    expect(text).toMatch(/X509v3 Basic Constraints: critical\s+CA:FALSE/);
    expect(text).toMatch(/X509v3 Key Usage: critical\s+Digital Signature\n/);
    expect(text).toMatch(/X509v3 Extended Key Usage: \s*\n\s+TLS Web Client Authentication\n/);
    expect(text).toMatch(/X509v3 Subject Alternative Name: \s*\n\s+DNS:device-5EED01\n/);
  });

  it('refuses a re-enrolment CSR whose subject differs from the certificate (RFC 7030 §4.2.2): 400', async () => {
    const key = pkiKey('other-subject.key');
    const csr = pkiCsr('other-subject.csr.der', key, 'CN=device-0THER, serialNumber=0THER');
    const [result, entries] = await audited(server, () =>
      pki([
        '--est',
        ...estOptions(server, 'main'),
        '--cert',
        operational.cert,
        '--key',
        operational.key,
        '--in',
        csr,
      ]),
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toContain('EST request failed: HTTP 400');
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ path: '/.well-known/est/simplereenroll', status: 400 });
    expect(entries[0]?.reason).toMatch(/differs from the client certificate's .*\(RFC 7030 §4\.2\.2\)/);
  });

  it('refuses a client certificate from another CA (403) and audits why', async () => {
    const key = pkiKey('rogue-new.key');
    const csr = pkiCsr('rogue-new.csr.der', key, 'CN=device-BAD, serialNumber=BAD');
    const [result, entries] = await audited(server, () =>
      pki([
        '--est',
        ...estOptions(server, 'main'),
        // The rogue chain, so pki presents it whole: the refusal is about the CA, not a missing link.
        '--cacert',
        files.rogueRoot,
        '--cacert',
        files.rogueIntermediate,
        '--cert',
        files.rogueCert,
        '--key',
        files.rogueKey,
        '--in',
        csr,
      ]),
    );
    expect(result.code).not.toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toContain("sending TLS client certificate 'CN=device-BAD, serialNumber=BAD'");
    expect(result.stderr).toContain('EST request failed: HTTP 403');
    expect(entries).toHaveLength(1);
    const [entry] = entries;
    expect(entry).toMatchObject({ path: '/.well-known/est/simplereenroll', status: 403 });
    expect(entry?.client).toMatchObject({ subject: 'CN=device-BAD, serialNumber=BAD', authorized: false });
    expect(entry?.reason).toMatch(/is not from an accepted CA/);
    expect(entry?.issued).toBeUndefined();
    // The same line is in the audit file a person reads.
    const lines = readFileSync(server.auditLogPath, 'utf8').trim().split('\n');
    expect(JSON.parse(lines.at(-1) ?? '{}')).toEqual(entry);
  });

  it('polls on 202 + Retry-After and receives the certificate once the request is approved', async () => {
    const key = pkiKey('pending.key');
    const csr = pkiCsr('pending.csr.der', key, SUBJECT, [`device-${SERIAL}`]);
    // Retry-After (2 s) is longer than --interval (1 s): pki must wait what the server said.
    server.faults.pending = { count: 2, retryAfterSeconds: 2 };
    const [result, entries] = await audited(server, () =>
      pki([
        '--est',
        ...estOptions(server, 'main'),
        '--cert',
        operational.cert,
        '--key',
        operational.key,
        '--interval',
        '1',
        '--maxpolltime',
        '30',
        '--in',
        csr,
        '--outform',
        'pem',
      ]),
    );
    expect(server.faults.pending).toBeUndefined();
    expect(result.code, `${result.command}\n${result.stderr}`).toBe(0);
    expect(result.stderr).toContain('EST request pending, polling every 2 seconds up to 30 seconds');
    expect(result.stderr.match(/going to sleep for 2 seconds/g)).toHaveLength(2);
    expect(entries.map((entry) => [entry.path, entry.status])).toEqual([
      ['/.well-known/est/simplereenroll', 202],
      ['/.well-known/est/simplereenroll', 202],
      ['/.well-known/est/simplereenroll', 200],
    ]);
    expect(entries[0]?.reason).toBe('request accepted and pending approval: retry after 2 s');
    const issued = file('pending.crt', result.stdout);
    const verified = opensslVerify(['-CAfile', path('estca.pem'), '-untrusted', path('estca-1.pem'), issued]);
    expect(verified.status, verified.output).toBe(0);
    expect(publicKeyOfCert(issued)).toBe(publicKeyOfKey(key));
    expect(serialOf(issued)).toBe(normalSerial(entries[2]?.issued?.serial));
  });

  it('gives up after --maxpolltime while the request stays pending', async () => {
    const key = pkiKey('pending-forever.key');
    const csr = pkiCsr('pending-forever.csr.der', key, SUBJECT);
    server.faults.pending = { count: 1000, retryAfterSeconds: 1 };
    try {
      const [result, entries] = await audited(server, () =>
        pki([
          '--est',
          ...estOptions(server, 'main'),
          '--cert',
          operational.cert,
          '--key',
          operational.key,
          '--interval',
          '1',
          '--maxpolltime',
          '2',
          '--in',
          csr,
        ]),
      );
      expect(result.code).not.toBe(0);
      expect(result.stdout.length).toBe(0);
      expect(result.stderr).toContain('maximum poll time reached: 2 seconds');
      expect(entries.length).toBeGreaterThanOrEqual(2);
      expect(entries.every((entry) => entry.status === 202 && entry.issued === undefined)).toBe(true);
    } finally {
      delete server.faults.pending;
    }
  });
});

describe('strongSwan pki --est with HTTP Basic required as well', () => {
  let operational: { cert: string; key: string };
  beforeAll(async () => {
    operational = await operationalIdentity(basicServer, 'basic', true);
  });

  function reenrol(csr: string, userpass: string[]): Promise<Run> {
    return pki([
      '--est',
      ...estOptions(basicServer, 'basic'),
      '--cert',
      operational.cert,
      '--key',
      operational.key,
      ...userpass,
      '--in',
      csr,
      '--outform',
      'pem',
    ]);
  }

  it('--userpass with the right credentials: issued, and openssl verifies it', async () => {
    const key = pkiKey('basic-ok.key');
    const csr = pkiCsr('basic-ok.csr.der', key, SUBJECT, [`device-${SERIAL}`]);
    const [result, entries] = await audited(basicServer, () =>
      reenrol(csr, ['--userpass', `${BASIC.username}:${BASIC.password}`]),
    );
    expect(result.code, `${result.command}\n${result.stderr}`).toBe(0);
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ path: '/.well-known/est/simplereenroll', status: 200 });
    const issued = file('basic-ok.crt', result.stdout);
    const verified = opensslVerify([
      '-CAfile',
      path('est-root-basic.pem'),
      '-untrusted',
      path('est-issuing-basic.pem'),
      issued,
    ]);
    expect(verified.status, verified.output).toBe(0);
    expect(subjectOf(issued)).toBe(SUBJECT_RFC2253);
    expect(publicKeyOfCert(issued)).toBe(publicKeyOfKey(key));
  });

  it('a wrong password or none: 401, nothing issued', async () => {
    const key = pkiKey('basic-bad.key');
    const csr = pkiCsr('basic-bad.csr.der', key, SUBJECT);
    const [wrong, wrongEntries] = await audited(basicServer, () =>
      reenrol(csr, ['--userpass', `${BASIC.username}:not-the-password`]),
    );
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout.length).toBe(0);
    expect(wrong.stderr).toContain('EST request failed: HTTP 401');
    expect(wrongEntries).toHaveLength(1);
    expect(wrongEntries[0]).toMatchObject({ status: 401 });
    expect(wrongEntries[0]?.reason).toBe('HTTP Basic authentication failed: wrong username or password');

    const [none, noneEntries] = await audited(basicServer, () => reenrol(csr, []));
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('EST request failed: HTTP 401');
    expect(noneEntries).toHaveLength(1);
    expect(noneEntries[0]?.reason).toBe(
      'HTTP Basic authentication is required in addition to the client certificate',
    );
    expect([...wrongEntries, ...noneEntries].every((entry) => entry.issued === undefined)).toBe(true);
  });
});

describe('strongSwan pki against line-wrapped bodies (wrapBase64: true; interop gap: 64-column CRLF base64)', () => {
  it('pki --estca cannot parse the wrapped /cacerts answer', async () => {
    const [result, entries] = await audited(wrappedServer, () =>
      pki([
        '--estca',
        '--url',
        wrappedServer.url,
        '--cacert',
        path('est-root-wrapped.pem'),
        '--caout',
        path('wrapped-ca.pem'),
        '--outform',
        'pem',
      ]),
    );
    expect(entries.map((entry) => entry.status)).toEqual([200]);
    expect(result.code).not.toBe(0);
    expect(result.stderr).toContain('could not parse single CA certificate');
  });

  it('pki --est loses the certificate the server issued: its base64 decoder does not skip CRLF', async () => {
    const operational = await operationalIdentity(wrappedServer, 'wrapped');
    const key = pkiKey('wrapped-new.key');
    const csr = pkiCsr('wrapped-new.csr.der', key, SUBJECT);
    const [result, entries] = await audited(wrappedServer, () =>
      pki([
        '--est',
        ...estOptions(wrappedServer, 'wrapped'),
        '--cert',
        operational.cert,
        '--key',
        operational.key,
        '--in',
        csr,
      ]),
    );
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ path: '/.well-known/est/simplereenroll', status: 200 });
    expect(entries[0]?.issued).toBeDefined();
    expect(result.code).not.toBe(0);
    expect(result.stdout.length).toBe(0);
    expect(result.stderr).toContain('could not parse pkcs7 signed-data container');
  });
});
