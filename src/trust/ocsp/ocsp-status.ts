/** A verified OCSP answer about one certificate, as the client returns and caches it. */
export interface OcspStatus {
  status: 'good' | 'revoked' | 'unknown';
  thisUpdate: Date;
  /** When the responder signed the answer (verified): evidence of the time for the clock floor. */
  producedAt?: Date;
  /**
   * Until when the answer holds, and so may be used offline. Undefined when the responder promises
   * nothing (RFC 6960 §4.2.2.1: newer information is always available): such an answer is not cached.
   */
  nextUpdate: Date | undefined;
  /** For 'revoked'. */
  revokedAt?: Date;
  /** CRLReason code (RFC 5280 §5.3.1: 1 keyCompromise, 2 cACompromise, …), when the responder gives one. */
  reason?: number;
}
