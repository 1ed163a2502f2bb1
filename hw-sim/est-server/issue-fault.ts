import { generateKeyPairSync } from 'node:crypto';
import * as x509 from '../../src/pki/x509.js';
import type { IssueDerParams } from './authority.js';

/**
 * Certificates a broken or hostile EST CA might issue, for the client's checks before install:
 *   'ca-true': basicConstraints CA:TRUE instead of CA:FALSE;
 *   'other-key': for a fresh key, not the CSR's;
 *   'other-subject': CN=another-device instead of the CSR's subject;
 *   'other-san': subjectAltName DNS:another-device.example instead of the names the CSR asked for;
 *   'eku-without-client-auth': EKU serverAuth only;
 *   'expired': notAfter yesterday;  'not-yet-valid': notBefore tomorrow.
 */
export type IssueFault =
  | 'ca-true'
  | 'other-key'
  | 'other-subject'
  | 'other-san'
  | 'eku-without-client-auth'
  | 'expired'
  | 'not-yet-valid';

const OID_BASIC_CONSTRAINTS = '2.5.29.19';
const OID_EXTENDED_KEY_USAGE = '2.5.29.37';
const OID_SUBJECT_ALT_NAME = '2.5.29.17';
const DAY_MS = 86_400_000;

/** `params` (the device profile for a verified CSR) with `fault` applied. */
export function applyIssueFault(params: IssueDerParams, fault: IssueFault, now: number): IssueDerParams {
  const replace = (oid: string, extension: x509.Extension) =>
    params.extensions.map((der) =>
      new x509.Extension(der).type === oid ? new Uint8Array(extension.rawData) : der,
    );
  switch (fault) {
    case 'ca-true':
      return {
        ...params,
        extensions: replace(OID_BASIC_CONSTRAINTS, new x509.BasicConstraintsExtension(true, undefined, true)),
      };
    case 'other-key': {
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      return { ...params, spki: new Uint8Array(publicKey.export({ type: 'spki', format: 'der' })) };
    }
    case 'other-subject':
      return { ...params, subject: new Uint8Array(new x509.Name('CN=another-device').toArrayBuffer()) };
    case 'other-san': {
      const san = new x509.SubjectAlternativeNameExtension([
        { type: 'dns', value: 'another-device.example' },
      ]);
      const others = params.extensions.filter((der) => new x509.Extension(der).type !== OID_SUBJECT_ALT_NAME);
      return { ...params, extensions: [...others, new Uint8Array(san.rawData)] };
    }
    case 'eku-without-client-auth':
      return {
        ...params,
        extensions: replace(
          OID_EXTENDED_KEY_USAGE,
          new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        ),
      };
    case 'expired':
      return { ...params, notBefore: wholeSeconds(now - 2 * DAY_MS), notAfter: wholeSeconds(now - DAY_MS) };
    case 'not-yet-valid':
      return { ...params, notBefore: wholeSeconds(now + DAY_MS), notAfter: wholeSeconds(now + 30 * DAY_MS) };
  }
}

function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}
