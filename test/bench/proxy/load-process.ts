import { type ChildProcess, fork } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type {
  ConnectedReport,
  LoadCommand,
  LoadReport,
  RunCommand,
  RunReport,
  StoppedReport,
  WindowReport,
} from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));

/** The parent's handle on the load generator child: one command at a time, its answer awaited. */
export class LoadProcess {
  readonly #child: ChildProcess;
  readonly #exited: Promise<void>;
  #pending: { resolve(report: LoadReport): void; reject(error: Error): void } | undefined;
  #onWindow: ((report: WindowReport) => void) | undefined;

  private constructor(child: ChildProcess) {
    this.#child = child;
    this.#exited = new Promise((resolve) => child.once('exit', () => resolve()));
    child.on('message', (report: LoadReport) => this.#onReport(report));
    child.once('exit', (code, signal) => {
      this.#pending?.reject(new Error(`the load generator exited (code ${code}, signal ${signal})`));
      this.#pending = undefined;
    });
  }

  static start(): LoadProcess {
    return new LoadProcess(
      fork(join(here, 'load-generator.js'), [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }),
    );
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  async connect(command: Extract<LoadCommand, { type: 'fleet' | 'reference' }>): Promise<ConnectedReport> {
    return (await this.#request(command, 'connected')) as ConnectedReport;
  }

  /** Runs one step; `onWindow` hears when the measurement window opens and closes. */
  async run(command: Omit<RunCommand, 'type'>, onWindow: (report: WindowReport) => void): Promise<RunReport> {
    this.#onWindow = onWindow;
    try {
      return (await this.#request({ type: 'run', ...command }, 'ran')) as RunReport;
    } finally {
      this.#onWindow = undefined;
    }
  }

  /** Stops the sensors or clients (close_notify, DISCONNECT), then ends the process. */
  async stop(): Promise<StoppedReport['summary']> {
    try {
      const report = (await this.#request({ type: 'stop' }, 'stopped')) as StoppedReport;
      return report.summary;
    } finally {
      this.kill();
      await this.#exited;
    }
  }

  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }

  #request(command: LoadCommand, expected: LoadReport['type']): Promise<LoadReport> {
    if (this.#pending) return Promise.reject(new Error('the load generator is busy'));
    return new Promise((resolve, reject) => {
      this.#pending = {
        resolve: (report) =>
          report.type === expected
            ? resolve(report)
            : reject(new Error(`load generator: expected ${expected}, got ${report.type}`)),
        reject,
      };
      this.#child.send(command);
    });
  }

  #onReport(report: LoadReport): void {
    if (report.type === 'window') {
      this.#onWindow?.(report);
      return;
    }
    const pending = this.#pending;
    this.#pending = undefined;
    if (report.type === 'error') pending?.reject(new Error(`load generator: ${report.message}`));
    else pending?.resolve(report);
  }
}
