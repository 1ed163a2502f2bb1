import type { SensorEndpointStatus, SensorWorkerStatus, SessionTicketStatus } from '../downstream/index.js';
import type { IdentityStatus } from '../identity/index.js';
import type { SensorTrustStatus } from '../trust/index.js';
import type { UpstreamStatus } from '../upstream/index.js';

/**
 * The control socket protocol between gatewayctl and the running daemon: one JSON object per line.
 *
 *   request:  {"id": 1, "method": "status"}
 *   response: {"id": 1, "result": {...}}  or  {"id": 1, "error": {"code": "EGW_…", "message": "…"}}
 *
 * It is local-only (a unix socket with owner-only permissions), so there is no authentication
 * beyond the file mode.
 */
export interface ControlRequest {
  id: number;
  method: string;
  params?: unknown;
}

export interface ControlErrorBody {
  code: string;
  message: string;
  hint?: string;
}

export type ControlResponse = { id: number; result: unknown } | { id: number; error: ControlErrorBody };

/** A line longer than this is a protocol error, not something to buffer forever. */
export const MAX_LINE_BYTES = 64 * 1024;

/** What `gatewayctl status` shows. Later modules add their sections (identity, key backend, …). */
export interface DaemonStatus {
  state: DaemonState;
  version: string;
  pid: number;
  startedAt: string;
  uptimeSeconds: number;
  configPath: string;
  database: { path: string; schemaVersion: number };
  logLevel: string;
  /** Keys changed by a reload that only take effect after a restart. */
  restartRequiredFor: string[];
  lastReload: { at: string; ok: boolean; message: string } | null;
  supervisor: { notifySocket: boolean; watchdogUsec: number | null };
  /** The identity key as the key service found it at start-up. */
  identityKey: IdentityKeyStatus;
  /** The CoAP/DTLS endpoint for sensors, or null when downstream.dtls.enabled is false. */
  /** With downstream.dtls.workers ≥ 2: summed over the workers, and each worker in `workers`. */
  sensorEndpoint: (SensorEndpointStatus & { workers?: SensorWorkerStatus[] }) | null;
  /** DTLS session tickets: whether sensors' sessions survive a restart, and if not, why (null: endpoint off). */
  sessionTickets: SessionTicketStatus | null;
  /** Anchors, CRLs, enrollments and verdicts of the sensor trust module. */
  sensorTrust: SensorTrustStatus | null;
  /** The MQTT client to the broker and its outbox. */
  upstream: UpstreamStatus | null;
  /** The operational identity lifecycle, or null when identity.est.url is "" (factory identity only). */
  identity: IdentityStatus | null;
}

export type IdentityKeyStatus =
  | {
      available: true;
      backend: string;
      hardwareBacked: boolean;
      model: string;
      serial: string;
      keyLocation: string;
    }
  | {
      available: false;
      backend: string;
      error: { code: string; message: string; hint?: string | undefined };
    };

export type DaemonState = 'starting' | 'running' | 'reloading' | 'stopping';
