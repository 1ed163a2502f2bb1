import * as x509 from '../../src/pki/x509.js';

/** The device-type extension OID from the seeds (its value is a UTF8String such as "edge-gateway"). */
export const DEFAULT_DEVICE_TYPE_OID = '1.3.6.1.4.1.12345.1.1';

const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const OID_EXTENDED_KEY_USAGE = '2.5.29.37';

// The fixed part of the profile, encoded once: certificates are issued in a loop.
const NOT_A_CA = new x509.BasicConstraintsExtension(false, undefined, true);
const DIGITAL_SIGNATURE = new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true);
const CLIENT_AUTH = new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.clientAuth], false);
const CLIENT_AND_SERVER_AUTH = new x509.ExtendedKeyUsageExtension(
  [x509.ExtendedKeyUsage.clientAuth, x509.ExtendedKeyUsage.serverAuth],
  false,
);

/**
 * The seeds' device certificate profile, as extensions for a certificate issued from `csr`:
 * CA:FALSE and digitalSignature (both critical), EKU clientAuth (+ serverAuth when the CSR asks for
 * it), and the SAN and device-type extension copied from the CSR's extensionRequest. Whatever else the
 * CSR asks for (a CA flag, other usages) is not granted — the same rule as scripts/factory-ca.sh.
 */
export function deviceExtensions(
  csr: x509.Pkcs10CertificateRequest,
  deviceTypeOid: string,
): x509.Extension[] {
  const requested = csr.getExtension(OID_EXTENDED_KEY_USAGE);
  const eku =
    requested instanceof x509.ExtendedKeyUsageExtension || !requested
      ? requested
      : new x509.ExtendedKeyUsageExtension(requested.rawData);
  const serverAuth = eku?.usages.includes(x509.ExtendedKeyUsage.serverAuth) ?? false;
  const extensions: x509.Extension[] = [
    NOT_A_CA,
    DIGITAL_SIGNATURE,
    serverAuth ? CLIENT_AND_SERVER_AUTH : CLIENT_AUTH,
  ];
  // Copied as the CSR encoded them (value and criticality).
  for (const oid of [OID_SUBJECT_ALT_NAME, deviceTypeOid]) {
    const extension = csr.getExtension(oid);
    if (extension) extensions.push(extension);
  }
  return extensions;
}
