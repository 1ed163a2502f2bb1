import type { CsrAttribute } from './est-body.js';

/** What the gateway does with each attribute /csrattrs asked for (RFC 7030 §4.5). */
export interface CsrAttributesVerdict {
  /** Asked for and in our CSR. */
  honoured: string[];
  /** Asked for, not understood or not applicable: the CSR goes without (logged). */
  ignored: string[];
  /** Asked for and impossible with this gateway's key (another curve, hash or algorithm). */
  impossible: string[];
}

const OID = {
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ecdsaWithSha384: '1.2.840.10045.4.3.3',
  ecdsaWithSha512: '1.2.840.10045.4.3.4',
  ecPublicKey: '1.2.840.10045.2.1',
  secp256r1: '1.2.840.10045.3.1.7',
  rsaEncryption: '1.2.840.113549.1.1.1',
  challengePassword: '1.2.840.113549.1.9.7',
  extensionRequest: '1.2.840.113549.1.9.14',
  serialNumber: '2.5.4.5',
  commonName: '2.5.4.3',
  subjectAltName: '2.5.29.17',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
} as const;

const NAMES: Record<string, string> = Object.fromEntries(
  Object.entries(OID).map(([name, oid]) => [oid, name]),
);

/**
 * Judges /csrattrs against what our CSR carries: an ECDSA P-256 key signing with SHA-256, CN and
 * serialNumber, SAN, keyUsage, extendedKeyUsage and the device-type extension. A challengePassword is
 * never invented: it carries the TLS channel binding when the CSR is bound (RFC 7030 §3.5), else none.
 */
export function judgeCsrAttributes(
  wanted: readonly CsrAttribute[],
  deviceTypeOid: string,
  options: { channelBinding?: boolean } = {},
): CsrAttributesVerdict {
  const verdict: CsrAttributesVerdict = { honoured: [], ignored: [], impossible: [] };
  const name = (oid: string) => (oid === deviceTypeOid ? `deviceType(${oid})` : (NAMES[oid] ?? oid));
  const inOurCsr = new Set<string>([
    OID.ecdsaWithSha256,
    OID.serialNumber,
    OID.commonName,
    OID.subjectAltName,
    OID.keyUsage,
    OID.extKeyUsage,
    deviceTypeOid,
  ]);
  // The channel binding of the connection that posts the CSR (proof-of-possession.ts).
  if (options.channelBinding) inOurCsr.add(OID.challengePassword);
  for (const attribute of wanted) {
    const { oid, values } = attribute;
    if (oid === OID.ecPublicKey) {
      const curves = values.length === 0 ? [OID.secp256r1] : values;
      if (curves.includes(OID.secp256r1)) verdict.honoured.push('ecPublicKey(secp256r1)');
      else verdict.impossible.push(`ecPublicKey on ${curves.map(name).join(', ')} (this key is P-256)`);
    } else if (oid === OID.ecdsaWithSha384 || oid === OID.ecdsaWithSha512 || oid === OID.rsaEncryption) {
      verdict.impossible.push(`${name(oid)} (this key signs ECDSA P-256 with SHA-256)`);
    } else if (oid === OID.extensionRequest) {
      for (const value of values)
        (inOurCsr.has(value) ? verdict.honoured : verdict.ignored).push(name(value));
    } else if (inOurCsr.has(oid)) {
      verdict.honoured.push(name(oid));
    } else {
      verdict.ignored.push(name(oid));
    }
  }
  return verdict;
}
