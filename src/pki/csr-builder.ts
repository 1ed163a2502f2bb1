import { type DigestSigner, digestSignerCrypto } from './digest-signer-crypto.js';
import * as x509 from './x509.js';

/** What goes into the gateway's CSR, from [identity.csr]. `{serial}` in names becomes the serial. */
export interface CsrProfile {
  serial: string;
  commonName: string;
  sanDns: string[];
  sanUri: string[];
  serverAuth: boolean;
  deviceType: string;
  deviceTypeOid: string;
}

/** What a CSR carries beyond the profile. */
export interface CsrExtras {
  /** PKCS#9 challengePassword (PrintableString): EST proof of possession puts the channel binding here. */
  challengePassword?: string;
  /** Further attributes, e.g. the attestation evidence (identity/attestation/). */
  attributes?: x509.Attribute[];
}

export interface BuiltCsr {
  der: Uint8Array;
  pem: string;
  subject: string;
}

const OID_COMMON_NAME = '2.5.4.3';
const OID_SERIAL_NUMBER = '2.5.4.5';

/**
 * A PKCS#10 request signed by the identity key through its KeyStore: subject CN + serialNumber,
 * SAN, KeyUsage digitalSignature, EKU clientAuth (+ serverAuth), and the device-type extension.
 */
export async function buildCsr(
  signer: DigestSigner,
  profile: CsrProfile,
  extras: CsrExtras = {},
): Promise<BuiltCsr> {
  const fill = (template: string) => template.replaceAll('{serial}', profile.serial);
  const { crypto, keys } = await digestSignerCrypto(signer);
  const names: x509.JsonGeneralName[] = [
    ...profile.sanDns.map((value) => ({ type: 'dns' as const, value: fill(value) })),
    ...profile.sanUri.map((value) => ({ type: 'url' as const, value: fill(value) })),
  ];
  const usages = [
    x509.ExtendedKeyUsage.clientAuth,
    ...(profile.serverAuth ? [x509.ExtendedKeyUsage.serverAuth] : []),
  ];
  const extensions: x509.Extension[] = [
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
    new x509.ExtendedKeyUsageExtension(usages, false),
    new x509.Extension(profile.deviceTypeOid, false, utf8String(profile.deviceType)),
  ];
  if (names.length > 0) extensions.unshift(new x509.SubjectAlternativeNameExtension(names, false));
  const csr = await x509.Pkcs10CertificateRequestGenerator.create(
    {
      name: [{ [OID_COMMON_NAME]: [fill(profile.commonName)] }, { [OID_SERIAL_NUMBER]: [profile.serial] }],
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-256' },
      extensions,
      attributes: [
        ...(extras.challengePassword !== undefined
          ? [new x509.ChallengePasswordAttribute(extras.challengePassword)]
          : []),
        ...(extras.attributes ?? []),
      ],
    },
    crypto,
  );
  return { der: new Uint8Array(csr.rawData), pem: csr.toString('pem'), subject: csr.subject };
}

/** DER UTF8String: the device-type extension's value. */
function utf8String(text: string): ArrayBuffer {
  const bytes = new TextEncoder().encode(text);
  if (bytes.length > 127) throw new Error('device type is too long (at most 127 bytes)');
  return new Uint8Array([0x0c, bytes.length, ...bytes]).buffer;
}
