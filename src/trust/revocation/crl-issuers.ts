import { pemBlocks } from '../../pki/index.js';
import type { Store } from '../../store/index.js';
import { TrustBundleStore } from '../trust-bundle-store.js';
import { TrustError } from '../trust-error.js';
import { type CertificateFacts, verifySignature } from '../validation/index.js';
import { issuerCertificate } from './issuer-certificate.js';
import { SeenIntermediates } from './seen-intermediates.js';

/** Where a candidate CRL issuer came from, for messages. */
export type CrlIssuerOrigin = 'anchor' | 'intermediate' | 'seen on a sensor path' | '--issuer-cert';

export interface CrlIssuerCandidates {
  ders: Uint8Array[];
  /** By certificate SHA-256. */
  origin: Map<string, CrlIssuerOrigin>;
}

/** How many CA certificates above the one given a chain to an anchor may have. */
const MAX_CHAIN = 8;

/**
 * The CA certificates whose CRLs `gatewayctl trust crl import` accepts for `bundle`: every CA that
 * chains to one of its trust anchors — the anchors and intermediates of the bundle, the intermediates
 * seen on validated sensor paths, and `issuerCert` (PEM or DER; a PEM file may carry the chain above
 * it) once it is shown to chain to an anchor (issuer Name, CA, signature; up to 8 CAs above it).
 */
export function crlIssuerCandidates(
  store: Store,
  bundle: string,
  issuerCert?: { bytes: Uint8Array; file: string },
): CrlIssuerCandidates {
  const origin = new Map<string, CrlIssuerOrigin>();
  const ders: Uint8Array[] = [];
  const add = (der: Uint8Array, from: CrlIssuerOrigin, sha256: string) => {
    if (origin.has(sha256)) return;
    origin.set(sha256, from);
    ders.push(der);
  };
  const bundles = new TrustBundleStore(store);
  for (const entry of bundles.list(bundle)) add(entry.der, entry.role, entry.sha256);
  if (bundle === 'sensors') {
    for (const seen of new SeenIntermediates(store).list())
      add(seen.der, 'seen on a sensor path', seen.sha256);
  }
  if (!issuerCert) return { ders, origin };

  const text = Buffer.from(issuerCert.bytes).toString('latin1');
  const blocks = text.includes('-----BEGIN CERTIFICATE-----') ? pemBlocks(text) : [issuerCert.bytes];
  const given = blocks.map((der, i) => issuerCertificate(der, `${issuerCert.file} certificate #${i + 1}`));
  const ca = given[0];
  if (!ca) {
    throw new TrustError('EGW_TRUST_MALFORMED', `${issuerCert.file}: no certificate in it`, {
      hint: 'give the issuing CA certificate in PEM or DER',
    });
  }
  const anchors = bundles.list(bundle).filter((entry) => entry.role === 'anchor');
  const pool = [...ders.map((der) => issuerCertificate(der)), ...given.slice(1)];
  let current: CertificateFacts = ca;
  for (let depth = 0; ; depth++) {
    if (current.basicConstraints?.ca !== true) {
      throw notChained(
        issuerCert.file,
        ca,
        `"${current.subject}" is not a CA certificate (basicConstraints cA)`,
      );
    }
    const here = current;
    if (anchors.some((anchor) => anchor.sha256 === here.sha256)) break;
    if (depth >= MAX_CHAIN) throw notChained(issuerCert.file, ca, `no anchor within ${MAX_CHAIN} CAs`);
    const parent = pool.find(
      (candidate) =>
        candidate !== here &&
        candidate.subjectNameKey === here.issuerNameKey && // §7.1, as path validation chains names
        verifySignature(here, candidate) === 'valid',
    );
    if (!parent) {
      throw notChained(
        issuerCert.file,
        ca,
        `no trusted or known CA certificate named "${current.issuer}" signed "${current.subject}"`,
      );
    }
    current = parent;
  }
  add(ca.der, '--issuer-cert', ca.sha256);
  return { ders, origin };
}

function notChained(file: string, ca: CertificateFacts, why: string): TrustError {
  return new TrustError(
    'EGW_TRUST_CRL_REJECTED',
    `the CA certificate in ${file} ("${ca.subject}", sha256 ${ca.sha256}) does not chain to a trust anchor: ${why}`,
    {
      hint: 'add its anchor (gatewayctl trust add), or put the intermediates between it and the anchor after it in the PEM file',
    },
  );
}
