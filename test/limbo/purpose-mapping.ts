import { AnchorIndex, CertificateFacts, ValidationFailure } from '../../src/trust/validation/index.js';

const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';

/**
 * The validator knows one purpose: a sensor's leaf must carry clientAuth. A SERVER case asks for
 * serverAuth instead. Rather than skip those (nearly all of limbo), the leaf is shown to the validator
 * with serverAuth and clientAuth swapped in its extendedKeyUsage, and nothing else changed (its bytes,
 * signature, keyUsage, basicConstraints are the real ones): "carries serverAuth" is then judged by the
 * very check that judges "carries clientAuth", and a leaf with only clientAuth fails it as it should.
 *
 * The validator finds a presented certificate already parsed through `AnchorIndex.known` (its own
 * caches are empty in a fresh validator), which is where the relabelled leaf is handed over; path
 * building (anchorsNamed, intermediatesNamed, withKeyId) is the index's own.
 */
export class ServerPurposeAnchors extends AnchorIndex {
  readonly #leaf: CertificateFacts | undefined;

  constructor(anchors: readonly Uint8Array[], leafDer: Uint8Array) {
    super(anchors);
    this.#leaf = relabelled(leafDer);
  }

  override known(sha256: string): CertificateFacts | undefined {
    return this.#leaf !== undefined && sha256 === this.#leaf.sha256 ? this.#leaf : super.known(sha256);
  }
}

/** A view of the parsed leaf with the two purposes swapped; undefined when it does not parse (the validator says why). */
function relabelled(der: Uint8Array): CertificateFacts | undefined {
  let leaf: CertificateFacts;
  try {
    leaf = CertificateFacts.parse(der);
  } catch (error) {
    if (error instanceof ValidationFailure) return undefined;
    throw error;
  }
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
