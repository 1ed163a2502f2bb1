import { Pkcs10CertificateRequest, sameBytes, X509Certificate } from '../../pki/index.js';
import { EstError } from './est-error.js';

/** [identity.est] issued_names: "csr" (CN as asked, SAN names among those asked) or "any". */
export type IssuedNamesRule = 'csr' | 'any';

export interface IssuedCertificateCheck {
  /** The chain the client built, leaf first (see EstClient). */
  chain: readonly X509Certificate[];
  /** The PKCS#10 request the certificate answers, DER. */
  csrDer: Uint8Array;
  /** SubjectPublicKeyInfo DER of the key the request was for. */
  publicKey: Uint8Array;
  /**
   * Where the chain may end: the EST trust anchor(s) and the /cacerts certificates fetched over a
   * connection authenticated by them (RFC 7030 §4.1.3), DER or parsed.
   */
  anchors: readonly (Uint8Array | X509Certificate)[];
  /** The time validity is judged at (the lifecycle's clock floor), and whether the clock is behind it. */
  now: Date;
  clockBehind: boolean;
  names: IssuedNamesRule;
}

const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXTENDED_KEY_USAGE = '2.5.29.37';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_COMMON_NAME = '2.5.4.3';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
const ANY_EXTENDED_KEY_USAGE = '2.5.29.37.0';
/** Tolerated clock difference with the CA for notBefore. */
const NOT_BEFORE_SKEW_MS = 10 * 60_000;
const KEEP = 'the gateway keeps its current identity and retries';

/**
 * What an issued certificate must be before the gateway installs it as its identity: an end entity,
 * for the key we asked for, named as we asked, usable as a TLS client, chained to the EST trust
 * anchor, and valid now. Throws EGW_EST_BAD_CERTIFICATE naming the first thing wrong.
 */
export function checkIssuedCertificate(check: IssuedCertificateCheck): void {
  const leaf = check.chain[0];
  if (!leaf) throw refused('the EST answer holds no certificate', 'check the EST server');
  const what = `the issued certificate ${leaf.serialNumber}`;
  const constraints = leaf.getExtension(OID_BASIC_CONSTRAINTS) as { ca?: boolean } | null;
  if (constraints?.ca === true) {
    throw refused(
      `${what} is a CA certificate (basicConstraints CA:TRUE), not an end entity`,
      `the EST CA's device profile is wrong: ${KEEP}`,
    );
  }
  if (!sameBytes(new Uint8Array(leaf.publicKey.rawData), check.publicKey)) {
    throw refused(`${what} is not for this gateway's key`, `the EST server mixed up requests: ${KEEP}`);
  }
  if (check.names === 'csr') checkNames(leaf, new Pkcs10CertificateRequest(check.csrDer), what);
  const eku = leaf.getExtension(OID_EXTENDED_KEY_USAGE) as { usages?: string[] } | null;
  if (eku && !(eku.usages ?? []).some((usage) => usage === CLIENT_AUTH || usage === ANY_EXTENDED_KEY_USAGE)) {
    throw refused(
      `${what} has an extended key usage without clientAuth (${(eku.usages ?? []).join(', ')}): it cannot authenticate the gateway`,
      `configure the EST CA profile with EKU clientAuth (or none): ${KEEP}`,
    );
  }
  checkAnchored(check, what);
  checkValidity(check);
}

/** CN as the request asked (a CA may add attributes) and no SAN name the request did not ask for. */
function checkNames(leaf: X509Certificate, csr: Pkcs10CertificateRequest, what: string): void {
  const asked = csr.subjectName.getField(OID_COMMON_NAME);
  const got = leaf.subjectName.getField(OID_COMMON_NAME);
  if (asked.join('\n') !== got.join('\n')) {
    throw refused(
      `${what} is for subject "${leaf.subject}", not the CN the request asked for (${asked.join(', ') || 'none'})`,
      `the EST server issued for another name; identity.est.issued_names = "any" accepts a CA that renames devices: ${KEEP}`,
    );
  }
  const askedNames = new Set(sanNames(csr.getExtension(OID_SUBJECT_ALT_NAME)));
  const foreign = sanNames(leaf.getExtension(OID_SUBJECT_ALT_NAME)).filter((name) => !askedNames.has(name));
  if (foreign.length > 0) {
    throw refused(
      `${what} names ${foreign.join(', ')} in its subjectAltName, which the request did not ask for`,
      `identity.est.issued_names = "any" accepts a CA that sets its own names: ${KEEP}`,
    );
  }
}

function sanNames(extension: unknown): string[] {
  const names = (extension as { names?: { toJSON(): { type: string; value: string }[] } } | null)?.names;
  return names ? names.toJSON().map((name) => `${name.type}:${name.value}`) : [];
}

/** The chain ends at one of the anchors (byte for byte), not at a root the answer brought along. */
function checkAnchored(check: IssuedCertificateCheck, what: string): void {
  const top = check.chain[check.chain.length - 1] as X509Certificate;
  const raw = new Uint8Array(top.rawData);
  const anchored = check.anchors.some((anchor) =>
    sameBytes(anchor instanceof X509Certificate ? new Uint8Array(anchor.rawData) : anchor, raw),
  );
  if (!anchored) {
    throw refused(
      `${what} chains to "${top.subject}", which is neither the EST trust anchor nor a CA from /cacerts`,
      `the server issued from a CA it does not publish: ${KEEP}`,
    );
  }
}

/** Every certificate of the chain valid at the clock floor (an expired issuing CA too). */
function checkValidity(check: IssuedCertificateCheck): void {
  const now = check.now;
  for (const [index, member] of check.chain.entries()) {
    const what = index === 0 ? `the issued certificate ${member.serialNumber}` : `its CA "${member.subject}"`;
    if (member.notAfter <= now) {
      throw refused(
        `${what} expired at ${member.notAfter.toISOString()}`,
        `the EST server issues expired certificates or from an expired CA: ${KEEP}`,
      );
    }
    // Behind the clock floor we cannot tell "not yet valid" from "our clock is wrong": never refuse for it.
    if (!check.clockBehind && member.notBefore.getTime() > now.getTime() + NOT_BEFORE_SKEW_MS) {
      throw refused(
        `${what} is not valid before ${member.notBefore.toISOString()}`,
        'check the gateway clock (NTP) and the EST CA clock',
      );
    }
  }
}

function refused(message: string, hint: string): EstError {
  return new EstError('EGW_EST_BAD_CERTIFICATE', message, { hint });
}
