/**
 * A hardware key device as it runs inside its worker thread: plain synchronous calls, one at a time.
 * The worker host (worker/) serializes calls, applies timeouts, and turns this into a KeyStore.
 *
 * Each backend module (tpm/, atecc608/) exports `createDevice(params)` returning a KeyDevice.
 */
import type { AttestationAnswer, AttestationRequest } from './attestation.js';
import type { KeyStoreInfo } from './key-store.js';

export interface KeyDevice {
  /** Connects to the part and finds the identity key. Throws KeyError (e.g. EGW_KEY_NOT_FOUND). */
  open(): KeyStoreInfo;
  /** SPKI DER of the identity key. */
  publicKey(): Uint8Array;
  /** ECDSA P-256 over a 32-byte digest → r‖s (64 bytes). */
  signDigest(digest: Uint8Array): Uint8Array;
  /** The factory certificates stored with the key (in the part, or beside it for TPM/software). */
  readCertificates(): Partial<FactoryCertificates>;
  /** Backend-specific checks beyond a sign/verify round trip (which the host always runs). */
  healthChecks?(): { name: string; ok: boolean; detail: string }[];
  /** Attestation of the identity key (attestation.ts), where the part can give evidence. */
  attest?(request: AttestationRequest): AttestationAnswer;
  close(): void;
}

export type DeviceFactory = (params: unknown) => KeyDevice;

/**
 * The extra operations a technician's provisioning run needs (gatewayctl provision …). They run in
 * the CLI process, synchronously, with no daemon involved.
 */
export interface ProvisionableKeyDevice extends KeyDevice {
  /** Connects to the part without requiring an identity key yet; says what the part is. */
  connect(): KeyStoreInfo;
  hasKey(): boolean;
  /**
   * Creates the identity key inside the part and returns its SPKI DER. Throws EGW_KEY_EXISTS when
   * one exists and `overwrite` is false; EGW_KEY_LOCKED when the part no longer allows it.
   */
  generateKey(options: { overwrite: boolean }): Uint8Array;
  /** Stores the device certificate and the certificate of its signer (the factory CA), DER. */
  storeCertificates(certificates: FactoryCertificates): void;
  /** Lock state of the part's zones, or null where locking does not apply (TPM, software). */
  lockState(): { config: boolean; data: boolean } | null;
  /** Locks what lockState() reports (config zone, then data zone). EGW_KEY_LOCKED if already locked. */
  lock(): void;
}

export interface FactoryCertificates {
  device: Uint8Array;
  signer: Uint8Array;
}
