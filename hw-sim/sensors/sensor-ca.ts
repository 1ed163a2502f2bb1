import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GatewayError } from '../../src/errors/index.js';
import { derElements, pemBlocks } from '../../src/pki/index.js';
import type { BadActorKind, SensorCredentials } from './sensor-credentials.js';
import {
  caExtensions,
  certificateDer,
  crlDer,
  keyIdentifier,
  nameDer,
  pemOf,
  type RevokedEntry,
  randomSerial,
  sensorExtensions,
} from './x509-der.js';

const DAY_MS = 86_400_000;
/** A CN that makes a valid dNSName (RFC 5280 §4.2.1.6, preferred name syntax) when ".local" is added. */
const DNS_LABELS =
  /^(?=.{1,63}$)[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*$/;
/** Certificates start a few minutes in the past: a gateway whose clock lags a little still accepts them. */
const BACKDATE_MS = 5 * 60_000;
export const DEFAULT_DEVICE_TYPE_OID = '1.3.6.1.4.1.12345.1.1';
export const DEFAULT_DEVICE_TYPE = 'thermometer';

/** The files of a CA directory. */
export const SENSOR_CA_FILES = {
  certificate: 'sensor-root.pem',
  key: 'sensor-root.key.pem',
  crlPem: 'sensor-root.crl.pem',
  crlDer: 'sensor-root.crl.der',
  revokedList: 'revoked.json',
  revokedDir: 'revoked',
} as const;

export interface SensorCaOptions {
  /** Subject CN of a new root (default "edge-gatewayd hw-sim sensor root CA <random id>"). */
  commonName?: string;
  /** OID of the device-type extension in issued certificates (the gateway's trust.device_type_oid). */
  deviceTypeOid?: string;
  /** CRL distribution point (URI) written into every sensor certificate this CA issues. */
  crlDistributionPoint?: string;
  /** Lifetime of sensor certificates in days (default 30). */
  sensorValidityDays?: number;
}

export interface IssueSensorOptions {
  commonName: string;
  /** Subject serialNumber (default: derived from the CN); null leaves it out. */
  serialNumber?: string | null;
  /** Device-type extension value (default "thermometer"); null leaves it out. */
  deviceType?: string | null;
  notBefore?: Date;
  notAfter?: Date;
  /** Overrides the CA's distribution point for this certificate; null leaves it out. */
  crlDistributionPoint?: string | null;
}

export interface CrlOptions {
  thisUpdate?: Date;
  /** Default: a week after thisUpdate. */
  nextUpdate?: Date;
}

interface RevokedRecord {
  commonName: string;
  /** Hex of the serial's INTEGER value octets. */
  serial: string;
  revokedAt: string;
}

interface RevokedState {
  crlNumber: string;
  revoked: RevokedRecord[];
}

/**
 * A sensor root CA for the fleet simulator: made fresh, or kept in a directory so a gateway can be
 * told to trust it (sensor-root.pem) before sensors connect. Issues per-sensor P-256 certificates
 * (CN, serialNumber, EKU clientAuth, device-type extension, optional CRL distribution point) and
 * the bad actors a gateway must refuse: a sensor from an unknown CA, an expired one, a revoked one
 * (listed in the CRL this CA signs, sensor-root.crl.pem) and an authorized-looking one that the
 * fleet points at a resource it may not use.
 *
 * Revoked sensors are kept in the directory (revoked/) and reused by name, so a CRL the gateway
 * imported once still covers the revoked sensors of later runs.
 */
export class SensorCa {
  /** The directory the CA lives in; undefined for an in-memory CA. */
  readonly dir: string | undefined;
  /** Whether this CA was made now (false: loaded from `dir`). */
  readonly created: boolean;
  readonly certificateDer: Uint8Array;
  readonly certificatePem: string;
  readonly deviceTypeOid: string;
  readonly #key: KeyObject;
  readonly #subject: Uint8Array;
  readonly #keyId: Uint8Array;
  readonly #options: SensorCaOptions;
  readonly #revoked: RevokedState;
  #unknownCa: SensorCa | undefined;

  private constructor(
    dir: string | undefined,
    created: boolean,
    certificate: Uint8Array,
    key: KeyObject,
    options: SensorCaOptions,
    revoked: RevokedState,
  ) {
    this.dir = dir;
    this.created = created;
    this.certificateDer = certificate;
    this.certificatePem = pemOf('CERTIFICATE', certificate);
    this.deviceTypeOid = options.deviceTypeOid ?? DEFAULT_DEVICE_TYPE_OID;
    this.#key = key;
    this.#options = options;
    this.#revoked = revoked;
    // tbsCertificate: [0] version, serial, signature, issuer, validity, subject, spki, …
    const tbs = derElements(derElements(certificate)[0] as Uint8Array);
    this.#subject = tbs[5] as Uint8Array;
    this.#keyId = keyIdentifier(tbs[6] as Uint8Array);
  }

  /** A new root CA, in memory only. */
  static create(options: SensorCaOptions = {}): SensorCa {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const keyId = keyIdentifier(spki);
    const subject = nameDer({
      organization: 'edge-gatewayd hw-sim',
      commonName:
        options.commonName ?? `edge-gatewayd hw-sim sensor root CA ${randomBytes(3).toString('hex')}`,
    });
    const now = Date.now();
    const certificate = certificateDer(
      {
        serial: randomSerial(),
        issuer: subject,
        subject,
        notBefore: new Date(now - BACKDATE_MS),
        notAfter: new Date(now + 10 * 365 * DAY_MS),
        spki,
        extensions: caExtensions(keyId),
      },
      privateKey,
    );
    return new SensorCa(undefined, true, certificate, privateKey, options, { crlNumber: '0', revoked: [] });
  }

  /**
   * The CA kept in `dir`: loaded when sensor-root.pem and its key are there, else made and saved
   * (with an empty CRL, so a gateway can import one at once).
   */
  static open(dir: string, options: SensorCaOptions = {}): SensorCa {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const certificatePath = join(dir, SENSOR_CA_FILES.certificate);
    const keyPath = join(dir, SENSOR_CA_FILES.key);
    const hasCertificate = existsSync(certificatePath);
    if (hasCertificate !== existsSync(keyPath)) {
      throw new GatewayError(
        'EGW_SENSOR_CA_STATE',
        `the sensor CA in ${dir} is incomplete (${hasCertificate ? SENSOR_CA_FILES.key : SENSOR_CA_FILES.certificate} is missing)`,
        { hint: `remove ${dir} to make a new CA, or restore the missing file` },
      );
    }
    if (!hasCertificate) {
      const fresh = SensorCa.create(options);
      const ca = new SensorCa(dir, true, fresh.certificateDer, fresh.#key, options, fresh.#revoked);
      // Key first: a crash in between leaves "incomplete", never a certificate without its key.
      writeFileSync(keyPath, fresh.#key.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
      writeFileSync(certificatePath, ca.certificatePem);
      ca.writeCrl();
      return ca;
    }
    try {
      const [certificate] = pemBlocks(readFileSync(certificatePath, 'utf8'));
      if (!certificate) throw new Error(`${SENSOR_CA_FILES.certificate} holds no CERTIFICATE`);
      const key = createPrivateKey(readFileSync(keyPath));
      const spki = createPublicKey(key).export({ type: 'spki', format: 'der' });
      const certificateSpki = derElements(derElements(certificate)[0] as Uint8Array)[6] as Uint8Array;
      if (!Buffer.from(spki).equals(Buffer.from(certificateSpki)))
        throw new Error('the key does not belong to the certificate');
      const listPath = join(dir, SENSOR_CA_FILES.revokedList);
      const revoked: RevokedState = existsSync(listPath)
        ? JSON.parse(readFileSync(listPath, 'utf8'))
        : { crlNumber: '0', revoked: [] };
      return new SensorCa(dir, false, certificate, key, options, revoked);
    } catch (cause) {
      throw new GatewayError(
        'EGW_SENSOR_CA_STATE',
        `the sensor CA in ${dir} cannot be read: ${String(cause)}`,
        {
          hint: `remove ${dir} to make a new CA (the gateway must then trust the new root)`,
          cause,
        },
      );
    }
  }

  /** The certificate file a gateway trusts (only for a CA kept in a directory). */
  get certificateFile(): string | undefined {
    return this.dir === undefined ? undefined : join(this.dir, SENSOR_CA_FILES.certificate);
  }

  /** The CRL file (PEM) a gateway imports (only for a CA kept in a directory). */
  get crlFile(): string | undefined {
    return this.dir === undefined ? undefined : join(this.dir, SENSOR_CA_FILES.crlPem);
  }

  /** Serials (lower-case hex) of the certificates this CA revoked. */
  get revokedSerials(): string[] {
    return this.#revoked.revoked.map((entry) => entry.serial);
  }

  /** A sensor certificate and its fresh P-256 key. */
  issue(options: IssueSensorOptions): SensorCredentials {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const spki = new Uint8Array(publicKey.export({ type: 'spki', format: 'der' }));
    const now = Date.now();
    const notBefore = options.notBefore ?? new Date(now - BACKDATE_MS);
    const notAfter = options.notAfter ?? new Date(now + (this.#options.sensorValidityDays ?? 30) * DAY_MS);
    const serialNumber =
      options.serialNumber === null
        ? undefined
        : (options.serialNumber ?? deviceSerialOf(options.commonName));
    const deviceType = options.deviceType === null ? undefined : (options.deviceType ?? DEFAULT_DEVICE_TYPE);
    const crlDistributionPoint =
      options.crlDistributionPoint === null
        ? undefined
        : (options.crlDistributionPoint ?? this.#options.crlDistributionPoint);
    const serial = randomSerial();
    const certificate = certificateDer(
      {
        serial,
        issuer: this.#subject,
        subject: nameDer({ commonName: options.commonName, ...(serialNumber ? { serialNumber } : {}) }),
        notBefore,
        notAfter,
        spki,
        extensions: sensorExtensions({
          subjectKeyId: keyIdentifier(spki),
          authorityKeyId: this.#keyId,
          deviceTypeOid: this.deviceTypeOid,
          deviceType,
          dnsNames: DNS_LABELS.test(options.commonName) ? [`${options.commonName}.local`] : [],
          crlDistributionPoint,
        }),
      },
      this.#key,
    );
    return {
      commonName: options.commonName,
      serialNumber,
      deviceType,
      certificateDer: certificate,
      certificateChain: [certificate],
      privateKeyPkcs8: new Uint8Array(privateKey.export({ type: 'pkcs8', format: 'der' })),
      certificateSerial: Buffer.from(serial).toString('hex'),
      notBefore,
      notAfter,
    };
  }

  /** Puts `credentials` on this CA's revocation list (and rewrites the CRL files of a kept CA). */
  revoke(credentials: SensorCredentials, at = new Date()): void {
    if (this.#revoked.revoked.some((entry) => entry.serial === credentials.certificateSerial)) return;
    this.#revoked.revoked.push({
      commonName: credentials.commonName,
      serial: credentials.certificateSerial,
      revokedAt: at.toISOString(),
    });
    if (this.dir !== undefined) this.writeCrl();
  }

  /** A CRL (DER) listing every certificate this CA revoked, with the next cRLNumber. */
  crl(options: CrlOptions = {}): Uint8Array {
    const thisUpdate = options.thisUpdate ?? new Date(Date.now() - BACKDATE_MS);
    const crlNumber = BigInt(this.#revoked.crlNumber) + 1n;
    this.#revoked.crlNumber = crlNumber.toString();
    const entries: RevokedEntry[] = this.#revoked.revoked.map((entry) => ({
      serial: new Uint8Array(Buffer.from(entry.serial, 'hex')),
      revokedAt: new Date(entry.revokedAt),
    }));
    return crlDer(
      {
        issuer: this.#subject,
        authorityKeyId: this.#keyId,
        thisUpdate,
        nextUpdate: options.nextUpdate ?? new Date(thisUpdate.getTime() + 7 * DAY_MS),
        crlNumber,
        entries,
      },
      this.#key,
    );
  }

  /** Writes a fresh CRL as sensor-root.crl.pem and .der in the CA's directory; returns the DER. */
  writeCrl(options: CrlOptions = {}): Uint8Array {
    const crl = this.crl(options);
    if (this.dir !== undefined) {
      writeFileSync(join(this.dir, SENSOR_CA_FILES.crlDer), crl);
      writeFileSync(join(this.dir, SENSOR_CA_FILES.crlPem), pemOf('X509 CRL', crl));
      writeFileSync(
        join(this.dir, SENSOR_CA_FILES.revokedList),
        `${JSON.stringify(this.#revoked, null, 2)}\n`,
      );
    }
    return crl;
  }

  /** A bad actor of `kind` named `commonName` (see the class comment). */
  badActor(kind: BadActorKind, commonName: string): SensorCredentials {
    switch (kind) {
      case 'unknownCa':
        return this.unknownCaSensor(commonName);
      case 'expired':
        return this.expiredSensor(commonName);
      case 'revoked':
        return this.revokedSensor(commonName);
      case 'unauthorized':
        // A valid certificate: what makes it a bad actor is the resource it asks for.
        return this.issue({ commonName });
    }
  }

  /** A sensor whose certificate comes from another CA (made once per SensorCa, never saved). */
  unknownCaSensor(commonName: string): SensorCredentials {
    this.#unknownCa ??= SensorCa.create({
      commonName: `unknown sensor CA ${randomBytes(3).toString('hex')}`,
      deviceTypeOid: this.deviceTypeOid,
    });
    return this.#unknownCa.issue({ commonName });
  }

  /** A sensor of this CA whose certificate expired yesterday. */
  expiredSensor(commonName: string): SensorCredentials {
    const now = Date.now();
    return this.issue({
      commonName,
      notBefore: new Date(now - 31 * DAY_MS),
      notAfter: new Date(now - DAY_MS),
    });
  }

  /**
   * A sensor of this CA on its revocation list. A kept CA reuses the one it revoked under this name
   * before (from revoked/), so the CRL a gateway already imported covers it; a new one is revoked and
   * the CRL files are rewritten (the gateway must then import the new CRL).
   */
  revokedSensor(commonName: string): SensorCredentials {
    const kept = this.#keptRevoked(commonName);
    if (kept) return kept;
    const credentials = this.issue({ commonName });
    if (this.dir !== undefined) {
      const dir = join(this.dir, SENSOR_CA_FILES.revokedDir);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeFileSync(join(dir, `${fileStem(commonName)}.key.der`), credentials.privateKeyPkcs8, {
        mode: 0o600,
      });
      writeFileSync(join(dir, `${fileStem(commonName)}.der`), credentials.certificateDer);
    }
    this.revoke(credentials);
    return credentials;
  }

  #keptRevoked(commonName: string): SensorCredentials | undefined {
    if (this.dir === undefined) return undefined;
    const record = this.#revoked.revoked.find((entry) => entry.commonName === commonName);
    const stem = join(this.dir, SENSOR_CA_FILES.revokedDir, fileStem(commonName));
    if (!record || !existsSync(`${stem}.der`) || !existsSync(`${stem}.key.der`)) return undefined;
    const certificate = new Uint8Array(readFileSync(`${stem}.der`));
    const validity = derElements(derElements(derElements(certificate)[0] as Uint8Array)[4] as Uint8Array);
    return {
      commonName,
      serialNumber: deviceSerialOf(commonName),
      deviceType: DEFAULT_DEVICE_TYPE,
      certificateDer: certificate,
      certificateChain: [certificate],
      privateKeyPkcs8: new Uint8Array(readFileSync(`${stem}.key.der`)),
      certificateSerial: record.serial,
      notBefore: timeOf(validity[0] as Uint8Array),
      notAfter: timeOf(validity[1] as Uint8Array),
    };
  }
}

/** The subject serialNumber of a simulated sensor: "SIM-" and the CN's characters that PrintableString allows. */
function deviceSerialOf(commonName: string): string {
  return `SIM-${commonName.replace(/[^A-Za-z0-9 '()+,./:=?-]/g, '').slice(0, 60)}`;
}

function fileStem(commonName: string): string {
  return commonName.replace(/[^\w.-]/g, '_');
}

/** A DER UTCTime or GeneralizedTime (as derTime writes them: to the second, "Z"). */
function timeOf(tlv: Uint8Array): Date {
  const text = Buffer.from(tlv.subarray(2)).toString('ascii');
  const full = tlv[0] === 0x17 ? `${Number(text.slice(0, 2)) >= 50 ? '19' : '20'}${text}` : text;
  return new Date(
    `${full.slice(0, 4)}-${full.slice(4, 6)}-${full.slice(6, 8)}T${full.slice(8, 10)}:${full.slice(10, 12)}:${full.slice(12, 14)}Z`,
  );
}
