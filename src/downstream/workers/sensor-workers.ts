import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { builtWorkerEntry } from '../../build-info/worker-entry.js';
import type { Config } from '../../config/index.js';
import { GatewayError } from '../../errors/index.js';
import type { KeyStore } from '../../keys/index.js';
import { pemBlocks } from '../../pki/index.js';
import type { SessionTicketKeys } from '../../tls/index.js';
import { RevocationGaps, type SensorTrust, type SensorTrustStatus } from '../../trust/index.js';
import { identityChain } from '../endpoint-credentials.js';
import type { CommandSource, TelemetrySink } from '../proxy-ports.js';
import type { SensorEndpointStatus } from '../sensor-endpoint.js';
import { signingRate } from '../signing-rate.js';
import { PortsHost } from './port-proxies.js';
import { sumStatuses } from './sum-statuses.js';
import { TurnBatch } from './turn-batch.js';
import type {
  IdentityKeyHandle,
  MainToWorker,
  SensorWorkerData,
  TrustVerdicts,
  WorkerToMain,
} from './worker-protocol.js';
import { workerSettings } from './worker-settings.js';

interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

export interface SensorWorkersOptions {
  config: Config;
  count: number;
  identity: KeyStore | undefined;
  trust: SensorTrust | undefined;
  telemetry?: TelemetrySink;
  commands?: CommandSource;
  sessionTickets?: SessionTicketKeys;
  log: Log;
}

/** One worker's figures in `gatewayctl status` (sensorEndpoint.workers). */
export interface SensorWorkerStatus {
  index: number;
  threadId: number;
  /** Times this slot's worker died and was replaced. */
  restarts: number;
  sessionsEstablished: number;
  handshakesCompleted: number;
  handshakesResumed: number;
  handshakesFailed: number;
  requests: number;
  /** Telemetry messages it handed to the outbox that were made durable (answered 2.04). */
  telemetryAccepted: number;
  /** CPU time of the worker thread since it started (user + system), seconds. */
  cpuSeconds: number;
}

export type SensorWorkersStatus = SensorEndpointStatus & { workers: SensorWorkerStatus[] };

interface Slot {
  index: number;
  worker: Worker;
  ports: PortsHost;
  restarts: number;
  /** Its thread ended (close() does not wait for an exit that already happened). */
  exited?: boolean;
  status?: { status: SensorEndpointStatus; cpuSeconds: number; verdicts: TrustVerdicts };
}

/** How often the main thread checks whether its ticket keys rotated (the check is a comparison). */
const TICKET_CHECK_MS = 1000;
const RESTART_DELAY_MS = 200;

/**
 * The sensor endpoint on N worker threads (downstream.dtls.workers ≥ 2): each runs its own
 * SensorEndpoint on a socket bound with SO_REUSEPORT to the one sensor port, and the kernel's
 * 4-tuple hash keeps each sensor on one worker. The main thread keeps what must be one: the key
 * store, trust's writers (CRL fetches, OCSP, operator changes: a change is announced to every worker,
 * whose live sessions are judged again), the ticket keys (rotated here, adopted by every worker, so a
 * sensor moved to another worker resumes), the outbox and MQTT (telemetry and commands come here).
 * A worker that dies is logged and replaced; its sensors come back by resumption.
 */
export class SensorWorkers {
  readonly #options: SensorWorkersOptions;
  readonly #data: Omit<SensorWorkerData, 'index' | 'config'>;
  #config: Config;
  readonly #slots: Slot[] = [];
  readonly #ticketTimer: NodeJS.Timeout | undefined;
  #lastTicketKey: string | undefined;
  #statusId = 1;
  readonly #statusWaits = new Map<number, () => void>();
  /** The workers' admissions without revocation information, merged from every status report. */
  readonly #revocationGaps = new RevocationGaps();
  #closed = false;

  private constructor(
    options: SensorWorkersOptions,
    data: Omit<SensorWorkerData, 'index' | 'config'>,
    config: Config,
  ) {
    this.#options = options;
    this.#data = data;
    this.#config = config;
    const tickets = options.sessionTickets;
    if (tickets) {
      this.#lastTicketKey = tickets.issuing().name.toString('hex');
      this.#ticketTimer = setInterval(() => {
        const name = tickets.issuing().name.toString('hex');
        if (name === this.#lastTicketKey) return;
        this.#lastTicketKey = name;
        this.#broadcast({ type: 'tickets', keys: [...tickets.keys()] });
      }, TICKET_CHECK_MS);
      this.#ticketTimer.unref();
    }
    options.trust?.on('changed', (why) => this.#broadcast({ type: 'trustChanged', why }));
  }

  /** Starts the workers: the first binds (port 0 picks one), the others join its port. */
  static async start(options: SensorWorkersOptions): Promise<SensorWorkers> {
    const settings = options.config.downstream.dtls;
    const signer = await signingRate(settings, options.identity);
    const identityKey =
      settings.server_key === 'file' ? undefined : await identityKeyHandle(options.identity);
    const tickets = options.sessionTickets;
    // A key before the first worker starts: otherwise each would make its own, and a sensor moved to
    // another worker could not resume there.
    tickets?.issuing();
    const data: Omit<SensorWorkerData, 'index' | 'config'> = {
      fileAnchors: settings.sensor_ca_files.flatMap((file) => pemBlocks(readFileSync(file, 'utf8'))),
      ...(tickets
        ? { ticketKeys: { lifetimeSeconds: tickets.lifetimeSeconds, keys: [...tickets.keys()] } }
        : {}),
      upstream: options.telemetry !== undefined,
      ...(identityKey ? { identityKey } : {}),
    };
    let config = workerSettings(options.config, options.count, signer.perSecond, identityKey !== undefined);
    const workers = new SensorWorkers(options, data, config);
    let first: number;
    try {
      first = await workers.#spawn(0);
      // The others (and every replacement) join the port the first one bound.
      config = {
        ...config,
        downstream: { ...config.downstream, dtls: { ...config.downstream.dtls, port: first } },
      };
      workers.#config = config;
      await Promise.all(Array.from({ length: options.count - 1 }, (_, i) => workers.#spawn(i + 1)));
    } catch (error) {
      // The caller never gets this pool to close: the workers already serving (or still starting)
      // are stopped here, or they would keep serving the port after the daemon's stop.
      await workers.close();
      throw error;
    }
    options.log.info(
      { workers: options.count, port: first, signaturesPerSecond: signer.perSecond },
      `sensor endpoint on ${options.count} worker threads (SO_REUSEPORT)`,
    );
    return workers;
  }

  /** Starts the worker of slot `index`; resolves with the port it bound once it serves. */
  #spawn(index: number, restarts = 0): Promise<number> {
    const workerData: SensorWorkerData = { ...this.#data, index, config: this.#config };
    const worker = new Worker(workerEntry(), { workerData, name: `sensor-worker-${index}` });
    const batch = new TurnBatch<MainToWorker>((messages) => worker.postMessage(messages));
    const post = (message: MainToWorker) => batch.push(message);
    const slot: Slot = {
      index,
      worker,
      ports: new PortsHost(this.#options.telemetry, this.#options.commands, post),
      restarts,
    };
    this.#slots[index] = slot;
    return new Promise((resolve, reject) => {
      let ready = false;
      worker.on('message', (messages: WorkerToMain[]) => {
        for (const message of messages) handle(message);
      });
      const handle = (message: WorkerToMain): void => {
        if (slot.ports.handle(message)) return;
        switch (message.type) {
          case 'ready':
            ready = true;
            this.#options.log.info(
              { worker: index, threadId: worker.threadId, listening: message.listening },
              'sensor worker serving',
            );
            resolve(message.port);
            return;
          case 'failed': {
            const error = new GatewayError(message.code, `sensor worker ${index}: ${message.message}`, {
              ...(message.hint ? { hint: message.hint } : {}),
            });
            if (!ready) reject(error);
            else this.#options.log.error({ worker: index, code: message.code }, error.message);
            return;
          }
          case 'status':
            slot.status = {
              status: message.status,
              cpuSeconds: (message.cpu.userMicros + message.cpu.systemMicros) / 1e6,
              verdicts: message.verdicts,
            };
            // Each report carries only what is new since the last: merged as it arrives, even late.
            this.#revocationGaps.merge(message.gaps);
            this.#statusWaits.get(message.id)?.();
            return;
          default:
            return;
        }
      };
      worker.on('error', (error) => {
        this.#options.log.error(
          { worker: index, err: error },
          `sensor worker ${index} crashed: ${error.message}`,
        );
        if (!ready)
          reject(new GatewayError('EGW_SENSOR_WORKER', `sensor worker ${index} crashed: ${error.message}`));
      });
      worker.on('exit', (code) => {
        slot.exited = true;
        slot.ports.close();
        if (this.#closed || this.#slots[index] !== slot) return;
        if (!ready) {
          reject(
            new GatewayError('EGW_SENSOR_WORKER', `sensor worker ${index} exited (${code}) before serving`),
          );
          return;
        }
        // Its sensors' datagrams now reach the other workers (or its successor): they resume there.
        this.#options.log.error(
          { worker: index, exitCode: code },
          `sensor worker ${index} died; replacing it`,
        );
        setTimeout(() => {
          if (this.#closed) return;
          this.#spawn(index, slot.restarts + 1).catch((error: unknown) =>
            this.#options.log.error(
              { worker: index, err: error },
              `sensor worker ${index} could not be replaced`,
            ),
          );
        }, RESTART_DELAY_MS).unref();
      });
    });
  }

  #broadcast(message: MainToWorker): void {
    for (const slot of this.#slots) slot?.worker.postMessage([message]);
  }

  /**
   * The main thread's trust status with the workers' verdicts and revocation gaps added (as of the
   * last refresh): the workers judge the sensors, the main thread's view judges none.
   */
  trustStatus(main: SensorTrustStatus): SensorTrustStatus {
    let status = main;
    for (const slot of this.#slots) {
      const verdicts = slot?.status?.verdicts;
      if (verdicts) status = { ...status, ...sumStatuses([pick(status), verdicts]) };
    }
    return {
      ...status,
      revocation: {
        admittedWithoutRevocationInfo:
          status.revocation.admittedWithoutRevocationInfo + this.#revocationGaps.total,
        cas: this.#revocationGaps.addTo(status.revocation.cas),
      },
    };
  }

  /** SIGHUP changed log.level: the workers log at it too. */
  logLevel(level: string): void {
    this.#broadcast({ type: 'logLevel', level });
  }

  /** The clock floor was reset (`gatewayctl clock reset`): every worker reads it again. */
  clockChanged(): void {
    this.#broadcast({ type: 'clockReload' });
  }

  /** Asks every worker for its figures (status() then reports them). */
  async refresh(): Promise<void> {
    await Promise.all(
      this.#slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            const id = this.#statusId++;
            const done = () => {
              this.#statusWaits.delete(id);
              clearTimeout(timer);
              resolve();
            };
            // A worker that does not answer (dying) keeps its last figures.
            const timer = setTimeout(done, 2000);
            this.#statusWaits.set(id, done);
            slot.worker.postMessage([{ type: 'status', id }] satisfies MainToWorker[]);
          }),
      ),
    );
  }

  /** The endpoint's figures summed over the workers (as of the last refresh), and each worker's. */
  status(): SensorWorkersStatus | undefined {
    const known = this.#slots.filter((slot) => slot?.status);
    if (known.length === 0) return undefined;
    const summed = sumStatuses(known.map((slot) => (slot.status as NonNullable<Slot['status']>).status));
    return {
      ...summed,
      workers: known.map((slot) => {
        const { status, cpuSeconds } = slot.status as NonNullable<Slot['status']>;
        return {
          index: slot.index,
          threadId: slot.worker.threadId,
          restarts: slot.restarts,
          sessionsEstablished: status.sessionsEstablished,
          handshakesCompleted: status.handshakesCompleted,
          handshakesResumed: status.handshakesResumed,
          handshakesFailed: status.handshakesFailed,
          requests: status.coap?.requests ?? 0,
          telemetryAccepted: status.coap?.telemetryAccepted ?? 0,
          cpuSeconds: Math.round(cpuSeconds * 1000) / 1000,
        };
      }),
    };
  }

  /**
   * Ends worker `index` at once, as a crash would (no close_notify, no goodbye): it is replaced like any
   * dead worker, and its sensors come back by resumption (the control socket's method
   * sensors.workers.terminate {index}, for diagnosis and tests; no gatewayctl command).
   */
  async terminate(index: number): Promise<{ index: number; threadId: number }> {
    const slot = this.#slots[index];
    if (!slot) {
      throw new GatewayError('EGW_SENSOR_WORKER', `there is no sensor worker ${index}`, {
        hint: `workers are numbered 0 to ${this.#slots.length - 1}`,
      });
    }
    const threadId = slot.worker.threadId;
    await slot.worker.terminate();
    return { index, threadId };
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#ticketTimer) clearInterval(this.#ticketTimer);
    await Promise.all(
      this.#slots.map(
        (slot) =>
          new Promise<void>((resolve) => {
            if (slot.exited) return resolve();
            const timer = setTimeout(() => void slot.worker.terminate().then(() => resolve()), 5000);
            slot.worker.once('exit', () => {
              clearTimeout(timer);
              resolve();
            });
            slot.worker.postMessage([{ type: 'close' }] satisfies MainToWorker[]);
          }),
      ),
    );
  }
}

/** The identity key's shared-memory channel (a key store whose device lives in a worker). */
async function identityKeyHandle(identity: KeyStore | undefined): Promise<IdentityKeyHandle> {
  const channel = identity?.signingChannel?.();
  if (!identity || !channel) {
    throw new GatewayError(
      'EGW_SENSOR_WORKER',
      'downstream.dtls.workers > 1 signs with the identity key only when its device runs in a worker (TPM, ATECC608A)',
      {
        hint: 'set downstream.dtls.server_key = "file" with a dedicated key, or downstream.dtls.workers = 1',
      },
    );
  }
  const chain = await identityChain(identity);
  const { backend, model, keyLocation, hardwareBacked } = identity.info;
  return {
    buffer: channel.buffer,
    timeoutMs: channel.timeoutMs,
    publicKeySpki: await identity.publicKey(),
    chain,
    info: { backend, model, keyLocation, hardwareBacked },
  };
}

function pick(status: SensorTrustStatus): TrustVerdicts {
  const { accepted, refused, acceptedWithoutFreshCrl, decidedByOcsp } = status;
  return { accepted, refused, acceptedWithoutFreshCrl, decidedByOcsp };
}

function workerEntry(): URL {
  const entry = builtWorkerEntry(new URL('./sensor-worker.js', import.meta.url));
  if (!entry)
    throw new GatewayError('EGW_SENSOR_WORKER', 'the sensor worker is not built: run `npm run build`');
  return entry;
}
