import { type ChildProcess, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manufactureSwtpmState } from './swtpm-manufacture.js';

export interface SwtpmOptions {
  /** TPM state directory; reuse it to keep persistent keys across restarts. Default: a new temp dir. */
  stateDir?: string;
  /** Server port (the control channel uses port + 1). Default: a free pair found by the OS. */
  port?: number;
  /**
   * Run TPM2_Startup(CLEAR) inside swtpm (flag startup-clear), as firmware does on a real board.
   * false leaves the TPM un-started, so clients must send TPM2_Startup themselves. Default true.
   */
  startupClear?: boolean;
  /** The swtpm executable. Default `swtpm` from PATH. */
  binary?: string;
  /** How long to wait for the server port to accept connections. Default 15 s. */
  readyTimeoutMs?: number;
  /**
   * Manufacture a new state with EK certificates (swtpm_setup --create-ek-cert) issued by the local
   * CA in this directory (see swtpm-manufacture.ts). Default: a bare TPM without EK certificates.
   */
  ekCertificateCaDir?: string;
}

const INSTALL_HINT =
  'install it with: apt-get install swtpm swtpm-tools libtss2-tcti-swtpm0 (or run scripts/setup.sh)';

/**
 * A software TPM 2.0 (swtpm) on localhost TCP, for tests and the demo:
 * `swtpm socket --tpm2 --server type=tcp,port=P --ctrl type=tcp,port=P+1 --tpmstate dir=D
 *  --flags not-need-init,startup-clear`.
 *
 * `tcti` is the tpm2-tss TCTI string that reaches it. The state directory holds the TPM's NV
 * memory (seeds, persistent objects): restart() brings swtpm back on the same ports and state, as a
 * gateway reboot would.
 */
export class SwtpmProcess {
  readonly stateDir: string;
  readonly port: number;
  readonly #ownsStateDir: boolean;
  readonly #options: SwtpmOptions;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #output = '';

  private constructor(stateDir: string, ownsStateDir: boolean, port: number, options: SwtpmOptions) {
    this.stateDir = stateDir;
    this.#ownsStateDir = ownsStateDir;
    this.port = port;
    this.#options = options;
  }

  /** Starts swtpm and resolves once its server port accepts connections. */
  static async start(options: SwtpmOptions = {}): Promise<SwtpmProcess> {
    const ownsStateDir = options.stateDir === undefined;
    const stateDir = options.stateDir ?? mkdtempSync(join(tmpdir(), 'egw-swtpm-'));
    mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    if (options.ekCertificateCaDir) await manufactureSwtpmState(stateDir, options.ekCertificateCaDir);
    // A free port can be taken by someone else before swtpm binds it: try a few fresh pairs.
    for (let attempt = 1; ; attempt++) {
      const port = options.port ?? (await freePortPair());
      const swtpm = new SwtpmProcess(stateDir, ownsStateDir, port, options);
      try {
        await swtpm.#launch();
        return swtpm;
      } catch (error) {
        const inUse = /address already in use|EADDRINUSE/i.test(String((error as Error).message));
        if (!inUse || options.port !== undefined || attempt >= 5) {
          if (ownsStateDir) rmSync(stateDir, { recursive: true, force: true });
          throw error;
        }
      }
    }
  }

  /** `swtpm:host=127.0.0.1,port=P` */
  get tcti(): string {
    return `swtpm:host=127.0.0.1,port=${this.port}`;
  }

  get ctrlPort(): number {
    return this.port + 1;
  }

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** swtpm's stdout/stderr so far (for failure messages). */
  get output(): string {
    return this.#output;
  }

  /** Stops swtpm (SIGTERM, so it saves its volatile state) and starts it again on the same ports and state. */
  async restart(): Promise<void> {
    await this.#terminate();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#launch();
        return;
      } catch (error) {
        // The old listening socket can linger for a moment after exit.
        if (!/address already in use|EADDRINUSE/i.test(String((error as Error).message)) || attempt >= 20)
          throw error;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
  }

  /**
   * Stops swtpm. A state directory this object created is removed unless `keepState`; a directory
   * passed in by the caller is always kept.
   */
  async stop(options: { keepState?: boolean } = {}): Promise<void> {
    await this.#terminate();
    if (this.#ownsStateDir && !options.keepState) rmSync(this.stateDir, { recursive: true, force: true });
  }

  async #launch(): Promise<void> {
    const flags = this.#options.startupClear === false ? 'not-need-init' : 'not-need-init,startup-clear';
    const args = ['socket', '--tpm2'];
    args.push('--server', `type=tcp,port=${this.port},bindaddr=127.0.0.1`);
    args.push('--ctrl', `type=tcp,port=${this.ctrlPort},bindaddr=127.0.0.1`);
    args.push('--tpmstate', `dir=${this.stateDir}`, '--flags', flags);
    const binary = this.#options.binary ?? 'swtpm';
    const child = spawn(binary, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#output = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString();
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      this.#output += chunk.toString();
    });
    const spawnFailed = new Promise<never>((_, reject) =>
      child.once('error', (error: NodeJS.ErrnoException) => {
        reject(
          error.code === 'ENOENT'
            ? new Error(`swtpm is not installed (${binary} not found in PATH): ${INSTALL_HINT}`)
            : new Error(`cannot start ${binary}: ${error.message}`),
        );
      }),
    );
    const exited = new Promise<void>((resolve) => child.once('close', () => resolve()));
    const exitedEarly = exited.then(() => {
      throw new Error(
        `swtpm exited before accepting connections on 127.0.0.1:${this.port}: ${this.#output.trim() || `exit code ${child.exitCode}`}`,
      );
    });
    this.#child = child;
    this.#exited = exited;
    const timeout = this.#options.readyTimeoutMs ?? 15_000;
    try {
      await Promise.race([spawnFailed, exitedEarly, waitForPort(this.port, timeout)]);
    } catch (error) {
      await this.#terminate();
      throw error;
    }
    // The promises lose their purpose once swtpm is up; keep late rejections from going unhandled.
    spawnFailed.catch(() => undefined);
    exitedEarly.catch(() => undefined);
  }

  async #terminate(): Promise<void> {
    const child = this.#child;
    this.#child = undefined;
    if (!child || child.pid === undefined) return;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      const killer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await this.#exited;
      clearTimeout(killer);
    }
  }
}

/** A port P such that P and P+1 are both free on 127.0.0.1 right now. */
async function freePortPair(): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await bindAndRelease(0);
    if (
      port < 65535 &&
      (await bindAndRelease(port + 1).then(
        () => true,
        () => false,
      ))
    )
      return port;
  }
  throw new Error('cannot find two adjacent free TCP ports on 127.0.0.1 for swtpm');
}

function bindAndRelease(port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      server.close(() => resolve(bound));
    });
  });
}

/** Polls until something accepts TCP connections on 127.0.0.1:port. */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const accepted = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (accepted) return;
    if (Date.now() > deadline)
      throw new Error(`swtpm did not accept connections on 127.0.0.1:${port} within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
