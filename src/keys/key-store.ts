import type { AttestationAnswer, AttestationRequest } from './attestation.js';

/**
 * The identity key service: one interface for every backend (TPM 2.0, ATECC608A, software).
 *
 * Nothing here can export a private key: callers get the public key and signatures over digests
 * they computed themselves. Signatures are ECDSA P-256, returned as r‖s (IEEE P1363, 64 bytes),
 * which is what WebCrypto and the hardware produce; pki/ and tls/ convert where DER is needed.
 */
export type KeyBackend = 'tpm' | 'atecc608' | 'software';

export interface KeyStoreInfo {
  backend: KeyBackend;
  /** False only for the software store, which exists for development and says so. */
  hardwareBacked: boolean;
  /** e.g. "ATECC608A rev 0x6002", "TPM 2.0 IBM SW TPM", "software (PKCS#8 file)". */
  model: string;
  /** The secure element's serial number (hex), or a stable id for software keys. */
  serial: string;
  /** Where the key lives: "slot 0", "persistent handle 0x81010001", a file path. */
  keyLocation: string;
  /** What an operator should fix, each with the fix (e.g. a TPM key without an auth value). */
  warnings?: string[];
  /**
   * Set only where the configuration itself names a stand-in for the part (the ATECC608A simulator,
   * swtpm over its own TCTI, the software store): why hardware checks cannot be proven here. A part
   * that is not hardware-backed although hardware was configured leaves it unset: that is a failure.
   */
  simulated?: string;
}

export interface HealthReport {
  ok: boolean;
  /** One line per check, e.g. "sign/verify round trip: ok (0.8 ms)". */
  checks: { name: string; ok: boolean; detail: string }[];
}

/**
 * Shared memory through which another thread asks a worker-hosted device for a signature
 * synchronously (keys/worker/sync-channel.ts speaks its protocol). The TLS signing thread uses it so
 * that a handshake step that signs runs off the event loop.
 */
export interface SigningChannel {
  buffer: SharedArrayBuffer;
  /** How long a request may wait for its answer. */
  timeoutMs: number;
  /** The asker gave up after timeoutMs: restart the device; returns the error to report. */
  timedOut(): Error;
}

export interface KeyStore {
  /** Known once open() resolved. */
  readonly info: KeyStoreInfo;
  /** SPKI DER of the identity key (ECDSA P-256). */
  publicKey(): Promise<Uint8Array>;
  /** ECDSA over a 32-byte SHA-256 digest, off the main thread for hardware backends. */
  signDigest(digest: Uint8Array): Promise<Uint8Array>;
  /**
   * The same, blocking the calling thread until the device answers (bounded by the call timeout).
   * Only for callers that cannot wait asynchronously: the TLS engine's OpenSSL sign callback of an
   * in-process store (a worker-hosted one is asked through signingChannel() by the TLS handshake
   * thread). Everyone else uses signDigest().
   */
  signDigestSync(digest: Uint8Array): Uint8Array;
  /** Present when the device lives in a worker: see SigningChannel. */
  signingChannel?(): SigningChannel;
  /** The device certificate and its signer stored with the key (either may be missing before provisioning). */
  certificates(): Promise<{ device?: Uint8Array; signer?: Uint8Array }>;
  healthCheck(): Promise<HealthReport>;
  /** Hardware attestation of the identity key (attestation.ts); absent where the backend has none. */
  attest?(request: AttestationRequest): Promise<AttestationAnswer>;
  close(): Promise<void>;
}
