import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import { NotStrictDerError, strictChildren, strictSingle, TAG } from '../../src/pki/der.js';
import * as x509 from '../../src/pki/x509.js';
import { nameText } from './name-text.js';

/** Who is at the other end of a TLS connection, as far as its client certificate says. */
export interface TlsClientIdentity {
  /** The client certificate (parsed by @peculiar/x509 on first use only). */
  readonly certificate: x509.X509Certificate;
  /** Its subject, issuer and serial number as @peculiar/x509 prints them (read once per connection). */
  subject: string;
  issuer: string;
  serialNumber: string;
  /**
   * OpenSSL verified the chain to one of the server's `ca` certificates. On a resumed session this is
   * the result of the original handshake (the session keeps it; the chain itself is not resent).
   */
  authorized: boolean;
  /** OpenSSL's reason when not authorized (e.g. UNABLE_TO_GET_ISSUER_CERT_LOCALLY, CERT_HAS_EXPIRED). */
  authorizationError: string | undefined;
  /** Whether `issuer` signed this certificate (name and signature; natively, it is asked per request). */
  issuedBy(issuer: NodeX509Certificate): boolean;
}

/**
 * The client certificate of `socket`, or undefined when the client sent none. The server asks for a
 * certificate without making the handshake fail (`rejectUnauthorized: false`), so it can answer the
 * EST way — 401 for none, 403 for an untrusted one — with a message saying which. Only the leaf is
 * used: a resumed TLS session carries the peer's leaf but not the chain it sent.
 */
export function tlsClientIdentity(socket: TLSSocket): TlsClientIdentity | undefined {
  // Without a client certificate node returns an empty object, not null.
  const peer: Partial<DetailedPeerCertificate> | null = socket.getPeerCertificate(false);
  const raw = peer?.raw;
  if (!raw) return undefined;
  const error = socket.authorizationError as unknown;
  let certificate: x509.X509Certificate | undefined;
  let leaf: NodeX509Certificate | undefined;
  const parsed = () => {
    certificate ??= new x509.X509Certificate(raw);
    return certificate;
  };
  const names = certificateNames(raw) ?? {
    subject: parsed().subject,
    issuer: parsed().issuer,
    serialNumber: parsed().serialNumber,
  };
  return {
    get certificate() {
      return parsed();
    },
    ...names,
    authorized: socket.authorized,
    authorizationError: error === null || error === undefined ? undefined : String(error),
    issuedBy: (issuer) => {
      leaf ??= new NodeX509Certificate(raw);
      return leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey);
    },
  };
}

/**
 * Subject, issuer and serial of a DER certificate read directly (a per-connection ASN.1 parse costs
 * about a millisecond), printed as @peculiar/x509 prints them; undefined outside strict DER.
 */
function certificateNames(
  der: Uint8Array,
): { subject: string; issuer: string; serialNumber: string } | undefined {
  try {
    const [tbs] = strictChildren(strictSingle(der, TAG.sequence).value);
    if (!tbs || tbs.tag !== TAG.sequence) return undefined;
    const fields = strictChildren(tbs.value);
    // version [0] is absent in v1 certificates.
    const [serial, , issuer, , subject] = fields[0]?.tag === 0xa0 ? fields.slice(1) : fields;
    if (serial?.tag !== TAG.integer || issuer?.tag !== TAG.sequence || subject?.tag !== TAG.sequence) {
      return undefined;
    }
    // As @peculiar/x509: without the sign octet a high first bit needs.
    const positive = serial.value.length > 1 && serial.value[0] === 0 && (serial.value[1] ?? 0) > 0x7f;
    return {
      subject: nameText(subject.tlv),
      issuer: nameText(issuer.tlv),
      serialNumber: Buffer.from(positive ? serial.value.subarray(1) : serial.value).toString('hex'),
    };
  } catch (error) {
    if (error instanceof NotStrictDerError) return undefined;
    throw error;
  }
}
