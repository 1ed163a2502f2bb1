import { DER_TAG, type DerTlv, oidString, strictChildren } from '../../pki/index.js';
import { expectTag, integerOctets, malformed, octetAlignedBits, sequenceIn } from './der-values.js';
import { CURVES, KEY } from './oids.js';

/** The subject public key's algorithm and strength, as the algorithm policy judges it. */
export type KeyAlgorithm =
  /** `curve`: 'P-256', 'P-384', 'P-521', 'secp256k1', …, the OID of another named curve, or 'explicit'. */
  | { kind: 'ec'; curve: string }
  | { kind: 'rsa'; bits: number }
  | { kind: 'ed25519' }
  | { kind: 'other'; oid: string };

/** SubjectPublicKeyInfo ::= SEQUENCE { algorithm AlgorithmIdentifier, subjectPublicKey BIT STRING }. */
export function readKeyAlgorithm(spki: DerTlv): KeyAlgorithm {
  const [identifier, key, extra] = strictChildren(
    expectTag(spki, DER_TAG.sequence, 'subjectPublicKeyInfo').value,
  );
  if (extra !== undefined) throw malformed('subjectPublicKeyInfo has trailing elements');
  const [algorithm, parameters, more] = strictChildren(
    expectTag(identifier, DER_TAG.sequence, 'subjectPublicKeyInfo algorithm').value,
  );
  if (more !== undefined) throw malformed('subjectPublicKeyInfo algorithm has trailing elements');
  const oid = oidString(expectTag(algorithm, DER_TAG.oid, 'subjectPublicKeyInfo algorithm OID').value);
  const bits = octetAlignedBits(expectTag(key, DER_TAG.bitString, 'subjectPublicKey'), 'subjectPublicKey');
  switch (oid) {
    case KEY.ecPublicKey: {
      if (parameters?.tag === DER_TAG.sequence) return { kind: 'ec', curve: 'explicit' };
      const curve = oidString(expectTag(parameters, DER_TAG.oid, 'EC named curve').value);
      return { kind: 'ec', curve: CURVES.get(curve) ?? curve };
    }
    case KEY.rsaEncryption:
      if (parameters === undefined || parameters.tag !== 0x05 || parameters.value.length !== 0) {
        throw malformed('rsaEncryption key parameters must be NULL');
      }
      return { kind: 'rsa', bits: modulusBits(bits) };
    case KEY.rsassaPss:
      return { kind: 'rsa', bits: modulusBits(bits) };
    case KEY.ed25519:
      if (parameters !== undefined || bits.length !== 32) throw malformed('Ed25519 key is malformed');
      return { kind: 'ed25519' };
    default:
      return { kind: 'other', oid };
  }
}

/** RSAPublicKey ::= SEQUENCE { modulus INTEGER, publicExponent INTEGER }: the modulus' bit length. */
function modulusBits(key: Uint8Array): number {
  const [modulus, exponent, extra] = sequenceIn(key, 'RSA public key');
  if (exponent === undefined || extra !== undefined) throw malformed('RSA public key is malformed');
  integerOctets(exponent, 'RSA public exponent');
  let octets = integerOctets(expectTag(modulus, DER_TAG.integer, 'RSA modulus'), 'RSA modulus');
  if ((octets[0] ?? 0) >= 0x80) throw malformed('RSA modulus is negative');
  if (octets[0] === 0) octets = octets.subarray(1);
  const first = octets[0] ?? 0;
  return octets.length === 0 ? 0 : (octets.length - 1) * 8 + (32 - Math.clz32(first));
}

/** How the key reads in details: "EC P-256", "RSA 2048", "Ed25519", or the OID. */
export function keyAlgorithmText(key: KeyAlgorithm): string {
  switch (key.kind) {
    case 'ec':
      return `EC ${key.curve}`;
    case 'rsa':
      return `RSA ${key.bits}`;
    case 'ed25519':
      return 'Ed25519';
    default:
      return `key algorithm ${key.oid}`;
  }
}
