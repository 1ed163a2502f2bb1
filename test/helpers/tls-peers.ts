import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { createPrivateKey, X509Certificate as NodeX509, webcrypto } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { simulatedAtecc608Bus } from '../../src/daemon/simulated-atecc608-bus.js';
import { createDevice as createAteccDevice } from '../../src/keys/atecc608/index.js';
import { type KeyStore, SoftwareKeyDevice, WorkerKeyStore } from '../../src/keys/index.js';
import { createDevice as createTpmDevice } from '../../src/keys/tpm/index.js';
import { buildCsr, type CsrProfile } from '../../src/pki/index.js';
import * as x509 from '../../src/pki/x509.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const factoryCa = join(root, 'scripts/factory-ca.sh');

/** Runs an OS tool; a missing one fails with the command that installs it. */
export function tool(
  command: string,
  args: string[],
  options: { cwd?: string; input?: string } = {},
): string {
  try {
    return execFileSync(command, args, {
      cwd: options.cwd,
      input: options.input,
      encoding: 'utf8',
      stdio: ['pipe', 'pipe', 'pipe'],
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new Error(`${command} is missing: ${installHint(command)}`);
    throw new Error(`${command} ${args.join(' ')} failed: ${e.stderr || e.message}`);
  }
}

function installHint(command: string): string {
  const pkg = command === 'mosquitto' ? 'mosquitto' : command === 'swtpm' ? 'swtpm swtpm-tools' : 'openssl';
  return `apt-get install ${pkg} (or run scripts/setup.sh)`;
}

export const derOfPem = (pem: string): Uint8Array => new Uint8Array(new NodeX509(pem).raw);
export const derOfCertFile = (path: string): Uint8Array => derOfPem(readFileSync(path, 'utf8'));
export const pkcs8OfKeyFile = (path: string): Uint8Array =>
  new Uint8Array(createPrivateKey(readFileSync(path)).export({ type: 'pkcs8', format: 'der' }));

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolvePort(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface ServerCredentials {
  cert: string;
  key: string;
}

/**
 * The PKIs of a gateway's world, made with openssl in `dir`:
 * - upstream CA → server certificate for localhost / 127.0.0.1 (what the gateway trusts upstream);
 * - factory CA (scripts/factory-ca.sh, root + intermediate) → client certificates (what the broker trusts);
 * - a rogue CA, with a server certificate and a client certificate of its own;
 * - an expired server certificate from the upstream CA (made with @peculiar/x509: OpenSSL 3.0's
 *   `x509 -req` cannot backdate).
 */
export class TestPki {
  readonly upstreamCa: string;
  readonly server: ServerCredentials;
  readonly rogueServer: ServerCredentials;
  readonly factoryDir: string;
  readonly rogueCa: string;

  private constructor(readonly dir: string) {
    this.upstreamCa = join(dir, 'upstream-ca.crt');
    this.server = { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') };
    this.rogueServer = { cert: join(dir, 'rogue-server.crt'), key: join(dir, 'rogue-server.key') };
    this.factoryDir = join(dir, 'factory');
    this.rogueCa = join(dir, 'rogue-ca.crt');
  }

  static create(dir: string): TestPki {
    mkdirSync(dir, { recursive: true });
    const pki = new TestPki(dir);
    pki.#selfSignedCa('upstream-ca', 'Upstream Test CA');
    pki.#selfSignedCa('rogue-ca', 'Rogue CA');
    pki.#serverCert('server', 'upstream-ca');
    pki.#serverCert('rogue-server', 'rogue-ca');
    tool('bash', [factoryCa, 'init', pki.factoryDir]);
    return pki;
  }

  /** The upstream trust bundle as the gateway holds it (DER). */
  get trustBundle(): Uint8Array[] {
    return [derOfCertFile(this.upstreamCa)];
  }

  /** PEM file with the factory root: what the broker trusts for client certificates. */
  get factoryRoot(): string {
    return join(this.factoryDir, 'root.crt');
  }

  #selfSignedCa(name: string, cn: string): void {
    tool('openssl', [
      'req',
      ...[
        '-x509',
        '-newkey',
        'ec',
        '-pkeyopt',
        'ec_paramgen_curve:P-256',
        '-nodes',
        '-sha256',
        '-days',
        '30',
      ],
      ...[
        '-keyout',
        join(this.dir, `${name}.key`),
        '-out',
        join(this.dir, `${name}.crt`),
        '-subj',
        `/CN=${cn}`,
      ],
      ...['-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ]);
  }

  #serverCert(name: string, ca: string): void {
    const ext = join(this.dir, `${name}.ext`);
    writeFileSync(
      ext,
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' +
        'subjectAltName=DNS:localhost,IP:127.0.0.1\n',
    );
    const csr = join(this.dir, `${name}.csr`);
    tool('openssl', [
      'req',
      ...['-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', join(this.dir, `${name}.key`), '-out', csr, '-subj', '/CN=localhost'],
    ]);
    tool('openssl', [
      'x509',
      ...['-req', '-in', csr, '-CA', join(this.dir, `${ca}.crt`), '-CAkey', join(this.dir, `${ca}.key`)],
      ...[
        '-CAcreateserial',
        '-sha256',
        '-days',
        '30',
        '-extfile',
        ext,
        '-out',
        join(this.dir, `${name}.crt`),
      ],
    ]);
  }

  /** A server certificate from the upstream CA whose validity ended in 2021. */
  async expiredServer(): Promise<ServerCredentials> {
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256' };
    const caKey = await webcrypto.subtle.importKey(
      'pkcs8',
      pkcs8OfKeyFile(join(this.dir, 'upstream-ca.key')),
      algorithm,
      false,
      ['sign'],
    );
    const keys = await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify']);
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: '0a1b2c',
      issuer: new x509.X509Certificate(readFileSync(this.upstreamCa, 'utf8')).subject,
      subject: 'CN=localhost',
      notBefore: new Date('2020-01-01T00:00:00Z'),
      notAfter: new Date('2021-01-01T00:00:00Z'),
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      publicKey: keys.publicKey,
      signingKey: caKey,
      extensions: [
        new x509.SubjectAlternativeNameExtension([
          { type: 'dns', value: 'localhost' },
          { type: 'ip', value: '127.0.0.1' },
        ]),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      ],
    });
    const credentials = { cert: join(this.dir, 'expired.crt'), key: join(this.dir, 'expired.key') };
    writeFileSync(credentials.cert, cert.toString('pem'));
    const pkcs8 = Buffer.from(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey));
    writeFileSync(
      credentials.key,
      createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }).export({ type: 'pkcs8', format: 'pem' }),
    );
    return credentials;
  }

  /** The gateway's certificate chain (leaf, factory intermediate; DER) for a key store's key. */
  async clientChain(store: KeyStore, serial: string): Promise<Uint8Array[]> {
    const profile: CsrProfile = {
      serial,
      commonName: 'device-{serial}',
      sanDns: [],
      sanUri: [],
      serverAuth: false,
      deviceType: 'edge-gateway',
      deviceTypeOid: '1.3.6.1.4.1.12345.1.1',
    };
    const csr = await buildCsr(store, profile);
    const csrPath = join(this.dir, `client-${serial}.csr`);
    const certPath = join(this.dir, `client-${serial}.crt`);
    writeFileSync(csrPath, csr.pem);
    tool('bash', [factoryCa, 'sign', this.factoryDir, csrPath, certPath]);
    return [derOfCertFile(certPath), derOfCertFile(join(this.factoryDir, 'intermediate.crt'))];
  }

  /** A software client key (PKCS#8 DER) and its chain from the factory CA. */
  softwareClient(serial: string): { pkcs8: Uint8Array; chain: Uint8Array[] } {
    const { key, csr, cert } = this.#clientRequest(`software-${serial}`, serial);
    tool('bash', [factoryCa, 'sign', this.factoryDir, csr, cert]);
    return {
      pkcs8: pkcs8OfKeyFile(key),
      chain: [derOfCertFile(cert), derOfCertFile(join(this.factoryDir, 'intermediate.crt'))],
    };
  }

  /** A client key and certificate from the rogue CA (the broker must refuse it). */
  rogueClient(serial: string): { pkcs8: Uint8Array; chain: Uint8Array[] } {
    const { key, csr, cert } = this.#clientRequest(`rogue-client-${serial}`, serial);
    const ext = join(this.dir, 'rogue-client.ext');
    writeFileSync(
      ext,
      'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n',
    );
    const signing = ['-CA', this.rogueCa, '-CAkey', join(this.dir, 'rogue-ca.key'), '-CAcreateserial'];
    tool('openssl', [
      'x509',
      '-req',
      '-in',
      csr,
      ...signing,
      '-sha256',
      '-days',
      '30',
      '-extfile',
      ext,
      '-out',
      cert,
    ]);
    return { pkcs8: pkcs8OfKeyFile(key), chain: [derOfCertFile(cert)] };
  }

  /** A fresh P-256 key and CSR for device-<serial> as `name`.key/.csr; `cert` is where its certificate goes. */
  #clientRequest(name: string, serial: string): { key: string; csr: string; cert: string } {
    const [key, csr, cert] = ['key', 'csr', 'crt'].map((ext) => join(this.dir, `${name}.${ext}`)) as [
      string,
      string,
      string,
    ];
    const newKey = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key];
    tool('openssl', [
      'req',
      '-new',
      ...newKey,
      '-out',
      csr,
      '-subj',
      `/CN=device-${serial}/serialNumber=${serial}`,
    ]);
    return { key, csr, cert };
  }
}

/** A child process that serves on a port, with its output kept for failure messages. */
export class PeerProcess {
  #output = '';
  readonly #exited: Promise<void>;

  private constructor(
    readonly child: ChildProcess,
    readonly port: number,
  ) {
    child.stdout?.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString();
    });
    this.#exited = new Promise((done) => child.once('close', () => done()));
  }

  get output(): string {
    return this.#output;
  }

  /**
   * Spawns `command` with `args(port)` on a fresh free port until it prints `ready` (or its port
   * accepts), retrying when the port was taken in between.
   */
  static async start(command: string, args: (port: number) => string[], ready: RegExp): Promise<PeerProcess> {
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const child = spawn(command, args(port), { stdio: ['pipe', 'pipe', 'pipe'] });
      const peer = new PeerProcess(child, port);
      try {
        await peer.#waitFor(command, ready);
        return peer;
      } catch (error) {
        await peer.stop();
        if (!/in use|EADDRINUSE/i.test((error as Error).message) || attempt >= 5) throw error;
      }
    }
  }

  #waitFor(command: string, ready: RegExp, timeoutMs = 20_000): Promise<void> {
    return new Promise((resolveReady, reject) => {
      // A ceiling against hangs (the caller kills the child), not a timed assertion.
      const timer = setTimeout(() => {
        cleanup();
        reject(
          new Error(
            `${command} printed nothing matching ${ready} within ${timeoutMs} ms: ${this.#output.trim()}`,
          ),
        );
      }, timeoutMs);
      const check = () => {
        if (ready.test(this.#output)) {
          cleanup();
          resolveReady();
        }
      };
      const onError = (error: NodeJS.ErrnoException) => {
        cleanup();
        reject(
          error.code === 'ENOENT'
            ? new Error(`${command} is missing: ${installHint(command)}`)
            : new Error(`cannot start ${command}: ${error.message}`),
        );
      };
      const onClose = () => {
        cleanup();
        reject(new Error(`${command} exited before it was ready: ${this.#output.trim()}`));
      };
      const cleanup = () => {
        clearTimeout(timer);
        this.child.stdout?.off('data', check);
        this.child.stderr?.off('data', check);
        this.child.off('error', onError);
        this.child.off('close', onClose);
      };
      this.child.stdout?.on('data', check);
      this.child.stderr?.on('data', check);
      this.child.once('error', onError);
      this.child.once('close', onClose);
    });
  }

  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGTERM');
    await this.#exited;
  }
}

export interface OpensslServerOptions {
  server: ServerCredentials;
  /** -tls1_2 or -tls1_3 */
  version: '-tls1_2' | '-tls1_3';
  /** CA file for client certificates; when set the server requires one (-Verify 1). */
  clientCa?: string;
  /** -rev (reverses each line) or -www (an HTTP status page). */
  mode?: '-rev' | '-www';
  /** More s_server flags. */
  extra?: string[];
}

/** `openssl s_server` on 127.0.0.1:<free port>. */
export function startOpensslServer(options: OpensslServerOptions): Promise<PeerProcess> {
  return PeerProcess.start(
    'openssl',
    (port) => [
      's_server',
      ...['-accept', `127.0.0.1:${port}`, '-cert', options.server.cert, '-key', options.server.key],
      options.version,
      options.mode ?? '-rev',
      ...(options.clientCa ? ['-Verify', '1', '-verify_return_error', '-CAfile', options.clientCa] : []),
      ...(options.extra ?? []),
    ],
    /ACCEPT/,
  );
}

/** A swtpm with an identity key provisioned at 0x81010001, opened as the daemon does (worker). */
export async function tpmKeyStore(dir: string): Promise<{ store: WorkerKeyStore; swtpm: SwtpmProcess }> {
  const swtpm = await SwtpmProcess.start({ stateDir: join(dir, 'tpm-state') });
  try {
    const params = { tcti: swtpm.tcti, persistentHandle: 0x81010001, certificateDir: join(dir, 'tpm-certs') };
    const device = createTpmDevice(params);
    try {
      device.connect();
      if (!device.hasKey()) device.generateKey({ overwrite: false });
    } finally {
      device.close();
    }
    return { store: await WorkerKeyStore.open('tpm', params), swtpm };
  } catch (error) {
    await swtpm.stop();
    throw error;
  }
}

/** The ATECC608A simulator with a key in slot 0, opened as the daemon does (worker). */
export async function ateccKeyStore(dir: string): Promise<WorkerKeyStore> {
  const params = {
    bus: 1,
    address: 0x60,
    keySlot: 0,
    i2cBus: simulatedAtecc608Bus({ statePath: join(dir, 'atecc608.json'), timing: false }),
  };
  const device = createAteccDevice(params);
  try {
    device.connect();
    device.generateKey({ overwrite: true });
  } finally {
    device.close();
  }
  return WorkerKeyStore.open('atecc608', params);
}

/**
 * A worker-hosted key store on the slow-signing test double (test/fixtures/slow-signing-key-device.mjs):
 * `delayMs` per signature; `flags` is its shared Int32 [signing now, signatures made, delay of the next
 * signature, refuse the next signature].
 */
export async function slowSigningKeyStore(
  dir: string,
  name: string,
  delayMs: number,
  callTimeoutMs = 5_000,
): Promise<{ store: WorkerKeyStore; flags: Int32Array }> {
  const flags = new Int32Array(new SharedArrayBuffer(16));
  const software = { path: join(dir, `${name}.pem`), certificateDir: join(dir, `${name}-certs`) };
  new SoftwareKeyDevice(software).generateKey({ overwrite: true });
  const store = await WorkerKeyStore.open(
    'atecc608',
    { software, delayMs, flags: flags.buffer },
    { callTimeoutMs, deviceModule: new URL('../fixtures/slow-signing-key-device.mjs', import.meta.url).href },
  );
  return { store, flags };
}
