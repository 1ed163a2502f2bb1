import { timingSafeEqual } from 'node:crypto';
import type { TLSSocket } from 'node:tls';
import { derContent } from '../../src/pki/der.js';
import { EstHttpError } from './est-http-error.js';
import type { VerifiedCsr } from './verified-csr.js';

/** required: every CSR carries this connection's binding; optional: checked when present; off. */
export type ProofOfPossessionMode = 'required' | 'optional' | 'off';

export const OID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';

/** The reason text libest answers with, so clients and operators see the same words. */
const MISMATCH = 'Proof of Possession Mismatch';

/**
 * The channel binding of a server-side connection, as the client computes it (src/tls/tls-client/
 * channel-binding.ts): TLS 1.3 → tls-exporter (RFC 9266 §2: 32 bytes, label
 * "EXPORTER-Channel-Binding", no context — the same as an empty one in TLS 1.3, RFC 8446 §7.5);
 * TLS 1.2 → tls-unique (RFC 5929 §3.1), the first Finished of the handshake: the client's in a full
 * handshake (getPeerFinished() here), ours in a resumed one (getFinished()).
 */
export function serverChannelBinding(socket: TLSSocket): { type: string; value: Buffer } | undefined {
  if (socket.getProtocol() === 'TLSv1.3') {
    return {
      type: 'tls-exporter',
      // An empty context: in TLS 1.3 exactly what "no context" gives (RFC 8446 §7.5).
      value: socket.exportKeyingMaterial(32, 'EXPORTER-Channel-Binding', Buffer.alloc(0)),
    };
  }
  const finished = socket.isSessionReused() ? socket.getFinished() : socket.getPeerFinished();
  return finished ? { type: 'tls-unique', value: finished } : undefined;
}

/** The CSR's challengePassword (a DirectoryString), or undefined when it has none. */
export function challengePasswordOf(csr: VerifiedCsr): string | undefined {
  const attribute = csr.request.getAttribute(OID_CHALLENGE_PASSWORD);
  const value = attribute?.values[0];
  if (!value) return undefined;
  const der = new Uint8Array(value);
  // PrintableString, UTF8String, TeletexString, IA5String: ASCII for a base64 value.
  if (![0x13, 0x0c, 0x14, 0x16].includes(der[0] ?? 0)) return '';
  return Buffer.from(derContent(der)).toString('utf8');
}

/**
 * RFC 7030 §3.5: the CSR's challengePassword must be the base64 of this connection's channel
 * binding, which proves the CSR was made for (and signed after) this very TLS session. Refused with
 * 401, as libest does; the reason says which part failed.
 */
export function checkProofOfPossession(
  mode: ProofOfPossessionMode,
  csr: VerifiedCsr,
  socket: TLSSocket,
): void {
  if (mode === 'off') return;
  const given = challengePasswordOf(csr);
  if (given === undefined) {
    if (mode === 'optional') return;
    throw new EstHttpError(
      401,
      `${MISMATCH}: the CSR has no challengePassword; this server requires the TLS channel binding in it (RFC 7030 §3.5)`,
    );
  }
  const binding = serverChannelBinding(socket);
  if (!binding) throw new EstHttpError(401, `${MISMATCH}: this connection has no channel binding`);
  const expected = Buffer.from(binding.value.toString('base64'));
  const actual = Buffer.from(given.trim());
  if (actual.length !== expected.length || !timingSafeEqual(actual, expected)) {
    throw new EstHttpError(
      401,
      `${MISMATCH}: the CSR's challengePassword is not the ${binding.type} binding of the connection it was posted on (RFC 7030 §3.5)`,
    );
  }
}
