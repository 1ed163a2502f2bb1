import { DER_TAG, type DerTlv, oidString, strictChildren } from '../../pki/index.js';
import { expectTag, malformed, smallInteger } from './der-values.js';
import { DIGESTS, MGF1 } from './oids.js';

/** How a certificate is signed, as far as verifying it with node:crypto needs to know. */
export interface SignatureAlgorithm {
  oid: string;
  /** The usual name ("ecdsa-with-SHA256", "sha256WithRSAEncryption", "RSASSA-PSS/sha256", "Ed25519"), else the OID. */
  name: string;
  /** 'other': known to exist but not verified here (DSA, PSS with a different MGF1 digest), or unknown. */
  scheme: 'ecdsa' | 'rsa-pkcs1' | 'rsa-pss' | 'ed25519' | 'other';
  /** node:crypto digest name; undefined for Ed25519 and unknown algorithms. */
  digest: string | undefined;
  /** MD2/MD4/MD5/SHA-1: collisions are practical, refused as 'weak-signature-algorithm'. */
  weak: boolean;
  /** RSASSA-PSS salt length. */
  saltLength?: number;
}

const WEAK_DIGESTS = new Set(['md2', 'md4', 'md5', 'sha1']);

const ECDSA: Record<string, string> = {
  '1.2.840.10045.4.1': 'sha1',
  '1.2.840.10045.4.3.1': 'sha224',
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
  '1.2.840.10045.4.3.4': 'sha512',
};

const RSA_PKCS1: Record<string, string> = {
  '1.2.840.113549.1.1.2': 'md2',
  '1.2.840.113549.1.1.3': 'md4',
  '1.2.840.113549.1.1.4': 'md5',
  '1.2.840.113549.1.1.5': 'sha1',
  '1.2.840.113549.1.1.14': 'sha224',
  '1.2.840.113549.1.1.11': 'sha256',
  '1.2.840.113549.1.1.12': 'sha384',
  '1.2.840.113549.1.1.13': 'sha512',
};

const RSASSA_PSS = '1.2.840.113549.1.1.10';
const ED25519 = '1.3.101.112';
const DSA_WITH_SHA1 = '1.2.840.10040.4.3';

/** AlgorithmIdentifier of a signature; parameters that contradict the algorithm are 'malformed'. */
export function readSignatureAlgorithm(identifier: DerTlv, where: string): SignatureAlgorithm {
  const [algorithm, parameters, extra] = strictChildren(expectTag(identifier, DER_TAG.sequence, where).value);
  const oid = oidString(expectTag(algorithm, DER_TAG.oid, `${where} OID`).value);
  if (extra !== undefined) throw malformed(`${where} has trailing elements`);
  const ecdsaDigest = ECDSA[oid];
  if (ecdsaDigest !== undefined) {
    // RFC 5758 §3.2: the parameters field MUST be absent.
    if (parameters !== undefined) throw malformed(`${where}: ECDSA with parameters`);
    return named(oid, `ecdsa-with-${ecdsaDigest.toUpperCase()}`, 'ecdsa', ecdsaDigest);
  }
  const rsaDigest = RSA_PKCS1[oid];
  if (rsaDigest !== undefined) {
    // RFC 4055 §5: NULL; absent parameters are a common-enough encoder quirk to accept.
    if (parameters !== undefined && (parameters.tag !== 0x05 || parameters.value.length !== 0)) {
      throw malformed(`${where}: RSA PKCS#1 v1.5 parameters must be NULL`);
    }
    return named(oid, `${rsaDigest}WithRSAEncryption`, 'rsa-pkcs1', rsaDigest);
  }
  if (oid === ED25519) {
    if (parameters !== undefined) throw malformed(`${where}: Ed25519 with parameters`);
    return named(oid, 'Ed25519', 'ed25519', undefined);
  }
  if (oid === RSASSA_PSS) return readPss(oid, parameters, where);
  if (oid === DSA_WITH_SHA1)
    return { oid, name: 'dsa-with-SHA1', scheme: 'other', digest: 'sha1', weak: true };
  return { oid, name: oid, scheme: 'other', digest: undefined, weak: false };
}

function named(
  oid: string,
  name: string,
  scheme: SignatureAlgorithm['scheme'],
  digest: string | undefined,
): SignatureAlgorithm {
  return { oid, name, scheme, digest, weak: digest !== undefined && WEAK_DIGESTS.has(digest) };
}

/** RFC 4055 RSASSA-PSS-params; node:crypto's MGF1 always uses the message digest. */
function readPss(oid: string, parameters: DerTlv | undefined, where: string): SignatureAlgorithm {
  const fields = strictChildren(
    expectTag(parameters, DER_TAG.sequence, `${where} RSASSA-PSS parameters`).value,
  );
  let digest = 'sha1';
  let mgfDigest = 'sha1';
  let saltLength = 20;
  let lastTag = 0;
  for (const field of fields) {
    if (field.tag <= lastTag) throw malformed(`${where}: RSASSA-PSS parameters out of order`);
    lastTag = field.tag;
    const [inner, extra] = strictChildren(field.value);
    if (inner === undefined || extra !== undefined) throw malformed(`${where}: RSASSA-PSS field malformed`);
    if (field.tag === 0xa0) digest = digestOf(inner, where);
    else if (field.tag === 0xa1) {
      const [mgf, hash] = strictChildren(expectTag(inner, DER_TAG.sequence, `${where} MGF`).value);
      if (oidString(expectTag(mgf, DER_TAG.oid, `${where} MGF`).value) !== MGF1) {
        return { oid, name: 'RSASSA-PSS (not MGF1)', scheme: 'other', digest: undefined, weak: false };
      }
      mgfDigest = digestOf(expectTag(hash, DER_TAG.sequence, `${where} MGF1 digest`), where);
    } else if (field.tag === 0xa2) saltLength = smallInteger(inner, `${where} saltLength`);
    else if (field.tag === 0xa3) {
      if (smallInteger(inner, `${where} trailerField`) !== 1)
        throw malformed(`${where}: trailerField is not 1`);
    } else throw malformed(`${where}: unknown RSASSA-PSS field`);
  }
  if (mgfDigest !== digest) {
    return { oid, name: `RSASSA-PSS/${digest}/MGF1-${mgfDigest}`, scheme: 'other', digest, weak: false };
  }
  return { ...named(oid, `RSASSA-PSS/${digest}`, 'rsa-pss', digest), saltLength };
}

function digestOf(identifier: DerTlv, where: string): string {
  const [algorithm, parameters] = strictChildren(
    expectTag(identifier, DER_TAG.sequence, `${where} digest`).value,
  );
  const oid = oidString(expectTag(algorithm, DER_TAG.oid, `${where} digest OID`).value);
  if (parameters !== undefined && (parameters.tag !== 0x05 || parameters.value.length !== 0)) {
    throw malformed(`${where}: digest parameters must be NULL or absent`);
  }
  return DIGESTS.get(oid) ?? oid;
}
