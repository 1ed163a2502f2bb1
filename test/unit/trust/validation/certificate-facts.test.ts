import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  derBitString,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derTime,
  derTlv,
  readableName,
  X509Certificate,
} from '../../../../src/pki/index.js';
import {
  CertificateFacts,
  MAX_CERTIFICATE_BYTES,
  ValidationFailure,
} from '../../../../src/trust/validation/index.js';
import type { ValidationReason } from '../../../../src/trust/validation-reason.js';
import { extensionDer, nameDer, type TestCertificate, TestPki } from '../../../helpers/test-pki.js';

let pki: TestPki;
let root: TestCertificate;
let inter: TestCertificate;

beforeAll(async () => {
  pki = await TestPki.create();
  root = await pki.root({ commonName: 'Facts Root' });
  inter = await pki.intermediate(root, {
    commonName: 'Facts Intermediate',
    basicConstraints: { ca: true, pathLen: 1, critical: true },
  });
});
afterAll(() => pki.remove());

/** Parsing refuses `der` with `reason`. */
function refusalOf(der: Uint8Array): { reason: ValidationReason; detail: string } {
  try {
    CertificateFacts.parse(der);
  } catch (error) {
    if (error instanceof ValidationFailure) return error.refusal;
    throw error;
  }
  throw new Error('parsed without complaint');
}

/**
 * A structurally chosen certificate for parser tests: fields given as DER, nothing signed for real
 * (parsing does not verify signatures).
 */
function craft(fields: {
  version?: Uint8Array | null;
  serial?: Uint8Array;
  notBefore?: Uint8Array;
  extensions?: Uint8Array[] | null;
  /** Both signature algorithm fields. */
  algorithm?: Uint8Array;
  outerAlgorithm?: Uint8Array;
}): Uint8Array {
  const algorithm = fields.algorithm ?? derSequence(derOid('1.2.840.10045.4.3.2'));
  const spki = derSequence(
    derSequence(derOid('1.2.840.10045.2.1'), derOid('1.2.840.10045.3.1.7')),
    derBitString(Uint8Array.from([0x04, ...new Uint8Array(64).fill(7)])),
  );
  const name = nameDer({ commonName: 'crafted' });
  const tbs = derSequence(
    ...(fields.version === null ? [] : [derTlv(0xa0, fields.version ?? derInteger(Uint8Array.of(2)))]),
    fields.serial ?? derInteger(Uint8Array.of(1)),
    algorithm,
    name,
    derSequence(
      fields.notBefore ?? derTime(new Date('2026-01-01T00:00:00Z')),
      derTime(new Date('2027-01-01T00:00:00Z')),
    ),
    name,
    spki,
    ...(fields.extensions === null ? [] : [derTlv(0xa3, derSequence(...(fields.extensions ?? [basicCa()])))]),
  );
  return derSequence(tbs, fields.outerAlgorithm ?? algorithm, derBitString(new Uint8Array(70).fill(1)));
}

function basicCa(): Uint8Array {
  return extensionDer({
    oid: '2.5.29.19',
    critical: true,
    value: derSequence(derTlv(0x01, Uint8Array.of(0xff))),
  });
}

describe('CertificateFacts.parse', () => {
  it('reads what @peculiar/x509 reads, plus the details path validation needs', async () => {
    const sensor = await pki.sensor(inter, {
      commonName: 'sensor-7',
      serialNumber: 'SN-0007',
      dnsNames: ['sensor-7.local'],
      uris: ['urn:dev:sensor-7'],
      emails: ['ops@example.test'],
      ips: ['192.168.1.7'],
      crlDistributionPoints: ['http://crl.example.test/inter.crl'],
      deviceType: 'hygrometer',
    });
    const facts = CertificateFacts.parse(sensor.der);
    const peculiar = new X509Certificate(sensor.der);

    expect(facts.subject).toBe(readableName(peculiar.subject));
    expect(facts.subject).toBe('CN=sensor-7, serialNumber=SN-0007');
    expect(facts.issuer).toBe('CN=Facts Intermediate');
    expect(facts.serialHex).toBe(peculiar.serialNumber.toLowerCase().replace(/^0+/, ''));
    expect(facts.notBefore).toEqual(peculiar.notBefore);
    expect(facts.notAfter).toEqual(peculiar.notAfter);
    expect(facts.sha256).toBe(Buffer.from(await peculiar.getThumbprint('SHA-256')).toString('hex'));
    expect(facts.version).toBe(3);
    expect(facts.commonName).toBe('sensor-7');
    expect(facts.serialNumberAttribute).toBe('SN-0007');
    expect(facts.signatureAlgorithm).toMatchObject({
      name: 'ecdsa-with-SHA256',
      scheme: 'ecdsa',
      weak: false,
    });
    expect(facts.keyAlgorithm).toEqual({ kind: 'ec', curve: 'P-256' });
    expect(facts.basicConstraints).toEqual({ ca: false });
    expect([...(facts.keyUsage ?? [])]).toEqual(['digitalSignature']);
    expect(facts.extendedKeyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(facts.subjectKeyId).toBe(sensor.subjectKeyId);
    expect(facts.authorityKeyId).toBe(inter.subjectKeyId);
    expect(facts.subjectAltNames).toEqual([
      { type: 'email', value: 'ops@example.test' },
      { type: 'dns', value: 'sensor-7.local' },
      { type: 'uri', value: 'urn:dev:sensor-7' },
      { type: 'ip', value: '192.168.1.7' },
    ]);
    expect(facts.crlDistributionPoints).toEqual(['http://crl.example.test/inter.crl']);
    expect(facts.extensionValue('1.3.6.1.4.1.12345.1.1')).toEqual(derTlv(0x0c, Buffer.from('hygrometer')));
    expect(facts.extensionValue('1.2.3.4')).toBeUndefined();
    expect(facts.criticalExtensionOids).toEqual(['2.5.29.15']);
    expect(facts.selfIssued).toBe(false);
    expect(facts.publicKey.asymmetricKeyType).toBe('ec');
    expect(Buffer.from(facts.spki)).toEqual(sensor.keyPair.publicKey.export({ type: 'spki', format: 'der' }));
  });

  it('reads CA constraints, self-issued roots, and the tbsCertificate and signature verbatim', () => {
    const facts = CertificateFacts.parse(inter.der);
    expect(facts.basicConstraints).toEqual({ ca: true, pathLen: 1 });
    expect([...(facts.keyUsage ?? [])].sort()).toEqual(['cRLSign', 'keyCertSign']);
    const rootFacts = CertificateFacts.parse(root.der);
    expect(rootFacts.selfIssued).toBe(true);
    expect(rootFacts.issuerNameSha256).toBe(rootFacts.subjectNameSha256);
    expect(facts.issuerNameSha256).toBe(rootFacts.subjectNameSha256);
    expect(Buffer.from(inter.der).subarray(4, 4 + facts.tbs.length)).toEqual(Buffer.from(facts.tbs));
    expect(Buffer.from(inter.der).subarray(-facts.signature.length)).toEqual(Buffer.from(facts.signature));
  });

  it('names every key algorithm and its strength', async () => {
    const cases = [
      ['P-384', { kind: 'ec', curve: 'P-384' }],
      ['P-521', { kind: 'ec', curve: 'P-521' }],
      ['secp256k1', { kind: 'ec', curve: 'secp256k1' }],
      ['rsa1024', { kind: 'rsa', bits: 1024 }],
      ['rsa2048', { kind: 'rsa', bits: 2048 }],
      ['ed25519', { kind: 'ed25519' }],
    ] as const;
    for (const [key, expected] of cases) {
      const facts = CertificateFacts.parse((await pki.sensor(root, { key })).der);
      expect(facts.keyAlgorithm).toEqual(expected);
    }
  });

  it('names signature algorithms and marks MD5 and SHA-1 weak', async () => {
    const rsa = await pki.intermediate(root, { key: 'rsa2048' });
    const ed = await pki.root({ key: 'ed25519' });
    const expectations = [
      [await pki.sensor(inter, { digest: 'sha1' }), 'ecdsa-with-SHA1', true],
      [await pki.sensor(inter, { digest: 'sha384' }), 'ecdsa-with-SHA384', false],
      [await pki.sensor(rsa, { digest: 'md5' }), 'md5WithRSAEncryption', true],
      [await pki.sensor(rsa, { digest: 'sha512' }), 'sha512WithRSAEncryption', false],
      [await pki.sensor(rsa, { rsaPss: true, digest: 'sha384' }), 'RSASSA-PSS/sha384', false],
      [await pki.sensor(ed), 'Ed25519', false],
    ] as const;
    for (const [certificate, name, weak] of expectations) {
      expect(CertificateFacts.parse(certificate.der).signatureAlgorithm).toMatchObject({ name, weak });
    }
    expect(CertificateFacts.parse(expectations[4][0].der).signatureAlgorithm.saltLength).toBe(48);
  });

  it('prints names as readableName(@peculiar/x509) does: RDN order, escaping, multi-valued RDNs', async () => {
    const rdn = (oid: string, tag: number, text: string) =>
      derSequence(derOid(oid), derTlv(tag, Buffer.from(text)));
    const subjectDer = derSequence(
      derTlv(0x31, rdn('2.5.4.6', 0x13, 'DE')),
      derTlv(0x31, rdn('2.5.4.10', 0x0c, 'Acme, Inc.')),
      derTlv(0x31, rdn('2.5.4.11', 0x0c, 'Plant 7'), rdn('2.5.4.3', 0x0c, '#sensor+1')),
      derTlv(0x31, rdn('2.5.4.5', 0x13, '0042')),
    );
    const certificate = await pki.sensor(root, { subjectDer });
    const facts = CertificateFacts.parse(certificate.der);
    expect(facts.subject).toBe(readableName(new X509Certificate(certificate.der).subject));
    expect(facts.subject).toBe('C=DE, O=Acme\\, Inc., OU=Plant 7+CN=\\#sensor\\+1, serialNumber=0042');
    expect(facts.commonName).toBe('#sensor+1');
  });

  it('keeps the serial as content octets and prints it without leading zeros', async () => {
    const high = CertificateFacts.parse(
      (await pki.sensor(root, { serial: Uint8Array.of(0x00, 0x80, 0x01) })).der,
    );
    expect(Buffer.from(high.serial).toString('hex')).toBe('008001');
    expect(high.serialHex).toBe('8001');
    expect(CertificateFacts.parse((await pki.sensor(root, { serial: Uint8Array.of(0) })).der).serialHex).toBe(
      '0',
    );
  });

  it('copies its input: changing the caller’s buffer afterwards changes nothing', () => {
    const buffer = Uint8Array.from(inter.der);
    const facts = CertificateFacts.parse(buffer);
    buffer.fill(0);
    expect(Buffer.from(facts.der)).toEqual(Buffer.from(inter.der));
    expect(facts.subject).toBe('CN=Facts Intermediate');
  });

  it('parses a crafted certificate (the helper used below is sound)', () => {
    expect(CertificateFacts.parse(craft({})).subject).toBe('CN=crafted');
  });

  it('refuses certificates larger than 16 KB before parsing them', async () => {
    const big = await pki.sensor(root, {
      dnsNames: Array.from({ length: 700 }, (_, i) => `n${i}.some-long-domain.example`),
    });
    expect(big.der.length).toBeGreaterThan(MAX_CERTIFICATE_BYTES);
    expect(refusalOf(big.der).reason).toBe('oversized');
    expect(refusalOf(new Uint8Array(MAX_CERTIFICATE_BYTES + 1)).reason).toBe('oversized');
  });

  it('refuses a duplicate extension', async () => {
    const twice = await pki.sensor(root, {
      extraExtensions: [{ oid: '2.5.29.19', critical: true, value: derSequence() }],
    });
    const refusal = refusalOf(twice.der);
    expect(refusal.reason).toBe('duplicate-extension');
    expect(refusal.detail).toContain('2.5.29.19 (basicConstraints)');
  });

  it.each([
    ['empty input', 'truncated DER', () => new Uint8Array()],
    ['not DER', 'truncated DER', () => Uint8Array.from(Buffer.from('hello, certificate'))],
    ['truncated', 'truncated DER', () => inter.der.subarray(0, inter.der.length - 1)],
    ['trailing bytes', 'expected one element', () => Uint8Array.from([...inter.der, 0])],
    [
      'non-minimal length',
      'non-minimal DER length',
      () => Uint8Array.from([0x30, 0x83, 0x00, ...inter.der.subarray(2)]),
    ],
    [
      'explicit v1 version (a DEFAULT)',
      'v1 is encoded explicitly',
      () => craft({ version: derInteger(Uint8Array.of(0)), extensions: null }),
    ],
    [
      'unknown version 4',
      'unknown certificate version 4',
      () => craft({ version: derInteger(Uint8Array.of(3)) }),
    ],
    ['extensions in a v1 certificate', 'version 1 certificate cannot have', () => craft({ version: null })],
    [
      'non-minimal serial INTEGER',
      'serialNumber is a non-minimal INTEGER',
      () => craft({ serial: derInteger(Uint8Array.of(0, 1)) }),
    ],
    [
      'an explicit critical FALSE',
      'DEFAULT FALSE BOOLEAN must be omitted',
      () =>
        craft({
          extensions: [
            derSequence(derOid('2.5.29.19'), derTlv(0x01, Uint8Array.of(0)), derOctetString(derSequence())),
          ],
        }),
    ],
    ['an empty extensions list', 'present but empty', () => craft({ extensions: [] })],
    [
      'a malformed basicConstraints',
      '(basicConstraints)',
      () => craft({ extensions: [extensionDer({ oid: '2.5.29.19', value: Uint8Array.of(5, 0) })] }),
    ],
    [
      'a malformed keyUsage',
      '(keyUsage) is not a valid BIT STRING',
      () => craft({ extensions: [extensionDer({ oid: '2.5.29.15', value: Uint8Array.of(3, 1, 8) })] }),
    ],
    [
      'an unknown GeneralName tag in subjectAltName',
      'GeneralName with tag 0x89',
      () =>
        craft({
          extensions: [
            extensionDer({ oid: '2.5.29.17', value: derSequence(derTlv(0x89, Uint8Array.of(1))) }),
          ],
        }),
    ],
    [
      'UTCTime without seconds',
      'with seconds and Z',
      () => craft({ notBefore: derTlv(0x17, Buffer.from('2601010000Z')) }),
    ],
    [
      'a date that does not exist',
      'not a valid date',
      () => craft({ notBefore: derTlv(0x17, Buffer.from('260230000000Z')) }),
    ],
    [
      'GeneralizedTime with fractions',
      'with seconds and Z',
      () => craft({ notBefore: derTlv(0x18, Buffer.from('20260101000000.5Z')) }),
    ],
    [
      'outer and inner signature algorithms differ',
      'differs from the signature field',
      () => craft({ outerAlgorithm: derSequence(derOid('1.2.840.10045.4.3.3')) }),
    ],
    [
      'ECDSA with parameters',
      'ECDSA with parameters',
      () => craft({ algorithm: derSequence(derOid('1.2.840.10045.4.3.2'), derTlv(0x05)) }),
    ],
  ])('refuses %s as malformed (%s)', (_name, detail, make) => {
    const refusal = refusalOf(make());
    expect(refusal.reason).toBe('malformed');
    expect(refusal.detail).toContain(detail);
  });
});
