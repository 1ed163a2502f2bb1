import { AnchorIndex, CertificateFacts, ValidationFailure } from '../../src/trust/validation/index.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * The validator knows one purpose: a sensor's leaf must carry clientAuth, and every CA above it whose
 * extendedKeyUsage is present must allow clientAuth (EKU chaining). A SERVER case asks for serverAuth
 * instead. Rather than skip those (nearly all of limbo), every certificate of the case (leaf,
 * presented intermediates, anchors) is shown to the validator with serverAuth and clientAuth swapped
 * in its extendedKeyUsage, and nothing else changed (its bytes, signature, keyUsage, basicConstraints
 * are the real ones): "carries serverAuth" is then judged by the very checks that judge "carries
 * clientAuth", and a leaf or CA with only clientAuth fails them as it should.
 *
 * The validator finds a presented certificate already parsed through `AnchorIndex.known` (its own
 * caches are empty in a fresh validator), which is where the relabelled ones are handed over; the
 * index's lookups (anchorsNamed, intermediatesNamed, withKeyId) hand out relabelled anchors.
 */
export class ServerPurposeAnchors extends AnchorIndex {
  readonly #relabelled = new Map<string, CertificateFacts>();

  constructor(anchors: readonly Uint8Array[], presented: readonly Uint8Array[]) {
    super(anchors);
    for (const der of presented) {
      const view = relabelled(der);
      if (view !== undefined) this.#relabelled.set(view.sha256, view);
    }
    for (const anchor of this.anchors) {
      this.#relabelled.set(anchor.sha256, relabelledFacts(anchor));
    }
  }

  override known(sha256: string): CertificateFacts | undefined {
    return this.#relabelled.get(sha256) ?? super.known(sha256);
  }

  override anchorsNamed(subjectNameSha256: string): readonly CertificateFacts[] {
    return super.anchorsNamed(subjectNameSha256).map((anchor) => this.#view(anchor));
  }

  override intermediatesNamed(subjectNameSha256: string): readonly CertificateFacts[] {
    return super.intermediatesNamed(subjectNameSha256).map((certificate) => this.#view(certificate));
  }

  override withKeyId(keyId: string): readonly CertificateFacts[] {
    return super.withKeyId(keyId).map((certificate) => this.#view(certificate));
  }

  #view(certificate: CertificateFacts): CertificateFacts {
    return this.#relabelled.get(certificate.sha256) ?? certificate;
  }
}

/** A view of the parsed certificate with the two purposes swapped; undefined when it does not parse (the validator says why). */
function relabelled(der: Uint8Array): CertificateFacts | undefined {
  try {
    return relabelledFacts(CertificateFacts.parse(der));
  } catch (error) {
    if (error instanceof ValidationFailure) return undefined;
    throw error;
  }
}

function relabelledFacts(leaf: CertificateFacts): CertificateFacts {
  const swapped = leaf.extendedKeyUsage?.map((oid) =>
    oid === SERVER_AUTH ? CLIENT_AUTH : oid === CLIENT_AUTH ? SERVER_AUTH : oid,
  );
  // The parsed certificate is frozen: an object inheriting from it carries the one different field
  // (and reaches the key through the original, whose private cache the getter needs).
  return Object.create(leaf, {
    extendedKeyUsage: { value: swapped === undefined ? undefined : Object.freeze(swapped), enumerable: true },
    publicKey: { get: () => leaf.publicKey },
  }) as CertificateFacts;
}
