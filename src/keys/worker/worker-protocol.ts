import type { AttestationRequest } from '../attestation.js';
import type { KeyBackend } from '../key-store.js';

/** What the host hands the worker at start. */
export interface DeviceWorkerData {
  backend: KeyBackend;
  params: unknown;
  sync: SharedArrayBuffer;
  /** Replaces the backend's own module; tests use it for instrumented devices. */
  deviceModule?: string;
}

export type WorkerMethod =
  | 'open'
  | 'publicKey'
  | 'signDigest'
  | 'readCertificates'
  | 'healthChecks'
  | 'attest'
  | 'close';

export interface HostMessage {
  kind: 'call';
  id: number;
  method: WorkerMethod;
  arg?: Uint8Array | AttestationRequest;
}

export interface SerializedError {
  code: string;
  message: string;
  hint?: string;
}

export type WorkerReply =
  | { id: number; ok: true; result: unknown }
  | { id: number; ok: false; error: SerializedError };
