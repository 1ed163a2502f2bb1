import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { brokerCertificates } from './broker-certificates.js';
import type { MosquittoBrokerOptions } from './mosquitto-broker-options.js';

const INSTALL_HINT = 'install it with: apt-get install mosquitto (or run scripts/setup.sh)';
const READY_TIMEOUT_MS = 20_000;

/**
 * A real mosquitto (MQTT 3.1.1 and 5) for tests, benchmarks and the demo, TLS only: client
 * certificates from `caFiles` required, the certificate CN becomes the username
 * (use_identity_as_username), persistence off unless asked for.
 *
 * pause() stops the process and resume() starts it again on the same port, for outage tests;
 * restart() does both. mosquitto logs to stderr, kept in `output` (connections show the username as
 * `u'<CN>'`).
 */
export class MosquittoBroker {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  /** PEM of the CA the broker's certificate chains to: what clients trust. */
  readonly caPem: string;
  /** The same, as a file. */
  readonly caFile: string;
  /**
   * A client certificate and key (PEM files, CN "backend") the broker accepts, for the application
   * side subscribing to what gateways publish; undefined when `serverCert` was given.
   */
  backend: { certFile: string; keyFile: string } | undefined;
  readonly #ownsDir: boolean;
  readonly #configFile: string;
  readonly #binary: string;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';
  #log = '';

  private constructor(
    dir: string,
    ownsDir: boolean,
    host: string,
    port: number,
    caFile: string,
    binary: string,
  ) {
    this.dir = dir;
    this.#ownsDir = ownsDir;
    this.host = host;
    this.port = port;
    this.caFile = caFile;
    this.caPem = readFileSync(caFile, 'utf8');
    this.#configFile = join(dir, 'mosquitto.conf');
    this.#binary = binary;
  }

  /** Writes the configuration, starts mosquitto and resolves once it listens. */
  static async start(options: MosquittoBrokerOptions): Promise<MosquittoBroker> {
    if (options.caFiles.length === 0 && options.serverCert)
      throw new Error(
        'MosquittoBroker: caFiles is empty (client CAs) and there is no backend CA with serverCert',
      );
    if (Boolean(options.serverCert) !== Boolean(options.serverKey))
      throw new Error('MosquittoBroker: give serverCert and serverKey together, or neither');
    const ownsDir = options.dir === undefined;
    const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'egw-mosquitto-'));
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const host = options.host ?? '127.0.0.1';
    try {
      const made = options.serverCert ? undefined : brokerCertificates(dir, host);
      const clientCas = join(dir, 'client-cas.pem');
      // The broker's own CA is a client CA too: it issued the backend's certificate.
      const clientCaFiles = made ? [...options.caFiles, made.caFile] : options.caFiles;
      writeFileSync(clientCas, clientCaFiles.map((file) => readFileSync(file, 'utf8').trim()).join('\n'));
      const caFile = made?.caFile ?? options.serverCa ?? (options.serverCert as string);
      for (let attempt = 1; ; attempt++) {
        const port = options.port ?? (await freePort(host));
        const broker = new MosquittoBroker(dir, ownsDir, host, port, caFile, options.binary ?? 'mosquitto');
        broker.backend = made && { certFile: made.backendCertFile, keyFile: made.backendKeyFile };
        broker.#writeConfig(
          options,
          clientCas,
          made?.certFile ?? (options.serverCert as string),
          made?.keyFile ?? (options.serverKey as string),
        );
        try {
          await broker.#launch();
          return broker;
        } catch (error) {
          if (!isAddressInUse(error) || options.port !== undefined || attempt >= 5) throw error;
        }
      }
    } catch (error) {
      if (ownsDir) rmSync(dir, { recursive: true, force: true });
      throw error;
    }
  }

  /** `mqtts://HOST:PORT` (IPv6 hosts in brackets). */
  get url(): string {
    return `mqtts://${this.host.includes(':') ? `[${this.host}]` : this.host}:${this.port}`;
  }

  /** mosquitto's log (stderr) since the last (re)start. */
  get output(): string {
    return this.#output;
  }

  /** mosquitto's log since start(), across restarts. */
  get log(): string {
    return this.#log;
  }

  get running(): boolean {
    return this.#child !== undefined;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** Stops mosquitto (SIGTERM: with persistence it saves its sessions) and keeps the port for resume(). */
  async pause(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.exitCode !== null || child.signalCode !== null) {
      await this.#exited;
      return;
    }
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
    await this.#exited;
    clearTimeout(killer);
  }

  /** Starts mosquitto again on the same port and configuration. */
  async resume(): Promise<void> {
    if (this.#child) return;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#launch();
        return;
      } catch (error) {
        // A socket of the previous process may hold the port for a moment.
        if (!isAddressInUse(error) || attempt >= 50) throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /** pause() then resume(): an outage of no length. */
  async restart(): Promise<void> {
    await this.pause();
    await this.resume();
  }

  /** Stops mosquitto for good; a directory this object created is removed. */
  async stop(): Promise<void> {
    await this.pause();
    if (this.#ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }

  #writeConfig(options: MosquittoBrokerOptions, clientCas: string, certFile: string, keyFile: string): void {
    const lines = [
      // Started as root, mosquitto would switch to user "mosquitto", who cannot read 0700 temp dirs.
      `user ${userInfo().username}`,
      'per_listener_settings false',
      options.persistence ? 'persistence true' : 'persistence false',
      ...(options.persistence ? [`persistence_location ${this.dir}/`, 'autosave_interval 1800'] : []),
      `max_queued_messages ${options.maxQueuedMessages ?? 100_000}`,
      ...(options.maxInflightMessages ? [`max_inflight_messages ${options.maxInflightMessages}`] : []),
      'log_dest stderr', // unbuffered, unlike stdout into a pipe
      'log_type error',
      'log_type warning',
      'log_type notice',
      'log_type information',
      ...(options.debugLog ? ['log_type debug'] : []),
      'log_timestamp_format %Y-%m-%dT%H:%M:%S',
      `listener ${this.port} ${this.host}`,
      `cafile ${clientCas}`,
      `certfile ${certFile}`,
      `keyfile ${keyFile}`,
      'require_certificate true',
      'use_identity_as_username true',
      ...(options.tlsVersion ? [`tls_version ${options.tlsVersion}`] : []),
      '',
    ];
    writeFileSync(this.#configFile, lines.join('\n'));
  }

  async #launch(): Promise<void> {
    const child = spawn(this.#binary, ['-c', this.#configFile], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#output = '';
    const collect = (chunk: Buffer) => {
      this.#output += chunk.toString();
      this.#log += chunk.toString();
    };
    child.stdout?.on('data', collect);
    child.stderr?.on('data', collect);
    this.#exited = new Promise((resolve) => child.once('close', () => resolve()));
    this.#child = child;
    try {
      await new Promise<void>((resolve, reject) => {
        // A ceiling against hangs, not a timing requirement.
        const timer = setTimeout(() => {
          cleanup();
          reject(new Error(`mosquitto did not start within ${READY_TIMEOUT_MS} ms: ${this.#output.trim()}`));
        }, READY_TIMEOUT_MS);
        const check = () => {
          if (/ running/.test(this.#output)) {
            cleanup();
            resolve();
          }
        };
        const onError = (error: NodeJS.ErrnoException) => {
          cleanup();
          reject(
            error.code === 'ENOENT'
              ? new Error(`mosquitto is not installed (${this.#binary} not found): ${INSTALL_HINT}`)
              : new Error(`cannot start ${this.#binary}: ${error.message}`),
          );
        };
        const onClose = () => {
          cleanup();
          reject(new Error(`mosquitto exited before it was ready: ${this.#output.trim()}`));
        };
        const cleanup = () => {
          clearTimeout(timer);
          child.stdout?.off('data', check);
          child.stderr?.off('data', check);
          child.off('error', onError);
          child.off('close', onClose);
        };
        child.stdout?.on('data', check);
        child.stderr?.on('data', check);
        child.once('error', onError);
        child.once('close', onClose);
      });
    } catch (error) {
      await this.pause();
      throw error;
    }
  }
}

function isAddressInUse(error: unknown): boolean {
  return /address already in use|EADDRINUSE/i.test(String((error as Error)?.message));
}

/** A TCP port that was free a moment ago. */
function freePort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}
