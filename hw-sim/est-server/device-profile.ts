import { NotStrictDerError } from '../../src/pki/der.js';
import * as x509 from '../../src/pki/x509.js';
import { extensionListsOid } from './csr-der.js';

/** The device-type extension OID from the seeds (its value is a UTF8String such as "edge-gateway"). */
export const DEFAULT_DEVICE_TYPE_OID = '1.3.6.1.4.1.12345.1.1';

const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_EXTENDED_KEY_USAGE = '2.5.29.37';

// The fixed part of the profile, encoded once: certificates are issued in a loop.
const encoded = (extension: x509.Extension) => new Uint8Array(extension.rawData);
const NOT_A_CA = encoded(new x509.BasicConstraintsExtension(false, undefined, true));
const DIGITAL_SIGNATURE = encoded(new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true));
const CLIENT_AUTH = encoded(new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false));
const CLIENT_AND_SERVER_AUTH = encoded(
  new x509.ExtendedKeyUsageExtension(
    [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth],
    false,
  ),
);

/**
 * The seeds' device certificate profile, as Extension encodings for a certificate issued from a CSR
 * whose requested extensions (Extension encodings by OID) are `requested`: CA:FALSE and
 * digitalSignature (both critical), EKU clientAuth (+ serverAuth when the CSR asks for it), and the
 * SAN and device-type extension copied from the CSR's extensionRequest. Whatever else the CSR asks for
 * (a CA flag, other usages) is not granted — the same rule as scripts/factory-ca.sh.
 */
export function deviceExtensions(
  requested: ReadonlyMap<string, Uint8Array>,
  deviceTypeOid: string,
): Uint8Array[] {
  const eku = requested.get(OID_EXTENDED_KEY_USAGE);
  const extensions: Uint8Array[] = [
    NOT_A_CA,
    DIGITAL_SIGNATURE,
    eku && asksServerAuth(eku) ? CLIENT_AND_SERVER_AUTH : CLIENT_AUTH,
  ];
  // Copied as the CSR encoded them (value and criticality).
  for (const oid of [OID_SUBJECT_ALT_NAME, deviceTypeOid]) {
    const extension = requested.get(oid);
    if (extension) extensions.push(extension);
  }
  return extensions;
}

function asksServerAuth(eku: Uint8Array): boolean {
  try {
    return extensionListsOid(eku, x509.ExtendedKeyUsage.serverAuth);
  } catch (error) {
    if (!(error instanceof NotStrictDerError)) throw error;
    return new x509.ExtendedKeyUsageExtension(eku).usages.includes(x509.ExtendedKeyUsage.serverAuth);
  }
}
