import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * This machine's own OS booted as a throwaway container with a real systemd as PID 1, for tests of
 * the unit under the real thing (sandboxing, sd_notify, watchdog, journal):
 *
 *   unshare -m --propagation private            a private mount namespace: nothing below is seen outside
 *   mount -t tmpfs …                             every write lands here and vanishes with the namespace
 *   mount -t overlay -o lowerdir=/,upperdir=<tmpfs>/upper,workdir=<tmpfs>/work <tmpfs>/root
 *   systemd-nspawn -D <tmpfs>/root --boot        PID 1 = systemd, its own PID namespace and /tmp
 *
 * The host's root file system is only ever the overlay's read-only lower layer. The container shares
 * the host's network (tests reach its ports; so services that the host image enables and that would
 * bind ports there — databases, brokers — are masked before boot). It gets the unified cgroup
 * hierarchy (SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1): on a hybrid host the v1 controllers are not
 * delegated to the container, so systemd could not apply DevicePolicy= there; on cgroup v2 it uses
 * BPF device programs, as it does on a board.
 *
 * Never boot systemd with a bare `unshare --pid` on the host root: its tmpfiles service empties the
 * host's /tmp.
 */
export interface ExecResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface ExecOptions {
  input?: string | Buffer;
  timeoutMs?: number;
  /** Run as this user inside the container (runuser -u USER --). */
  user?: string;
}

/** A PATH like systemd's default for services: /usr/local/bin (the supported Node.js) first. */
const CONTAINER_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const BOOT_SCRIPT = [
  'set -euo pipefail',
  'top=$1',
  'mount -t tmpfs -o mode=0755,size=4g egw-nspawn "$top"',
  'mkdir "$top/upper" "$top/work" "$top/root"',
  'mount -t overlay overlay -o "lowerdir=/,upperdir=$top/upper,workdir=$top/work" "$top/root"',
  'root=$top/root',
  // Services and timers the host image enables would start in the container too, and it shares the
  // host's network: mask them (the masks live in the tmpfs like every other write).
  'for wanted in "$root"/etc/systemd/system/multi-user.target.wants/*.service "$root"/etc/systemd/system/timers.target.wants/*.timer; do',
  '  [ -e "$wanted" ] || [ -L "$wanted" ] || continue',
  '  ln -sfn /dev/null "$root/etc/systemd/system/$(basename "$wanted")"',
  'done',
  // bpf(): systemd applies DevicePolicy= on cgroup v2 with BPF programs; nspawn's filter denies it by default.
  'exec systemd-nspawn -q -D "$root" --register=no --keep-unit --link-journal=no --console=passive --system-call-filter=bpf --boot',
].join('\n');

const live = new Set<NspawnContainer>();
// Last resort if the test process exits without afterAll (a crash): SIGKILL to the container's
// PID 1 ends every process in its PID namespace, and with them the mount namespace and the tmpfs.
process.once('exit', () => {
  for (const container of live) container.killNow();
});

export class NspawnContainer {
  readonly hostDir: string;
  readonly #nspawn: ChildProcess;
  readonly #exited: Promise<void>;
  #pid1 = 0;

  private constructor(hostDir: string, nspawn: ChildProcess) {
    this.hostDir = hostDir;
    this.#nspawn = nspawn;
    this.#exited = new Promise((resolve) => nspawn.once('exit', () => resolve()));
  }

  /**
   * Why this machine cannot boot such a container, or undefined when it can. Checked for real (a
   * private mount namespace with a tmpfs and an overlay on /), not guessed from the environment.
   */
  static unavailableReason(): string | undefined {
    if (process.platform !== 'linux') return `not Linux (${process.platform})`;
    if (process.getuid?.() !== 0) return 'not root (unshare, mount and systemd-nspawn need it)';
    for (const tool of ['unshare', 'systemd-nspawn', 'nsenter', 'mount']) {
      if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) {
        return `${tool} is missing${tool === 'systemd-nspawn' ? ' (apt-get install systemd-container)' : ''}`;
      }
    }
    if (!existsSync('/lib/systemd/systemd') && !existsSync('/usr/lib/systemd/systemd')) {
      return 'the host OS has no systemd to boot (/lib/systemd/systemd; apt-get install systemd)';
    }
    const dir = mkdtempSync(join(tmpdir(), 'egw-nspawn-check-'));
    try {
      const probe = spawnSync(
        'unshare',
        [
          '-m',
          '--propagation',
          'private',
          'sh',
          '-c',
          'set -e; mount -t tmpfs tmpfs "$1"; mkdir "$1/u" "$1/w" "$1/r"; ' +
            'mount -t overlay overlay -o "lowerdir=/,upperdir=$1/u,workdir=$1/w" "$1/r"; test -x "$1/r/bin/sh"',
          'sh',
          dir,
        ],
        { encoding: 'utf8', timeout: 20_000 },
      );
      if (probe.status !== 0) {
        return `cannot make a private mount namespace with a tmpfs overlay on / (unshare -m; mount -t overlay): ${(probe.stderr || probe.error?.message || `status ${probe.status}`).trim()}`;
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    return undefined;
  }

  /** Boots the container and resolves once `systemctl is-system-running` settles. */
  static async boot(options: { bootTimeoutMs?: number } = {}): Promise<NspawnContainer> {
    const hostDir = mkdtempSync(join(tmpdir(), 'egw-nspawn-'));
    const logPath = join(hostDir, 'nspawn.log');
    const log = openSync(logPath, 'a');
    const top = join(hostDir, 'mnt');
    spawnSync('mkdir', [top]);
    const nspawn = spawn(
      'unshare',
      ['-m', '--propagation', 'private', 'bash', '-c', BOOT_SCRIPT, 'boot', top],
      {
        stdio: ['ignore', log, log],
        env: { ...minimalEnv(), SYSTEMD_NSPAWN_UNIFIED_HIERARCHY: '1' },
      },
    );
    closeSync(log);
    const container = new NspawnContainer(hostDir, nspawn);
    live.add(container);
    try {
      await container.#waitForBoot(options.bootTimeoutMs ?? 120_000, logPath);
    } catch (error) {
      await container.shutdown();
      throw error;
    }
    return container;
  }

  /** The container's PID 1 (systemd), as the host sees it. */
  get pid1(): number {
    return this.#pid1;
  }

  async #waitForBoot(timeoutMs: number, logPath: string): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const nspawnPid = this.#nspawn.pid as number;
    let exited = false;
    this.#nspawn.once('exit', () => {
      exited = true;
    });
    const failure = (what: string) =>
      new Error(`${what}; nspawn log (${logPath}):\n${readFileSync(logPath, 'utf8').slice(-3000)}`);
    while (this.#pid1 === 0) {
      if (exited) throw failure('systemd-nspawn exited before the container started');
      if (Date.now() > deadline) throw failure('the container did not start');
      const children = readChildren(nspawnPid);
      const init = children.find((pid) => readComm(pid) === 'systemd');
      if (init) this.#pid1 = init;
      else await sleep(100);
    }
    let state = '';
    while (Date.now() < deadline) {
      if (exited) throw failure('the container stopped while booting');
      const result = await this.exec(['systemctl', 'is-system-running', '--wait'], {
        timeoutMs: Math.max(1_000, deadline - Date.now()),
      });
      state = result.stdout.trim();
      if (state === 'running') return;
      if (state === 'degraded') {
        const failed = await this.exec(['systemctl', '--failed', '--no-legend', '--plain']);
        throw failure(`the container booted degraded, failed units:\n${failed.stdout}`);
      }
      await sleep(200); // the manager's bus is not up yet
    }
    throw failure(`the container did not finish booting (is-system-running: ${state || 'no answer'})`);
  }

  /** Runs a command inside the container (all its namespaces, a clean environment, as root or `user`). */
  exec(command: string[], options: ExecOptions = {}): Promise<ExecResult> {
    const inner = options.user ? ['runuser', '-u', options.user, '--', ...command] : command;
    const env = [
      `PATH=${CONTAINER_PATH}`,
      'HOME=/root',
      'LANG=C.UTF-8',
      'SYSTEMD_PAGER=',
      'SYSTEMD_COLORS=0',
    ];
    const args = ['-t', String(this.#pid1), '-a', 'env', '-i', ...env, ...inner];
    return new Promise((resolve, reject) => {
      const child = spawn('nsenter', args, { stdio: ['pipe', 'pipe', 'pipe'], env: minimalEnv() });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk) => {
        stdout += chunk;
      });
      child.stderr.on('data', (chunk) => {
        stderr += chunk;
      });
      const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 120_000);
      child.on('error', (error) => {
        clearTimeout(timer);
        reject(error);
      });
      child.on('close', (code, signal) => {
        clearTimeout(timer);
        resolve({ code, signal, stdout, stderr });
      });
      child.stdin.on('error', () => {}); // a command that does not read its input
      child.stdin.end(options.input ?? '');
    });
  }

  /** `bash -c script` inside the container; rejects unless it exits 0. */
  async sh(script: string, options: ExecOptions = {}): Promise<string> {
    const result = await this.exec(['bash', '-c', `set -euo pipefail\n${script}`], options);
    if (result.code !== 0) {
      throw new Error(
        `in the container, exit ${result.code ?? result.signal}:\n${script}\n--- stdout\n${result.stdout}\n--- stderr\n${result.stderr}`,
      );
    }
    return result.stdout;
  }

  /** Writes a file inside the container (its overlay: the host's files are never touched). */
  async writeFile(path: string, content: string | Buffer, mode = '0644'): Promise<void> {
    const result = await this.exec(
      ['sh', '-c', 'mkdir -p "$(dirname "$1")" && cat > "$1" && chmod "$2" "$1"', 'sh', path, mode],
      { input: content },
    );
    if (result.code !== 0) throw new Error(`cannot write ${path} in the container: ${result.stderr}`);
  }

  async readFile(path: string): Promise<string> {
    return this.sh(`cat ${shellQuote(path)}`);
  }

  /** `systemctl show -p A -p B unit` as an object. */
  async show(unit: string, ...properties: string[]): Promise<Record<string, string>> {
    const out = await this.sh(
      `systemctl show ${properties.map((p) => `-p ${p}`).join(' ')} ${shellQuote(unit)}`,
    );
    return Object.fromEntries(
      out
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  }

  /**
   * Waits (generously; never asserted as a duration) until `check` returns a value. On timeout the
   * error carries `diagnose()`'s output (e.g. the unit's status and journal).
   */
  async waitFor<T>(
    what: string,
    check: () => Promise<T | undefined>,
    options: { timeoutMs?: number; diagnose?: () => Promise<string> } = {},
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await check();
      if (value !== undefined) return value;
      if (Date.now() > deadline) {
        const details = options.diagnose ? await options.diagnose().catch((e) => String(e)) : '';
        throw new Error(
          `timed out after ${timeoutMs} ms waiting for ${what}${details ? `\n${details}` : ''}`,
        );
      }
      await sleep(200);
    }
  }

  /**
   * Powers the container off and waits for it; kills it if it does not stop. Afterwards no process
   * of it is left, its mount namespace and tmpfs are gone, and the host directory is removed.
   */
  async shutdown(timeoutMs = 60_000): Promise<void> {
    if (this.#nspawn.exitCode === null && this.#nspawn.signalCode === null) {
      if (this.#pid1)
        await this.exec(['systemctl', 'poweroff', '--no-block'], { timeoutMs: 10_000 }).catch(() => {});
      const stopped = await Promise.race([this.#exited.then(() => true), sleep(timeoutMs).then(() => false)]);
      if (!stopped) {
        this.killNow();
        await Promise.race([this.#exited, sleep(10_000)]);
      }
    }
    live.delete(this);
    rmSync(this.hostDir, { recursive: true, force: true });
  }

  /** SIGKILL to PID 1 (ends the PID namespace) and to systemd-nspawn. Synchronous. */
  killNow(): void {
    for (const pid of [this.#pid1, this.#nspawn.pid]) {
      if (!pid) continue;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
}

export function shellQuote(value: string): string {
  return `'${value.replaceAll("'", `'\\''`)}'`;
}

function minimalEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? CONTAINER_PATH, LANG: 'C.UTF-8' };
}

function readChildren(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8')
      .trim()
      .split(/\s+/)
      .filter(Boolean)
      .map(Number);
  } catch {
    return [];
  }
}

function readComm(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '';
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
