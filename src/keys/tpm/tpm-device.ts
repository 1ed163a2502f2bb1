import { createHash } from 'node:crypto';
import { join } from 'node:path';
import {
  decodeEccSignature,
  decodePublic,
  decodeRc,
  ESYS_TR,
  EsysContext,
  type PublicArea,
  TPM2_ALG,
  TPM2_ECC_NIST_P256,
  TPM2_PT,
  TPM2_RC,
  TPMA_OBJECT,
  TPMA_PERMANENT_IN_LOCKOUT,
  Tss2Error,
} from '../../native/tss2/index.js';
import type { AttestationAnswer, AttestationRequest } from '../attestation.js';
import { CertificateDirectory } from '../certificate-directory.js';
import type { FactoryCertificates, ProvisionableKeyDevice } from '../key-device.js';
import { KeyError } from '../key-error.js';
import type { KeyStoreInfo } from '../key-store.js';
import {
  EK_TEMPLATE,
  IDENTITY_KEY_HAS_AUTH,
  IDENTITY_KEY_TEMPLATE,
  identityKeyTemplateWithPolicy,
  STORAGE_PRIMARY_TEMPLATE,
} from './key-templates.js';
import { p256Spki, p1363Signature } from './p256.js';
import { tpmAttest } from './tpm-attestation.js';
import { hexHandle, isConnectionFailure, type TpmErrorContext, tpmKeyError } from './tpm-errors.js';
import { authSource, createAuth, describeSource, readAuth, type TpmAuthSource } from './tpm-key-auth.js';
import { hasPolicy, pcrPolicyDigest, pcrPolicySelection, signWithPolicy } from './tpm-key-policy.js';

export interface TpmDeviceParams {
  /** tpm2-tss TCTI string: `device:/dev/tpmrm0` on boards, `swtpm:host=127.0.0.1,port=P` in tests. */
  tcti: string;
  /** Where the identity key persists, 0x81000000–0x81FFFFFF (e.g. 0x81010001). */
  persistentHandle: number;
  /** Holds device.der and signer.der (the factory certificates). */
  certificateDir: string;
  /**
   * The 0600 file with the keys' authValue (tpm-key-auth.ts), created with the first key; default
   * tpm-key-auth in certificateDir, with the rest of the identity.
   */
  authFile?: string;
  /** systemd credential name for that secret, looked up in $CREDENTIALS_DIRECTORY first; "" for none. */
  authCredential?: string;
  /** New keys get a PCR policy over this selection ("sha256:7"; tpm-key-policy.ts); "" or absent: none. */
  pcrPolicy?: string;
}

/** Why a key in use has no auth value: created before keys had one. */
const LEGACY_KEY_WARNING =
  'the identity key was created without an authorization value: any process that can open the TPM can sign with it';
const LEGACY_KEY_FIX =
  'gatewayctl provision factory --force creates a new key with one (then re-enrol it: new key, new certificate)';

/** What occupies the persistent handle. */
type Occupant = { kind: 'absent' } | { kind: 'identity' | 'other'; object: number; area: PublicArea };

/** Called by the device worker (worker/device-worker.ts) and by gatewayctl provision. */
export function createDevice(params: unknown): TpmKeyDevice {
  return new TpmKeyDevice(checkParams(params));
}

/**
 * The identity key in a TPM 2.0, through tpm2-tss ESYS.
 *
 * The key is an ECDSA P-256 key created under the owner hierarchy's storage primary key and made
 * persistent at `persistentHandle`; its private part never leaves the TPM. The storage primary is
 * recreated (deterministically) only while a key is generated and flushed right after.
 *
 * This object owns one ESYS context, which is not thread-safe: it is used by one thread (the key
 * worker, or the provisioning CLI), one call at a time.
 *
 * KeyStoreInfo.serial is the first 9 bytes (18 hex digits, upper case, the shape of an ATECC608A
 * serial) of the SHA-256 of the TPM's TCG default ECC P-256 endorsement key point (x‖y), which is
 * unique per TPM, survives TPM2_Clear and matches the manufacturer's EK certificate. Short enough
 * that CN=device-<serial> stays within X.520's 64 characters.
 * When the endorsement hierarchy cannot be used (an endorsement password is set), it falls back to
 * the SHA-256 of manufacturer, vendor string and firmware version, which names the TPM model only.
 */
export class TpmKeyDevice implements ProvisionableKeyDevice {
  #esys: EsysContext | undefined;
  #info: KeyStoreInfo | undefined;
  #key: { object: number; spki: Uint8Array; hasAuth: boolean; policy?: Uint8Array } | undefined;
  readonly #certificates: CertificateDirectory;

  constructor(readonly params: TpmDeviceParams) {
    this.#certificates = new CertificateDirectory(params.certificateDir);
  }

  connect(): KeyStoreInfo {
    if (this.#esys && this.#info) return this.#info;
    const esys = this.#run('connecting to the TPM', () => EsysContext.open(this.params.tcti));
    this.#esys = esys;
    try {
      const fixed = this.#startedProperties(esys);
      const identity = tpmIdentityOf(fixed);
      this.#info = {
        backend: 'tpm',
        // swtpm (libtpms) keeps its keys in a state file: like the ATECC608A simulator, it must
        // never pass for hardware.
        hardwareBacked: !isSoftwareTpm(identity),
        model: modelText(identity),
        serial: this.#serial(esys, fixed),
        keyLocation: `persistent handle ${hexHandle(this.params.persistentHandle)}`,
        ...(isSoftwareTpm(identity) && isSimulatorTcti(this.params.tcti)
          ? {
              simulated: `a software TPM (${this.params.tcti.split(':')[0]} TCTI) keeps its keys in a state file`,
            }
          : {}),
      };
      return this.#info;
    } catch (error) {
      this.#dropConnection();
      throw error;
    }
  }

  open(): KeyStoreInfo {
    const info = this.connect();
    const key = this.#requireKey();
    // Existing installs keep working; the daemon logs this at start-up and health shows it.
    return key.hasAuth ? info : { ...info, warnings: [`${LEGACY_KEY_WARNING}: ${LEGACY_KEY_FIX}`] };
  }

  /** True when the persistent handle holds an ECC P-256 signing key (anything else there: false). */
  hasKey(): boolean {
    if (this.#key) return true;
    this.connect();
    const occupant = this.#occupant();
    this.#release(occupant);
    return occupant.kind === 'identity';
  }

  publicKey(): Uint8Array {
    return new Uint8Array(this.#requireKey().spki);
  }

  signDigest(digest: Uint8Array): Uint8Array {
    if (digest.length !== 32) {
      throw new KeyError(
        'EGW_KEY_BAD_DIGEST',
        `expected a 32-byte SHA-256 digest, got ${digest.length} bytes`,
      );
    }
    try {
      return this.#sign(digest);
    } catch (error) {
      // A restarted TPM service (swtpm, tpm2-abrmd) drops our connection: reconnect once and retry.
      // Signing twice is harmless: each call yields a fresh, valid signature.
      if (isAuthFailure(error)) throw this.#authRefused(error);
      if (isPolicyFailure(error)) throw this.#policyRefused(error);
      if (!isConnectionFailure(error)) throw this.#keyError(error, 'signing a digest');
      this.#dropConnection();
      this.open();
      return this.#run('signing a digest after reconnecting', () => this.#sign(digest));
    }
  }

  generateKey(options: { overwrite: boolean }): Uint8Array {
    this.connect();
    const esys = this.#context();
    const handle = this.params.persistentHandle;
    // Start from a fresh look at the handle: the key this device had open may be about to go.
    this.#forgetKey();
    const occupant = this.#occupant();
    if (occupant.kind !== 'absent') {
      if (!options.overwrite || occupant.kind === 'other') {
        this.#release(occupant);
        throw new KeyError(
          'EGW_KEY_EXISTS',
          `persistent handle ${hexHandle(handle)} on the TPM (${this.params.tcti}) already holds ${describe(occupant.area)}`,
          {
            hint:
              occupant.kind === 'identity'
                ? 'use --force to replace it (the old key is destroyed), or choose another identity.key.tpm.persistent_handle'
                : 'this is not an identity key and is never replaced automatically: choose another identity.key.tpm.persistent_handle, or evict it yourself if nothing needs it (tpm2_evictcontrol -C o -c <handle>)',
          },
        );
      }
      this.#run('evicting the old identity key', () => {
        esys.evictControl(occupant.object, handle);
        esys.closeTr(occupant.object);
      });
    }

    // The service's secret (made with the first key, shared by the rotated keys): see tpm-key-auth.ts.
    const source = this.#authSource();
    const secret = readAuth(source) ?? createAuth(source);
    const policy = pcrPolicySelection(this.params.pcrPolicy);
    const key = this.#run('creating the identity key', () => {
      const template = policy
        ? identityKeyTemplateWithPolicy(pcrPolicyDigest(esys, policy))
        : IDENTITY_KEY_TEMPLATE;
      const primary = esys.createPrimary(ESYS_TR.RH_OWNER, STORAGE_PRIMARY_TEMPLATE);
      try {
        const created = esys.create(primary.object, template, secret);
        const loaded = esys.load(primary.object, created.private, created.public);
        try {
          const object = esys.evictControl(loaded, handle);
          esys.setAuth(object, secret);
          const spki = spkiOf(decodePublic(created.public));
          return { object, spki, hasAuth: true, ...(policy ? { policy } : {}) };
        } finally {
          esys.flush(loaded);
        }
      } finally {
        esys.flush(primary.object);
      }
    });
    this.#key = key;
    return new Uint8Array(key.spki);
  }

  storeCertificates(certificates: FactoryCertificates): void {
    this.#certificates.store(certificates);
  }

  readCertificates(): Partial<FactoryCertificates> {
    return this.#certificates.read();
  }

  lockState(): null {
    return null;
  }

  lock(): void {
    throw new KeyError('EGW_KEY_DEVICE_ERROR', 'the TPM backend has no lockable zones', {
      hint: 'locking applies to the ATECC608A only; a TPM key is protected by its attributes (fixedTPM, fixedParent)',
    });
  }

  healthChecks(): { name: string; ok: boolean; detail: string }[] {
    const esys = this.#context();
    const checks: { name: string; ok: boolean; detail: string }[] = [];
    try {
      const result = esys.testResult();
      checks.push({
        name: 'TPM self-test',
        ok: result === 0,
        detail: result === 0 ? 'passed' : `failed: ${decodeRc(result).text}`,
      });
    } catch (error) {
      checks.push({
        name: 'TPM self-test',
        ok: false,
        detail: this.#keyError(error, 'reading the self-test result').message,
      });
    }
    try {
      const v = esys.tpmProperties(TPM2_PT.PERMANENT, TPM2_PT.LOCKOUT_RECOVERY - TPM2_PT.PERMANENT + 1);
      const inLockout = ((v.get(TPM2_PT.PERMANENT) ?? 0) & TPMA_PERMANENT_IN_LOCKOUT) !== 0;
      const counter = v.get(TPM2_PT.LOCKOUT_COUNTER) ?? 0;
      const max = v.get(TPM2_PT.MAX_AUTH_FAIL) ?? 0;
      const interval = v.get(TPM2_PT.LOCKOUT_INTERVAL) ?? 0;
      checks.push({
        name: 'dictionary-attack lockout',
        ok: !inLockout,
        detail: `${inLockout ? 'IN LOCKOUT' : 'not locked out'}: ${counter} of ${max} failed authorizations counted (one forgiven every ${interval} s)`,
      });
    } catch (error) {
      checks.push({
        name: 'dictionary-attack lockout',
        ok: false,
        detail: this.#keyError(error, 'reading the lockout counter').message,
      });
    }
    if (this.#key) {
      checks.push({
        name: 'identity key authorization',
        ok: this.#key.hasAuth,
        detail: this.#key.hasAuth
          ? `authorization value from ${describeSource(this.#authSource())}`
          : `${LEGACY_KEY_WARNING}; fix: ${LEGACY_KEY_FIX}`,
      });
      const expected = this.#key.spki;
      try {
        const now = spkiOf(decodePublic(esys.readPublic(this.#key.object)));
        const same = Buffer.from(now).equals(Buffer.from(expected));
        checks.push({
          name: 'identity key',
          ok: same,
          detail: same
            ? `present at persistent handle ${hexHandle(this.params.persistentHandle)}`
            : `the key at persistent handle ${hexHandle(this.params.persistentHandle)} changed since it was opened`,
        });
      } catch (error) {
        checks.push({
          name: 'identity key',
          ok: false,
          detail: this.#keyError(error, 'reading the identity key').message,
        });
      }
    }
    return checks;
  }

  /** Evidence for attested enrolment: see tpm-attestation.ts. */
  attest(request: AttestationRequest): AttestationAnswer {
    const key = this.#requireKey();
    return this.#run('attesting the identity key', () => tpmAttest(this.#context(), key.object, request));
  }

  close(): void {
    this.#forgetKey();
    this.#dropConnection();
  }

  #sign(digest: Uint8Array): Uint8Array {
    const key = this.#requireKey();
    const signature = decodeEccSignature(
      key.policy
        ? signWithPolicy(this.#context(), key.object, digest, key.policy)
        : this.#context().signEcdsa(key.object, digest),
    );
    return p1363Signature(signature.r, signature.s);
  }

  #requireKey(): { object: number; spki: Uint8Array; hasAuth: boolean; policy?: Uint8Array } {
    if (this.#key) return this.#key;
    this.connect();
    const handle = this.params.persistentHandle;
    const occupant = this.#occupant();
    if (occupant.kind === 'absent') {
      throw new KeyError(
        'EGW_KEY_NOT_FOUND',
        `no identity key at persistent handle ${hexHandle(handle)} on the TPM (${this.params.tcti})`,
        {
          hint: 'run gatewayctl provision factory to create it, or check identity.key.tpm.persistent_handle (tpm2_getcap handles-persistent lists what is there)',
        },
      );
    }
    if (occupant.kind === 'other') {
      this.#release(occupant);
      throw new KeyError(
        'EGW_KEY_NOT_FOUND',
        `persistent handle ${hexHandle(handle)} on the TPM (${this.params.tcti}) holds ${describe(occupant.area)}, not an ECC P-256 signing key`,
        {
          hint: 'point identity.key.tpm.persistent_handle at the identity key, or provision one at a free handle (gatewayctl provision factory)',
        },
      );
    }
    const hasAuth = (occupant.area.attributes & IDENTITY_KEY_HAS_AUTH) !== 0;
    if (hasAuth) {
      let secret: Uint8Array | undefined;
      try {
        secret = readAuth(this.#authSource());
      } catch (error) {
        this.#release(occupant);
        throw error;
      }
      if (!secret) {
        this.#release(occupant);
        throw new KeyError(
          'EGW_KEY_AUTH',
          `the identity key at persistent handle ${hexHandle(handle)} needs its authorization value, and there is none: ${this.#authWhere()}`,
          { hint: authHint() },
        );
      }
      this.#run('setting the identity key authorization', () =>
        this.#context().setAuth(occupant.object, secret),
      );
    }
    let policy: Uint8Array | undefined;
    if (hasPolicy(occupant.area)) {
      policy = pcrPolicySelection(this.params.pcrPolicy);
      if (!policy) {
        this.#release(occupant);
        throw new KeyError(
          'EGW_KEY_AUTH',
          `the identity key at persistent handle ${hexHandle(handle)} is bound to PCR values by a policy, and identity.key.tpm.pcr_policy is not set`,
          { hint: 'set identity.key.tpm.pcr_policy to the selection the key was created with' },
        );
      }
    }
    this.#key = {
      object: occupant.object,
      spki: spkiOf(occupant.area),
      hasAuth,
      ...(policy ? { policy } : {}),
    };
    return this.#key;
  }

  #authSource(): TpmAuthSource {
    return authSource({
      authFile: this.params.authFile ?? join(this.params.certificateDir, 'tpm-key-auth'),
      authCredential: this.params.authCredential ?? '',
    });
  }

  /** Where the secret was looked for, for messages (never the secret). */
  #authWhere(): string {
    const credential = this.params.authCredential;
    const file = describeSource({
      kind: 'file',
      path: this.params.authFile ?? join(this.params.certificateDir, 'tpm-key-auth'),
    });
    return credential ? `no systemd credential "${credential}" and no ${file}` : `no ${file}`;
  }

  #policyRefused(error: unknown): KeyError {
    return new KeyError(
      'EGW_KEY_AUTH',
      `the TPM (${this.params.tcti}) refused the identity key at persistent handle ${hexHandle(this.params.persistentHandle)}: its PCR policy (${this.params.pcrPolicy}) no longer holds — the measured boot changed since the key was created, or pcr_policy names other PCRs`,
      {
        hint: 'if the change is legitimate (a firmware or boot update), re-provision: gatewayctl provision factory --force, then re-enrol; otherwise find out what changed the PCRs (tpm2_pcrread)',
        cause: error,
      },
    );
  }

  #authRefused(error: unknown): KeyError {
    return new KeyError(
      'EGW_KEY_AUTH',
      `the TPM (${this.params.tcti}) refused the authorization value for the identity key at persistent handle ${hexHandle(this.params.persistentHandle)} (${describeSource(this.#authSource())}): the secret is not the one the key was created with`,
      { hint: authHint(), cause: error },
    );
  }

  /** Looks at the persistent handle; the caller owns the returned ESYS_TR (see #release). */
  #occupant(): Occupant {
    const esys = this.#context();
    const handle = this.params.persistentHandle;
    let object: number;
    try {
      object = esys.trFromTpmPublic(handle);
    } catch (error) {
      if (
        error instanceof Tss2Error &&
        error.decoded.layer === 'TPM' &&
        error.decoded.base === TPM2_RC.HANDLE
      ) {
        return { kind: 'absent' };
      }
      throw this.#keyError(error, 'looking for the identity key', handle);
    }
    const area = this.#run('reading the identity key', () => decodePublic(esys.readPublic(object)), handle);
    return { kind: isIdentityKey(area) ? 'identity' : 'other', object, area };
  }

  #release(occupant: Occupant): void {
    if (occupant.kind !== 'absent' && occupant.object !== this.#key?.object) {
      this.#run('releasing a handle', () => this.#context().closeTr(occupant.object));
    }
  }

  /**
   * The fixed TPM properties (0x100…0x10C). Also the first command after connecting: a TPM that
   * nobody started (no firmware or OS ran TPM2_Startup, swtpm without startup-clear) answers
   * TPM_RC_INITIALIZE, and gets Startup(CLEAR) before the command is retried.
   */
  #startedProperties(esys: EsysContext): Map<number, number> {
    const read = () =>
      esys.tpmProperties(TPM2_PT.FAMILY_INDICATOR, TPM2_PT.FIRMWARE_VERSION_2 - TPM2_PT.FAMILY_INDICATOR + 1);
    try {
      return read();
    } catch (error) {
      if (
        !(
          error instanceof Tss2Error &&
          error.decoded.layer === 'TPM' &&
          error.decoded.base === TPM2_RC.INITIALIZE
        )
      ) {
        throw this.#keyError(error, 'reading the TPM properties');
      }
    }
    return this.#run('starting the TPM (TPM2_Startup CLEAR)', () => {
      esys.startup();
      return read();
    });
  }

  #serial(esys: EsysContext, fixed: Map<number, number>): string {
    try {
      const ek = esys.createPrimary(ESYS_TR.RH_ENDORSEMENT, EK_TEMPLATE);
      esys.flush(ek.object);
      const point = decodePublic(ek.public).ecc;
      if (!point) throw new Error('the endorsement key is not an ECC key');
      return shortSerial(createHash('sha256').update(point.x).update(point.y).digest());
    } catch (error) {
      if (isConnectionFailure(error)) throw this.#keyError(error, 'creating the endorsement key');
      const tags: number[] = [TPM2_PT.MANUFACTURER, TPM2_PT.VENDOR_STRING_1, TPM2_PT.VENDOR_STRING_2];
      tags.push(
        TPM2_PT.VENDOR_STRING_3,
        TPM2_PT.VENDOR_STRING_4,
        TPM2_PT.FIRMWARE_VERSION_1,
        TPM2_PT.FIRMWARE_VERSION_2,
      );
      const identity = tags.map((tag) => (fixed.get(tag) ?? 0).toString(16).padStart(8, '0')).join('');
      return shortSerial(createHash('sha256').update(identity).digest());
    }
  }

  #context(): EsysContext {
    if (!this.#esys || this.#esys.closed) {
      throw new KeyError('EGW_KEY_CLOSED', `the TPM device (${this.params.tcti}) is not connected`, {
        hint: 'call open() or connect() first',
      });
    }
    return this.#esys;
  }

  #forgetKey(): void {
    const key = this.#key;
    this.#key = undefined;
    if (key && this.#esys && !this.#esys.closed) {
      try {
        this.#esys.closeTr(key.object);
      } catch {
        // The handle is forgotten either way; closing ESYS below frees everything.
      }
    }
  }

  #dropConnection(): void {
    this.#key = undefined;
    this.#info = undefined;
    this.#esys?.close();
    this.#esys = undefined;
  }

  #run<T>(action: string, fn: () => T, handle?: number): T {
    try {
      return fn();
    } catch (error) {
      throw this.#keyError(error, action, handle);
    }
  }

  #keyError(error: unknown, action: string, handle: number = this.params.persistentHandle): KeyError {
    const context: TpmErrorContext = { tcti: this.params.tcti, action, handle };
    return tpmKeyError(error, context);
  }
}

function checkParams(params: unknown): TpmDeviceParams {
  const p = (params ?? {}) as Partial<TpmDeviceParams>;
  const problems: string[] = [];
  if (typeof p.tcti !== 'string' || p.tcti === '')
    problems.push('tcti must be a TCTI string such as "device:/dev/tpmrm0"');
  if (
    typeof p.persistentHandle !== 'number' ||
    !Number.isInteger(p.persistentHandle) ||
    p.persistentHandle < 0x81000000 ||
    p.persistentHandle > 0x81ffffff
  ) {
    const shown =
      typeof p.persistentHandle === 'number' ? hexHandle(p.persistentHandle) : String(p.persistentHandle);
    problems.push(`persistentHandle ${shown} is not a persistent handle (0x81000000–0x81FFFFFF)`);
  }
  if (typeof p.certificateDir !== 'string' || p.certificateDir === '')
    problems.push('certificateDir must be a directory path');
  if (p.authFile !== undefined && (typeof p.authFile !== 'string' || p.authFile === ''))
    problems.push('authFile must be a file path');
  if (p.authCredential !== undefined && typeof p.authCredential !== 'string')
    problems.push('authCredential must be a systemd credential name or ""');
  if (p.pcrPolicy !== undefined && typeof p.pcrPolicy !== 'string')
    problems.push('pcrPolicy must be a PCR selection such as "sha256:7", or ""');
  if (problems.length > 0) {
    throw new KeyError('EGW_KEY_DEVICE_ERROR', `invalid TPM key parameters: ${problems.join('; ')}`, {
      hint: 'check [identity.key.tpm] in gateway.toml (tcti, persistent_handle, auth_file, auth_credential) and identity.key.certificate_dir',
    });
  }
  return {
    tcti: p.tcti as string,
    persistentHandle: p.persistentHandle as number,
    certificateDir: p.certificateDir as string,
    ...(p.authFile !== undefined ? { authFile: p.authFile } : {}),
    ...(p.authCredential !== undefined ? { authCredential: p.authCredential } : {}),
    ...(p.pcrPolicy !== undefined ? { pcrPolicy: p.pcrPolicy } : {}),
  };
}

/** A policy session whose digest does not match the key's authPolicy (PCRs changed). */
function isPolicyFailure(error: unknown): boolean {
  return (
    error instanceof Tss2Error && error.decoded.layer === 'TPM' && error.decoded.base === TPM2_RC.POLICY_FAIL
  );
}

/** A wrong password for an object: TPM_RC_BAD_AUTH (noDA objects) or TPM_RC_AUTH_FAIL. */
function isAuthFailure(error: unknown): boolean {
  if (!(error instanceof Tss2Error) || error.decoded.layer !== 'TPM') return false;
  return error.decoded.base === TPM2_RC.BAD_AUTH || error.decoded.base === TPM2_RC.AUTH_FAIL;
}

/** What to do when the keys' secret is missing or wrong (README: "TPM key authorization"). */
function authHint(): string {
  return 'restore the secret the key was created with (identity.key.tpm.auth_file, or the systemd credential identity.key.tpm.auth_credential); if it is lost, the key can no longer sign: re-provision with gatewayctl provision factory --force (a new key and secret) and re-enrol';
}

/** An ECC P-256, unrestricted signing key whose scheme (if fixed) is ECDSA with SHA-256. */
function isIdentityKey(area: PublicArea): boolean {
  const ecc = area.ecc;
  if (!ecc || ecc.curve !== TPM2_ECC_NIST_P256) return false;
  if (!(area.attributes & TPMA_OBJECT.SIGN_ENCRYPT) || area.attributes & TPMA_OBJECT.RESTRICTED) return false;
  return (
    ecc.scheme === TPM2_ALG.NULL || (ecc.scheme === TPM2_ALG.ECDSA && ecc.schemeHash === TPM2_ALG.SHA256)
  );
}

function describe(area: PublicArea): string {
  if (isIdentityKey(area)) return 'an ECC P-256 signing key';
  const kind =
    area.type === TPM2_ALG.RSA
      ? 'an RSA key'
      : area.type === TPM2_ALG.ECC
        ? 'an ECC key'
        : `an object of type 0x${area.type.toString(16)}`;
  const uses: string[] = [];
  if (area.attributes & TPMA_OBJECT.RESTRICTED) uses.push('restricted');
  if (area.attributes & TPMA_OBJECT.DECRYPT) uses.push('decryption');
  if (area.attributes & TPMA_OBJECT.SIGN_ENCRYPT) uses.push('signing');
  const curve =
    area.ecc && area.ecc.curve !== TPM2_ECC_NIST_P256 ? ` on curve 0x${area.ecc.curve.toString(16)}` : '';
  const hint =
    area.attributes & TPMA_OBJECT.RESTRICTED && area.attributes & TPMA_OBJECT.DECRYPT
      ? ' (a storage key or an endorsement key)'
      : '';
  return `${kind}${curve}${uses.length ? ` (${uses.join(', ')})` : ''}${hint}`;
}

function spkiOf(area: PublicArea): Uint8Array {
  if (!area.ecc) throw new Error('not an ECC key');
  return p256Spki(area.ecc.x, area.ecc.y);
}

/** What the TPM says it is (TPM2_GetCapability fixed properties). */
export interface TpmIdentity {
  family: string;
  manufacturer: string;
  vendor: string;
  firmware: string;
}

function tpmIdentityOf(fixed: Map<number, number>): TpmIdentity {
  const text = (...tags: number[]) => {
    const bytes = Buffer.alloc(tags.length * 4);
    for (const [i, tag] of tags.entries()) bytes.writeUInt32BE((fixed.get(tag) ?? 0) >>> 0, i * 4);
    return bytes
      .toString('latin1')
      .replace(/[^\x20-\x7e]/g, ' ')
      .replace(/\s+/g, ' ')
      .trim();
  };
  const v1 = fixed.get(TPM2_PT.FIRMWARE_VERSION_1) ?? 0;
  const v2 = fixed.get(TPM2_PT.FIRMWARE_VERSION_2) ?? 0;
  return {
    family: text(TPM2_PT.FAMILY_INDICATOR) || '2.0',
    manufacturer: text(TPM2_PT.MANUFACTURER) || 'unknown manufacturer',
    vendor: text(
      TPM2_PT.VENDOR_STRING_1,
      TPM2_PT.VENDOR_STRING_2,
      TPM2_PT.VENDOR_STRING_3,
      TPM2_PT.VENDOR_STRING_4,
    ),
    firmware: [v1 >>> 16, v1 & 0xffff, v2 >>> 16, v2 & 0xffff].join('.'),
  };
}

/** e.g. "TPM 2.0 IBM (SW TPM), firmware 8217.4131.22.13878". */
function modelText(identity: TpmIdentity): string {
  const { family, manufacturer, vendor, firmware } = identity;
  return `TPM ${family} ${manufacturer}${vendor ? ` (${vendor})` : ''}, firmware ${firmware}`;
}

/**
 * A software TPM: libtpms (swtpm, and IBM's simulator it comes from) reports manufacturer "IBM" and
 * vendor "SW TPM". Firmware TPMs (AMD fTPM, Intel PTT) are hardware-protected and do not match.
 */
export function isSoftwareTpm(identity: TpmIdentity): boolean {
  return /\bSW\s*TPM\b/i.test(identity.vendor);
}

/**
 * The configured TCTI reaches a TPM simulator by its own protocol (swtpm, IBM's mssim). A software
 * TPM behind device:/dev/tpm* (a VM's vTPM) was configured as hardware: not a simulation to excuse.
 */
export function isSimulatorTcti(tcti: string): boolean {
  return /^(swtpm|mssim)(:|$)/.test(tcti);
}

function shortSerial(hash: Buffer): string {
  return hash.subarray(0, 9).toString('hex').toUpperCase();
}
