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
  /** Attributes the CSR carries besides the profile (the attestation evidence). */
  attributes: X509Attribute[] = [],
): Promise<EnrollOutcome> {
  if (bound) {
    return client.enrollBound(
      operation,
      async (binding) =>
        (await buildCsr(keys, profile, { challengePassword: challengePasswordOf(binding), attributes })).der,
      caCertificates,
    );
  }
  const csr = await buildCsr(keys, profile, { attributes });
  return operation === 'simplereenroll'
    ? client.simplereenroll(csr.der, caCertificates)
    : client.simpleenroll(csr.der, caCertificates);
}
