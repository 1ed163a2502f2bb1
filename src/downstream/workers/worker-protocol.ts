import type { Config } from '../../config/index.js';
import type { TicketKey } from '../../tls/index.js';
import type { RevocationGapDelta, SensorTrustStatus } from '../../trust/index.js';
import type { CommandMessage, OutboxFull, TelemetryMessage } from '../proxy-ports.js';
import type { SensorEndpointStatus } from '../sensor-endpoint.js';

/**
 * The messages between the main thread (SensorWorkers) and a sensor worker thread (sensor-worker.ts).
 * Everything here crosses postMessage (structured clone): plain data, Uint8Arrays, Dates. Each
 * postMessage carries an array of them (turn-batch.ts: one per event-loop turn).
 */

/** What a worker is started with (workerData). */
export interface SensorWorkerData {
  index: number;
  /** The daemon's config; downstream.dtls as this worker applies it (port bound, budget share). */
  config: Config;
  /** DER anchors of downstream.dtls.sensor_ca_files, read once by the main thread. */
  fileAnchors: Uint8Array[];
  /** The main thread's ticket keys, newest first (absent: tickets off). */
  ticketKeys?: { lifetimeSeconds: number; keys: TicketKey[] };
  /** With them, POST /telemetry and GET /commands are served through the main thread. */
  upstream: boolean;
  /** With it, the endpoint signs with the identity key over the key store's shared-memory channel. */
  identityKey?: IdentityKeyHandle;
}

/** The identity key as a worker reaches it: the device worker's SyncChannel and what OpenSSL needs. */
export interface IdentityKeyHandle {
  buffer: SharedArrayBuffer;
  timeoutMs: number;
  publicKeySpki: Uint8Array;
  chain: Uint8Array[];
  info: { backend: string; model: string; keyLocation: string; hardwareBacked: boolean };
}

export type MainToWorker =
  | { type: 'tickets'; keys: TicketKey[] }
  | { type: 'trustChanged'; why: string }
  | { type: 'clockReload' }
  | { type: 'logLevel'; level: string }
  | { type: 'status'; id: number }
  | { type: 'telemetryAnswer'; id: number; result?: OutboxFull; error?: string }
  | { type: 'command'; subscription: number; command: CommandMessage }
  | { type: 'close' };

export type WorkerToMain =
  | { type: 'ready'; listening: string; port: number; serverKey: string }
  | { type: 'failed'; code: string; message: string; hint?: string }
  | { type: 'telemetry'; id: number; message: TelemetryMessage }
  | { type: 'subscribe'; subscription: number; sensorId: string }
  | { type: 'unsubscribe'; subscription: number }
  | { type: 'delivered'; sensorId: string; commandId: string }
  | {
      type: 'status';
      id: number;
      status: SensorEndpointStatus;
      cpu: ThreadCpu;
      verdicts: TrustVerdicts;
      /** Sensors admitted without revocation information since the last report, per CA. */
      gaps: RevocationGapDelta[];
    }
  | { type: 'closed' };

/** The verdicts of a worker's own trust view since it started (SensorTrustStatus' counters). */
export type TrustVerdicts = Pick<
  SensorTrustStatus,
  'accepted' | 'refused' | 'acceptedWithoutFreshCrl' | 'decidedByOcsp'
>;

/** CPU time of the worker thread (process.threadCpuUsage), microseconds. */
export interface ThreadCpu {
  userMicros: number;
  systemMicros: number;
}
