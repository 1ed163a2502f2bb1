import { readFileSync } from 'node:fs';
import { CertificateFacts } from '../../src/trust/validation/index.js';
import type { TestCa, TestPkiDir } from './test-crl.js';

/**
 * `ca` (its key) certified again, self-signed, under `subject` (openssl -subj form): another spelling
 * of its name — case, spaces — that RFC 5280 §7.1 calls the same name, in other bytes. What it signs
 * (a leaf by `pki.leaf(…, twin)`, a CRL by `buildTestCrl({ issuer: twin })`) carries that spelling as
 * its issuer Name, signed with the CA's key.
 */
export function respelledCa(pki: TestPkiDir, ca: TestCa, name: string, subject: string): TestCa {
  pki.openssl(
    'req',
    '-x509',
    '-new',
    '-key',
    ca.keyFile,
    '-subj',
    subject,
    '-days',
    '2',
    '-out',
    `${name}.pem`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  pki.openssl('x509', '-in', `${name}.pem`, '-outform', 'DER', '-out', `${name}.der`);
  const certDer = new Uint8Array(readFileSync(pki.file(`${name}.der`)));
  return {
    ...ca,
    name,
    certFile: pki.file(`${name}.pem`),
    certPem: readFileSync(pki.file(`${name}.pem`), 'utf8'),
    certDer,
    facts: CertificateFacts.parse(certDer),
  };
}
