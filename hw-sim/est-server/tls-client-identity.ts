import { X509Certificate as NodeX509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate, TLSSocket } from 'node:tls';
import * as x509 from '../../src/pki/x509.js';

/** Who is at the other end of a TLS connection, as far as its client certificate says. */
export interface TlsClientIdentity {
  certificate: x509.X509Certificate;
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
  if (!peer?.raw) return undefined;
  const leaf = new NodeX509Certificate(peer.raw);
  const error = socket.authorizationError as unknown;
  return {
    certificate: new x509.X509Certificate(peer.raw),
    authorized: socket.authorized,
    authorizationError: error === null || error === undefined ? undefined : String(error),
    issuedBy: (issuer) => leaf.checkIssued(issuer) && leaf.verify(issuer.publicKey),
  };
}
