import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { MosquittoBroker } from '../../hw-sim/broker/index.js';
import { SensorCa, type SensorCredentials } from '../../hw-sim/sensors/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import {
  type GatewaySetup,
  makeFactoryCa,
  provisionGateway,
  RunningGateway,
} from '../bench/proxy/gateway-under-test.js';
import { repositoryRoot } from '../helpers/daemon-harness.js';

/** What the daemon's main.ts logs (pino "fatal") before it exits on an exception nobody caught. */
const UNCAUGHT = /^(uncaught exception|unhandled promise rejection)/;

export interface FuzzTargetOptions {
  /**
   * Test-only: preload planted-fault.js into the daemon, which throws from the UDP socket's message
   * handler on one kind of datagram. Proves that the fuzzer sees a crash; src/ is not touched.
   */
  plantedFault?: boolean;
}

export interface TargetFault {
  kind: 'exit' | 'exception';
  detail: string;
  /** The fuzz input counter when the fault was seen. */
  atInput: number;
}

/**
 * The fuzz target: the real daemon (dist/src/daemon/main.js) in its own process, started as systemd
 * would, with the software identity key, a sensor CA it trusts and mosquitto as its upstream (the
 * bench's gateway-under-test). An exit nobody asked for is a crash; the fatal "uncaught exception"
 * and "unhandled promise rejection" lines its main.ts logs are exceptions, and so are the datagrams
 * the DTLS server's own safety net caught (status `processingErrors`); RSS is read from /proc.
 * After a crash the daemon is started again on the same state, so a long run goes on.
 */
export class FuzzTarget {
  readonly work: string;
  readonly broker: MosquittoBroker;
  readonly setup: GatewaySetup;
  readonly sensorCa: SensorCa;
  /** The factory root, DER: what sensors trust the gateway's DTLS certificate by. */
  readonly gatewayRoot: Uint8Array;
  readonly faults: TargetFault[] = [];
  #gateway: RunningGateway;
  readonly #options: FuzzTargetOptions;
  #stopping = false;
  #crashes = 0;
  #exceptions = 0;
  /** processingErrors of earlier daemon processes (a restart starts the counter at 0 again). */
  #processingErrorsBefore = 0;
  #inputCounter: () => number = () => 0;
  #exitListeners: (() => void)[] = [];

  private constructor(
    work: string,
    broker: MosquittoBroker,
    setup: GatewaySetup,
    gateway: RunningGateway,
    options: FuzzTargetOptions,
  ) {
    this.work = work;
    this.broker = broker;
    this.setup = setup;
    this.#gateway = gateway;
    this.#options = options;
    this.sensorCa = SensorCa.open(setup.sensorCaDir);
    this.gatewayRoot = pemBlocks(readFileSync(setup.factoryRootFile, 'utf8'))[0] as Uint8Array;
    this.#watch(gateway);
  }

  static async start(options: FuzzTargetOptions = {}): Promise<FuzzTarget> {
    const work = mkdtempSync(join(tmpdir(), 'egw-fuzz-'));
    let broker: MosquittoBroker | undefined;
    try {
      const factory = makeFactoryCa(work);
      broker = await MosquittoBroker.start({ caFiles: [factory.rootFile], dir: join(work, 'broker') });
      const setup = await provisionGateway(work, factory, broker);
      const gateway = await RunningGateway.start(setup, FuzzTarget.#nodeFlags(options), true);
      return new FuzzTarget(work, broker, setup, gateway, options);
    } catch (error) {
      await broker?.stop().catch(() => undefined);
      rmSync(work, { recursive: true, force: true });
      throw error;
    }
  }

  static #nodeFlags(options: FuzzTargetOptions): string[] {
    if (!options.plantedFault) return [];
    const preload = join(repositoryRoot, 'dist/test/fuzz/planted-fault.js');
    return ['--import', pathToFileURL(preload).href];
  }

  get port(): number {
    return this.#gateway.port;
  }

  get pid(): number | undefined {
    return this.#gateway.pid;
  }

  get alive(): boolean {
    const child = this.#gateway.service.child;
    return child.exitCode === null && child.signalCode === null;
  }

  get crashes(): number {
    return this.#crashes;
  }

  get exceptionsLogged(): number {
    return this.#exceptions;
  }

  /** Where the runner is, so a fault can be tied to the inputs just sent. */
  countInputsWith(counter: () => number): void {
    this.#inputCounter = counter;
  }

  onExit(listener: () => void): void {
    this.#exitListeners.push(listener);
  }

  /** A new sensor identity from the CA the gateway trusts. */
  issueSensor(commonName: string): SensorCredentials {
    return this.sensorCa.issue({ commonName });
  }

  /** The daemon's resident set, bytes (VmRSS of /proc/<pid>/status). */
  rssBytes(): number {
    const pid = this.pid;
    if (pid === undefined || !this.alive) return 0;
    try {
      const kb = /VmRSS:\s+(\d+)\s+kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
      return Number(kb ?? 0) * 1024;
    } catch {
      return 0;
    }
  }

  /** The daemon's status (control socket), or undefined when it does not answer. */
  async status(): Promise<Record<string, unknown> | undefined> {
    if (!this.alive) return undefined;
    try {
      return (await this.#gateway.status()) as unknown as Record<string, unknown>;
    } catch {
      return undefined;
    }
  }

  /** Datagrams whose processing threw inside the DTLS server (caught there, counted in status). */
  async processingErrors(): Promise<number> {
    const status = await this.status();
    return this.#processingErrorsBefore + (status ? sumOfKey(status, 'processingErrors') : 0);
  }

  /** Starts the daemon again after a crash (same state, new port). */
  async restart(): Promise<void> {
    await this.#gateway.service.dispose();
    this.#gateway = await RunningGateway.start(this.setup, FuzzTarget.#nodeFlags(this.#options), false);
    this.#watch(this.#gateway);
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    // For whoever looks into a finding: the daemon's log (level warn) of the last process.
    if (process.env.FUZZ_DAEMON_LOG)
      writeFileSync(process.env.FUZZ_DAEMON_LOG, this.#gateway.service.stdout + this.#gateway.service.stderr);
    await this.#gateway.stop().catch(() => undefined);
    await this.broker.stop().catch(() => undefined);
    rmSync(this.setup.fixture.dir, { recursive: true, force: true });
    rmSync(this.work, { recursive: true, force: true });
  }

  #watch(gateway: RunningGateway): void {
    const service = gateway.service;
    let pending = '';
    service.child.stdout?.on('data', (chunk: Buffer) => {
      pending += chunk.toString();
      const lines = pending.split('\n');
      pending = lines.pop() ?? '';
      for (const line of lines) this.#logLine(line);
    });
    service.exited.then(async ({ code, signal }) => {
      if (this.#stopping || gateway !== this.#gateway) return;
      this.#crashes++;
      this.#fault('exit', `daemon exited (code ${code}, signal ${signal}): ${service.stderr.slice(-2000)}`);
      // What the dead process counted is not lost with it.
      for (const listener of this.#exitListeners) listener();
    });
    // A status answer after the exit is impossible: remember processingErrors on the way.
    const remember = setInterval(async () => {
      if (gateway !== this.#gateway || !this.alive) {
        clearInterval(remember);
        return;
      }
      const status = await this.status();
      if (status) lastProcessingErrors = sumOfKey(status, 'processingErrors');
    }, 1000);
    remember.unref();
    let lastProcessingErrors = 0;
    service.exited.then(() => {
      this.#processingErrorsBefore += lastProcessingErrors;
    });
  }

  #logLine(line: string): void {
    if (!line.startsWith('{')) return;
    let record: { level?: unknown; msg?: unknown; err?: { stack?: unknown } };
    try {
      record = JSON.parse(line) as typeof record;
    } catch {
      return;
    }
    if (typeof record.msg !== 'string' || !UNCAUGHT.test(record.msg)) return;
    this.#exceptions++;
    const stack = typeof record.err?.stack === 'string' ? `\n${record.err.stack}` : '';
    this.#fault('exception', `${record.msg}${stack}`);
  }

  #fault(kind: TargetFault['kind'], detail: string): void {
    this.faults.push({ kind, detail, atInput: this.#inputCounter() });
  }
}

/** The sum of every numeric `key` in a status object, wherever the daemon reports it. */
function sumOfKey(value: unknown, key: string): number {
  if (typeof value !== 'object' || value === null) return 0;
  let sum = 0;
  for (const [name, inner] of Object.entries(value)) {
    if (name === key && typeof inner === 'number') sum += inner;
    else sum += sumOfKey(inner, key);
  }
  return sum;
}
