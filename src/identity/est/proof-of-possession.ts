import type { ChannelBinding } from '../../tls/index.js';
import type { CsrAttribute } from './est-body.js';

/**
 * identity.est.proof_of_possession: "auto" binds the CSR to the TLS channel when /csrattrs names
 * challengePassword; "always" binds it whatever the server says; "never" does not.
 */
export type ProofOfPossessionMode = 'auto' | 'always' | 'never';

export const OID_CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';

/** Whether this enrolment's CSR carries the channel binding. */
export function wantsChannelBinding(mode: ProofOfPossessionMode, wanted: readonly CsrAttribute[]): boolean {
  if (mode !== 'auto') return mode === 'always';
  return wanted.some((attribute) => attribute.oid === OID_CHALLENGE_PASSWORD);
}

/**
 * The challengePassword value that links the CSR to the TLS connection it is posted on.
 *
 * RFC 7030 §3.5: the client puts the tls-unique value (RFC 5929), base64-encoded (RFC 4648 §4), in
 * the challengePassword attribute; the server recomputes it from its side of the connection. That is
 * also what libest (the reference server answering "Proof of Possession Mismatch") compares: the
 * base64 of the first Finished message. RFC 7030 predates TLS 1.3, which has no tls-unique; RFC 9266
 * §3 makes tls-exporter the channel binding for TLS 1.3 and replaces tls-unique wherever a protocol
 * uses it, so over TLS 1.3 the same attribute carries the base64 of the 32-byte tls-exporter value.
 * Base64 fits PrintableString (A-Z a-z 0-9 + / =), the form the CSR builder writes.
 */
export function challengePasswordOf(binding: ChannelBinding): string {
  return Buffer.from(binding.value).toString('base64');
}

/** A 401/400 whose text is about proof of possession: the hint says so (not username/password). */
export function proofOfPossessionHint(status: number, body: string, bound: boolean): string | undefined {
  if (status !== 401 && status !== 400 && status !== 403) return undefined;
  if (
    !/proof[- ]of[- ]possession|\bpop\b|challenge ?password|tls-unique|tls-exporter|channel binding/i.test(
      body,
    )
  ) {
    return undefined;
  }
  return bound
    ? 'the server wants proof of possession and the TLS channel binding in the CSR did not match its own: is a TLS-terminating proxy between the gateway and the EST server? (RFC 7030 §3.5)'
    : 'the server wants proof of possession (RFC 7030 §3.5): the CSR must carry the TLS channel binding; set identity.est.proof_of_possession = "always" (or "auto", which follows /csrattrs)';
}
