import { X509Certificate as NodeX509Certificate, randomBytes } from 'node:crypto';
import { readableName, type X509Certificate } from '../../pki/index.js';
import type { Store } from '../../store/index.js';
import { commonNameOf, isCaCertificate, parseCertificate } from '../parse-certificate.js';
import { normalizeThumbprint, sha256Hex } from '../thumbprint.js';
import { TrustBundleStore } from '../trust-bundle-store.js';
import { TrustError } from '../trust-error.js';
import { type Enrollment, Enrollments } from './enrollments.js';
import { verificationCommands } from './verification-commands.js';

/** A CA waiting for its proof of possession. */
export interface PendingCaRegistration {
  caSha256: string;
  subject: string;
  /** 32 hex digits: the CN the verification certificate must carry. */
  nonce: string;
  expiresAt: Date;
  createdAt: Date;
}

/** What a successful proof did: the CA is a 'sensors' anchor with a group enrollment. */
export interface VerifiedCa {
  caSha256: string;
  subject: string;
  enrollment: Enrollment;
  /** False when the CA already had a group enrollment (it was kept as it was). */
  enrollmentCreated: boolean;
}

interface Row {
  ca_sha256: string;
  der: Uint8Array;
  subject: string;
  nonce: string;
  nonce_expires_at: number;
  created_at: number;
}

const COLUMNS = 'ca_sha256, der, subject, nonce, nonce_expires_at, created_at';
const SENSOR_BUNDLE = 'sensors';

/**
 * CA registration with proof of possession, as Azure DPS verifies CA certificates: `add` records
 * the CA with a random nonce; `verify` accepts a certificate CN=<nonce> signed by that CA's key,
 * which only the key's holder can make. Then, in one transaction, the CA becomes an anchor of the
 * 'sensors' bundle with a group enrollment (enabled, no constraints) and the registration ends.
 */
export class CaRegistrations {
  readonly #store: Store;
  readonly #nonceLifetimeMs: number;
  readonly #bundles: TrustBundleStore;
  readonly #enrollments: Enrollments;

  constructor(store: Store, options: { nonceLifetimeS?: number } = {}) {
    this.#store = store;
    this.#nonceLifetimeMs = (options.nonceLifetimeS ?? 3600) * 1000;
    this.#bundles = new TrustBundleStore(store);
    this.#enrollments = new Enrollments(store);
  }

  /** Registers a CA certificate (DER) and issues its nonce; re-adding the same CA replaces the nonce. */
  add(caDer: Uint8Array, at = new Date()): PendingCaRegistration {
    const ca = parseCertificate(caDer, 'the CA certificate');
    const subject = readableName(ca.subject);
    if (!isCaCertificate(ca)) {
      throw new TrustError(
        'EGW_TRUST_INVALID_ARGUMENT',
        `${subject} is not a CA certificate (no basicConstraints CA:TRUE): it cannot issue sensor certificates`,
        {
          hint: 'register the CA that signs the sensor certificates; enroll a single sensor with `gatewayctl sensors enroll --cert`',
        },
      );
    }
    const registration: PendingCaRegistration = {
      caSha256: sha256Hex(caDer),
      subject,
      nonce: randomBytes(16).toString('hex'),
      expiresAt: new Date(at.getTime() + this.#nonceLifetimeMs),
      createdAt: at,
    };
    this.#store
      .prepare<[string, Uint8Array, string, string, number, number]>(
        `INSERT INTO sensor_ca_registrations (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)
         ON CONFLICT (ca_sha256) DO UPDATE SET
           nonce = excluded.nonce, nonce_expires_at = excluded.nonce_expires_at, created_at = excluded.created_at`,
      )
      .run(
        registration.caSha256,
        caDer,
        subject,
        registration.nonce,
        registration.expiresAt.getTime(),
        at.getTime(),
      );
    return registration;
  }

  /**
   * Checks a verification certificate (DER) against the pending registrations; on success the CA
   * is trusted and enrolled. Every refusal is EGW_TRUST_PROOF_REJECTED naming the failed check,
   * and nothing changes.
   */
  verify(verificationDer: Uint8Array, at = new Date()): VerifiedCa {
    let proof: X509Certificate;
    try {
      proof = parseCertificate(verificationDer, 'the verification certificate');
    } catch (cause) {
      throw rejected('the verification certificate is not parseable X.509 (PEM or DER)', '<nonce>', cause);
    }
    const commonName = commonNameOf(proof);
    if (commonName === undefined) {
      throw rejected(
        `the verification certificate has no CN (subject ${readableName(proof.subject)}); it must be CN=<nonce>`,
      );
    }
    const nonce = commonName.trim().toLowerCase();
    const row = this.#store
      .prepare<[string], Row>(`SELECT ${COLUMNS} FROM sensor_ca_registrations WHERE nonce = ?`)
      .get(nonce);
    if (!row) {
      throw rejected(
        `no pending CA registration has the nonce ${JSON.stringify(commonName)} (the verification certificate's CN)`,
        '<nonce>',
        undefined,
        '`gatewayctl sensors ca list` shows the pending nonces',
      );
    }
    if (at.getTime() > row.nonce_expires_at) {
      throw rejected(
        `the nonce ${row.nonce} for CA ${row.subject} expired at ${new Date(row.nonce_expires_at).toISOString()}`,
        row.nonce,
        undefined,
        'run `gatewayctl sensors ca add <ca.pem>` again for a fresh nonce, then make the certificate with it',
      );
    }
    if (!signedBy(verificationDer, row.der)) {
      throw rejected(
        `the verification certificate's signature does not verify with the key of CA ${row.subject}: it was not signed with that CA's private key`,
        row.nonce,
      );
    }
    const ca = parseCertificate(row.der, `registered CA ${row.subject}`);
    if (!Buffer.from(proof.issuerName.toArrayBuffer()).equals(Buffer.from(ca.subjectName.toArrayBuffer()))) {
      throw rejected(
        `the verification certificate's issuer name (${readableName(proof.issuer)}) differs from the subject of CA ${row.subject}`,
        row.nonce,
      );
    }
    return this.#store.transaction(() => {
      this.#bundles.add(SENSOR_BUNDLE, row.der, { source: 'operator', role: 'anchor' }, at);
      const existing = this.#enrollments.get('group', row.ca_sha256);
      const enrollment =
        existing ?? this.#enrollments.addGroup(row.ca_sha256, { label: row.subject }, at).enrollment;
      this.#store
        .prepare<[string]>('DELETE FROM sensor_ca_registrations WHERE ca_sha256 = ?')
        .run(row.ca_sha256);
      return { caSha256: row.ca_sha256, subject: row.subject, enrollment, enrollmentCreated: !existing };
    });
  }

  /** Pending registrations, oldest first (expired ones too: their nonce is refused). */
  list(): PendingCaRegistration[] {
    return this.#store
      .prepare<[], Row>(`SELECT ${COLUMNS} FROM sensor_ca_registrations ORDER BY created_at, ca_sha256`)
      .all()
      .map(fromRow);
  }

  /** Drops a pending registration; EGW_TRUST_NOT_FOUND when there is none for that CA. */
  remove(caSha256: string): PendingCaRegistration {
    const thumbprint = normalizeThumbprint(caSha256, 'CA SHA-256 thumbprint');
    const row = this.#store
      .prepare<[string], Row>(`SELECT ${COLUMNS} FROM sensor_ca_registrations WHERE ca_sha256 = ?`)
      .get(thumbprint);
    if (!row) {
      throw new TrustError('EGW_TRUST_NOT_FOUND', `no pending registration of CA ${thumbprint}`, {
        hint: '`gatewayctl sensors ca list` shows the pending registrations',
      });
    }
    this.#store.prepare<[string]>('DELETE FROM sensor_ca_registrations WHERE ca_sha256 = ?').run(thumbprint);
    return fromRow(row);
  }
}

/** The signature check alone (OpenSSL's X509_verify): RSA, ECDSA and EdDSA CAs alike. */
function signedBy(certificateDer: Uint8Array, caDer: Uint8Array): boolean {
  try {
    return new NodeX509Certificate(certificateDer).verify(new NodeX509Certificate(caDer).publicKey);
  } catch {
    return false;
  }
}

function rejected(message: string, nonce = '<nonce>', cause?: unknown, first?: string): TrustError {
  const steps = verificationCommands(nonce).join('\n    ');
  const hint = `${first ? `${first}; ` : ''}with the CA's private key, make the verification certificate:\n    ${steps}`;
  return new TrustError('EGW_TRUST_PROOF_REJECTED', message, { hint, cause });
}

function fromRow(row: Row): PendingCaRegistration {
  return {
    caSha256: row.ca_sha256,
    subject: row.subject,
    nonce: row.nonce,
    expiresAt: new Date(row.nonce_expires_at),
    createdAt: new Date(row.created_at),
  };
}
