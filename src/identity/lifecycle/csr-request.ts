import type { KeyStore } from '../../keys/index.js';
import { buildCsr, type CsrProfile, type X509Attribute, type X509Certificate } from '../../pki/index.js';
import { challengePasswordOf, type EnrollOutcome, type EstClient } from '../est/index.js';

/**
 * Builds the CSR with `keys` and posts it. Bound (proof of possession, RFC 7030 §3.5): the handshake
 * comes first and the key store signs a CSR carrying that connection's channel binding, posted over
 * the same connection; unbound: the CSR is signed first and posted on a connection of its own.
 */
export async function requestCertificate(
  client: EstClient,
  operation: 'simpleenroll' | 'simplereenroll',
  keys: KeyStore,
  profile: CsrProfile,
  caCertificates: readonly X509Certificate[],
  bound: boolean,
  csr: SameRequest = {},
): Promise<{ outcome: EnrollOutcome; csrDer: Uint8Array }> {
  if (bound) {
    let csrDer: Uint8Array | undefined;
    const outcome = await client.enrollBound(
      operation,
      async (binding) => {
        csrDer = (
          await buildCsr(keys, profile, {
            challengePassword: challengePasswordOf(binding),
            attributes: csr.attributes ?? [],
          })
        ).der;
        csr.built?.(csrDer);
        return csrDer;
      },
      caCertificates,
    );
    return { outcome, csrDer: csrDer as Uint8Array };
  }
  const csrDer = csr.reuse ?? (await buildCsr(keys, profile, { attributes: csr.attributes ?? [] })).der;
  if (!csr.reuse) csr.built?.(csrDer);
  const outcome =
    operation === 'simplereenroll'
      ? await client.simplereenroll(csrDer, caCertificates)
      : await client.simpleenroll(csrDer, caCertificates);
  return { outcome, csrDer };
}

/** The request repeated after a 202 (RFC 7030 §4.2.3). */
export interface SameRequest {
  /** The CSR sent before, sent again as it is (unbound only: a bound CSR carries its connection). */
  reuse?: Uint8Array;
  /** Called with a newly built CSR before it is sent (the lifecycle persists it). */
  built?(csrDer: Uint8Array): void;
  /** Attributes a new CSR carries besides the profile (the attestation evidence). */
  attributes?: X509Attribute[];
}
