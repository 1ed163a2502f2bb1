import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotifySocket } from './notify-socket.js';

export interface StartOptions {
  /** Argument vector: the executable first (e.g. process.execPath, script, flags…). */
  command: string[];
  env?: NodeJS.ProcessEnv;
  /** WatchdogSec= in microseconds; unset means no watchdog, as in a unit without WatchdogSec=. */
  watchdogUsec?: number;
  /** Copy the child's stdout/stderr to ours (the demo does, tests do not). */
  echo?: boolean;
}

/**
 * Starts a Type=notify service the way systemd does: NOTIFY_SOCKET (and WATCHDOG_USEC/WATCHDOG_PID)
 * in its environment, its notify messages collected, its output kept, its exit awaited.
 *
 * Test and demo equipment only: the stand-in for systemd on a machine where the daemon is not a unit.
 */
export class ServiceSupervisor {
  readonly notify: NotifySocket;
  readonly child: ChildProcess;
  stdout = '';
  stderr = '';
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  readonly #dir: string;

  private constructor(dir: string, notify: NotifySocket, child: ChildProcess) {
    this.#dir = dir;
    this.notify = notify;
    this.child = child;
    // What the service sent before it exited is read before `exited` resolves (the socket is polled).
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        notify.drain();
        resolve({ code, signal });
      }),
    );
  }

  static start(options: StartOptions): ServiceSupervisor {
    const dir = mkdtempSync(join(tmpdir(), 'egw-sd-'));
    const notify = new NotifySocket(join(dir, 'notify.sock'));
    const [executable, ...args] = options.command;
    if (!executable) throw new Error('ServiceSupervisor.start: empty command');
    const env: NodeJS.ProcessEnv = { ...process.env, ...options.env, NOTIFY_SOCKET: notify.path };
    delete env.WATCHDOG_USEC;
    delete env.WATCHDOG_PID;
    if (options.watchdogUsec) env.WATCHDOG_USEC = String(options.watchdogUsec);
    const child = spawn(executable, args, { env, stdio: ['ignore', 'pipe', 'pipe'] });
    const supervisor = new ServiceSupervisor(dir, notify, child);
    child.stdout?.on('data', (chunk: Buffer) => {
      supervisor.stdout += chunk.toString();
      if (options.echo) process.stdout.write(chunk);
    });
    child.stderr?.on('data', (chunk: Buffer) => {
      supervisor.stderr += chunk.toString();
      if (options.echo) process.stderr.write(chunk);
    });
    return supervisor;
  }

  /** Resolves at READY=1; rejects with the service's output if it exits or stalls first. */
  async waitReady(timeoutMs = 30_000): Promise<string[]> {
    const exitedEarly = this.exited.then(({ code, signal }) => {
      throw new Error(
        `service exited before READY=1 (code ${code}, signal ${signal})\n${this.stderr}${this.stdout}`,
      );
    });
    return Promise.race([this.notify.waitForLine('READY=1', timeoutMs), exitedEarly]);
  }

  /** Sends a signal and waits for the exit, as `systemctl stop` does with SIGTERM. */
  async stop(signal: NodeJS.Signals = 'SIGTERM') {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
    return this.exited;
  }

  /** Stops the service if still running, then removes the notify socket. */
  async dispose(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill('SIGKILL');
      await this.exited;
    }
    this.notify.close();
    rmSync(this.#dir, { recursive: true, force: true });
  }

  /** The service's JSON log lines, parsed (non-JSON lines are skipped). */
  logRecords(): Record<string, unknown>[] {
    return this.stdout
      .split('\n')
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  }
}
