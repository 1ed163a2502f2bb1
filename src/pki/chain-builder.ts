import type { X509Certificate } from './x509.js';

/** A certification path found by buildChain, leaf first. */
export interface BuiltChain {
  /** Leaf, then each issuer found in the pool, each checked by its signature. */
  certificates: X509Certificate[];
  /** True when the path ends in a self-signed certificate (a root) from the pool. */
  complete: boolean;
}

const MAX_DEPTH = 8;

/**
 * Walks from `leaf` to a root through `pool` by issuer name and signature. Why: EST servers may answer
 * /simpleenroll with the leaf alone and /cacerts with the root and intermediates in any order (RFC 7030
 * §4.1.3): the client puts the chain together itself. Validity and policy are not judged here.
 */
export async function buildChain(
  leaf: X509Certificate,
  pool: readonly X509Certificate[],
): Promise<BuiltChain> {
  const certificates = [leaf];
  let current = leaf;
  while (certificates.length <= MAX_DEPTH) {
    if (current.subject === current.issuer && (await signedBy(current, current))) {
      return { certificates, complete: true };
    }
    let issuer: X509Certificate | undefined;
    for (const candidate of pool) {
      if (candidate.subject !== current.issuer || certificates.some((seen) => seen.equal(candidate)))
        continue;
      if (await signedBy(current, candidate)) {
        issuer = candidate;
        break;
      }
    }
    if (!issuer) return { certificates, complete: false };
    certificates.push(issuer);
    current = issuer;
  }
  return { certificates, complete: false };
}

async function signedBy(subject: X509Certificate, issuer: X509Certificate): Promise<boolean> {
  try {
    return await subject.verify({ publicKey: issuer.publicKey, signatureOnly: true });
  } catch {
    return false;
  }
}
