import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derOid, derSequence, derTlv } from '../../../../src/pki/index.js';
import { Crl, type CrlEntry } from '../../../../src/trust/revocation/index.js';
import { TrustError } from '../../../../src/trust/trust-error.js';
import {
  buildTestCrl,
  type CrlCorruption,
  corruptCrl,
  crlPem,
  integerOctets,
  type TestCa,
  TestPkiDir,
  testExtension,
} from '../../../helpers/test-crl.js';

const thisUpdate = new Date('2026-11-20T10:00:00Z');
const nextUpdate = new Date('2026-11-27T10:00:00Z');
const revokedAt = new Date('2026-11-19T08:30:00Z');

let pki: TestPkiDir;
let ca: TestCa;
let other: TestCa;
beforeAll(() => {
  pki = new TestPkiDir();
  ca = pki.ca('ca', { cn: 'Sensor CA' });
  other = pki.ca('other', { cn: 'Sensor CA' });
});
afterAll(() => pki.remove());

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function thrown(work: () => unknown): TrustError {
  try {
    work();
  } catch (error) {
    if (error instanceof TrustError) return error;
    throw error;
  }
  throw new Error('expected a TrustError');
}

describe('Crl.parse', () => {
  it('reads a v2 CRL: issuer, times, number, AKI, algorithm, entries with reason codes', () => {
    const der = buildTestCrl({
      issuer: ca,
      thisUpdate,
      nextUpdate,
      crlNumber: 4242n,
      entries: [
        { serial: 0x8a01n, revokedAt, reason: 1 },
        { serial: 5n, revokedAt },
        { serial: 0x7fn, revokedAt, reason: 6 },
      ],
    });
    const crl = Crl.parse(der, 'unit');
    expect(crl.version).toBe(2);
    expect(crl.issuer).toBe('CN=Sensor CA');
    expect(hex(crl.issuerDer)).toBe(hex(ca.facts.subjectDer));
    expect(crl.issuerNameSha256).toBe(ca.facts.subjectNameSha256);
    expect(crl.thisUpdate).toEqual(thisUpdate);
    expect(crl.nextUpdate).toEqual(nextUpdate);
    expect(crl.crlNumber).toBe(4242n);
    expect(hex(crl.authorityKeyIdentifier as Uint8Array)).toBe(ca.facts.subjectKeyId);
    expect(crl.signatureAlgorithm?.name).toBe('ecdsa-with-SHA256');
    expect(crl.entryCount).toBe(3);
    const entries = [...crl.entries()].map((entry: CrlEntry) => [
      hex(entry.serial),
      entry.revocationDate,
      entry.reasonCode,
    ]);
    expect(entries).toEqual([
      ['008a01', revokedAt, 1],
      ['05', revokedAt, undefined],
      ['7f', revokedAt, 6],
    ]);
    const visited: string[] = [];
    crl.forEachEntry((serial, at, reason) => visited.push(`${hex(serial)}@${at}/${reason}`));
    expect(visited).toEqual([
      `008a01@${revokedAt.getTime()}/1`,
      `05@${revokedAt.getTime()}/undefined`,
      `7f@${revokedAt.getTime()}/6`,
    ]);
  });

  it('reads PEM like DER', () => {
    const der = buildTestCrl({
      issuer: ca,
      thisUpdate,
      nextUpdate,
      crlNumber: 1n,
      entries: [{ serial: 9n, revokedAt }],
    });
    const fromPem = Crl.parse(new TextEncoder().encode(`\n${crlPem(der)}`), 'pem');
    expect(fromPem.sha256).toBe(Crl.parse(der).sha256);
    expect([...fromPem.entries()].map((entry) => hex(entry.serial))).toEqual(['09']);
  });

  it('reads a v1 CRL (no version, no extensions) and an empty CRL', () => {
    const v1 = Crl.parse(
      buildTestCrl({ issuer: ca, thisUpdate, nextUpdate, version: 1, entries: [{ serial: 3n, revokedAt }] }),
    );
    expect(v1.version).toBe(1);
    expect(v1.crlNumber).toBeUndefined();
    expect(v1.authorityKeyIdentifier).toBeUndefined();
    expect(v1.entryCount).toBe(1);
    const empty = Crl.parse(buildTestCrl({ issuer: ca, thisUpdate, nextUpdate: null, crlNumber: 2n }));
    expect(empty.entryCount).toBe(0);
    expect(empty.nextUpdate).toBeUndefined();
    expect([...empty.entries()]).toEqual([]);
    const emptyList = Crl.parse(
      buildTestCrl({ issuer: ca, thisUpdate, nextUpdate, crlNumber: 3n, emptyRevokedList: true }),
    );
    expect(emptyList.entryCount).toBe(0);
  });

  it('reads every CRLReason code and GeneralizedTime dates from 2050 on', () => {
    const codes = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10];
    const late = new Date('2051-03-01T00:00:00Z');
    const crl = Crl.parse(
      buildTestCrl({
        issuer: ca,
        thisUpdate,
        nextUpdate: late,
        crlNumber: 1n,
        entries: codes.map((reason, i) => ({ serial: BigInt(i + 1), revokedAt, reason })),
      }),
    );
    expect([...crl.entries()].map((entry) => entry.reasonCode)).toEqual(codes);
    expect(crl.nextUpdate).toEqual(late);
  });

  it('agrees with a CRL written by `openssl ca -gencrl`', () => {
    const first = pki.leaf('gencrl-1', ca, { serialHex: '8a01' });
    const second = pki.leaf('gencrl-2', ca, { serialHex: '1f' });
    const crl = Crl.parse(
      pki.opensslCrl(ca, [
        { certificate: first, reason: 'keyCompromise' },
        { certificate: second, reason: 'superseded' },
      ]),
    );
    expect(crl.issuerNameSha256).toBe(ca.facts.subjectNameSha256);
    expect(crl.crlNumber).toBe(0x1000n);
    expect(crl.isSignedBy(ca.certDer)).toBe(true);
    const entries = [...crl.entries()].map((entry) => [hex(entry.serial), entry.reasonCode]).sort();
    expect(entries).toEqual(
      [
        [hex(first.serial), 1],
        [hex(second.serial), 4],
      ].sort(),
    );
  });
});

describe('Crl.parse refuses', () => {
  const good = () =>
    buildTestCrl({ issuer: ca, thisUpdate, nextUpdate, crlNumber: 7n, entries: [{ serial: 1n, revokedAt }] });

  it.each<[CrlCorruption, RegExp]>([
    ['truncated', /truncated.* at offset \d+/],
    ['trailing-garbage', /4 trailing bytes after the CertificateList at offset \d+/],
    ['bad-outer-length', /CertificateList: truncated .* at offset 0/],
  ])('%s DER as EGW_TRUST_MALFORMED naming the offset', (how, message) => {
    const error = thrown(() => Crl.parse(corruptCrl(good(), how), 'broken.crl'));
    expect(error.code).toBe('EGW_TRUST_MALFORMED');
    expect(error.message).toMatch(/^CRL from broken\.crl: /);
    expect(error.message).toMatch(message);
  });

  it('structures that are not strict DER or not RFC 5280', () => {
    const cases: [string, () => Uint8Array, RegExp][] = [
      [
        'non-minimal serial',
        () =>
          buildTestCrl({
            issuer: ca,
            thisUpdate,
            nextUpdate,
            entries: [{ serial: Uint8Array.of(0, 1), revokedAt }],
          }),
        /userCertificate: non-minimal INTEGER/,
      ],
      [
        'empty serial',
        () =>
          buildTestCrl({
            issuer: ca,
            thisUpdate,
            nextUpdate,
            entries: [{ serial: new Uint8Array(0), revokedAt }],
          }),
        /userCertificate: empty INTEGER/,
      ],
      [
        'extensions in a v1 CRL entry',
        () =>
          buildTestCrl({
            issuer: ca,
            thisUpdate,
            nextUpdate,
            version: 1,
            entries: [{ serial: 2n, revokedAt, reason: 1 }],
          }),
        /crlEntryExtensions in a v1 CRL/,
      ],
      [
        'an unknown reason code',
        () =>
          buildTestCrl({
            issuer: ca,
            thisUpdate,
            nextUpdate,
            entries: [{ serial: 2n, revokedAt, reason: 7 }],
          }),
        /reasonCode: not a CRLReason/,
      ],
      [
        'a duplicated CRL extension',
        () =>
          buildTestCrl({
            issuer: ca,
            thisUpdate,
            nextUpdate,
            crlNumber: 1n,
            extraExtensions: [testExtension('2.5.29.20', derTlv(0x02, integerOctets(2n)))],
          }),
        /extension 2\.5\.29\.20 appears twice/,
      ],
      [
        'critical written as FALSE',
        () =>
          buildTestCrl({
            issuer: ca,
            thisUpdate,
            nextUpdate,
            extraExtensions: [
              derSequence(derOid('1.2.3.4'), derTlv(0x01, Uint8Array.of(0)), derTlv(0x04, derTlv(0x05))),
            ],
          }),
        /critical: only TRUE may be written/,
      ],
      [
        'nextUpdate before thisUpdate',
        () => buildTestCrl({ issuer: ca, thisUpdate: nextUpdate, nextUpdate: thisUpdate }),
        /nextUpdate is before thisUpdate/,
      ],
      [
        'a negative cRLNumber',
        () =>
          buildTestCrl({
            issuer: ca,
            thisUpdate,
            nextUpdate,
            crlNumber: null,
            extraExtensions: [testExtension('2.5.29.20', derTlv(0x02, Uint8Array.of(0xff)))],
          }),
        /cRLNumber: negative/,
      ],
    ];
    for (const [name, make, message] of cases) {
      const error = thrown(() => Crl.parse(make(), name));
      expect(error.code, name).toBe('EGW_TRUST_MALFORMED');
      expect(error.message, name).toMatch(message);
      expect(error.message, name).toMatch(/at offset \d+$/);
    }
  });

  it('a time that is not RFC 5280 (no seconds) and a date that does not exist', () => {
    const der = good();
    const text = Buffer.from(der).toString('latin1');
    // thisUpdate is the first UTCTime: "261120100000Z" → "2611201000Z" would shift lengths; instead
    // change its day to 31 November (a well-formed string for a date that does not exist).
    const at = text.indexOf('261120100000Z');
    expect(at).toBeGreaterThan(0);
    const badDay = Uint8Array.from(der);
    badDay.set(Buffer.from('261131100000Z', 'latin1'), at);
    expect(thrown(() => Crl.parse(badDay)).message).toMatch(/thisUpdate: no such date at offset/);
    const noZ = Uint8Array.from(der);
    noZ.set(Buffer.from('2611201000000', 'latin1'), at);
    expect(thrown(() => Crl.parse(noZ)).message).toMatch(/thisUpdate: time does not end in Z/);
  });

  it('PEM without exactly one CRL block', () => {
    const pem = crlPem(good());
    expect(thrown(() => Crl.parse(new TextEncoder().encode(`${pem}${pem}`))).code).toBe(
      'EGW_TRUST_MALFORMED',
    );
    expect(
      thrown(() => Crl.parse(new TextEncoder().encode('-----BEGIN CERTIFICATE-----\n'))).message,
    ).toMatch(/0 "X509 CRL" blocks/);
  });

  it('kinds of CRL it cannot use as a complete list, as EGW_TRUST_CRL_REJECTED', () => {
    const cases: [string, Uint8Array[], RegExp][] = [
      [
        'delta',
        [testExtension('2.5.29.27', derTlv(0x02, integerOctets(3n)), true)],
        /delta CRLs are not supported/,
      ],
      [
        'partitioned',
        [testExtension('2.5.29.28', derSequence(derTlv(0x81, Uint8Array.of(0xff))), true)],
        /partitioned or indirect CRLs/,
      ],
      [
        'unknown critical',
        [testExtension('1.2.3.4.5', derTlv(0x05), true)],
        /unsupported critical CRL extension 1\.2\.3\.4\.5/,
      ],
    ];
    for (const [name, extraExtensions, message] of cases) {
      const error = thrown(() =>
        Crl.parse(buildTestCrl({ issuer: ca, thisUpdate, nextUpdate, extraExtensions }), name),
      );
      expect(error.code, name).toBe('EGW_TRUST_CRL_REJECTED');
      expect(error.message, name).toMatch(message);
    }
    // An unknown extension that is not critical is ignored.
    const lenient = Crl.parse(
      buildTestCrl({
        issuer: ca,
        thisUpdate,
        nextUpdate,
        extraExtensions: [testExtension('1.2.3.4.5', derTlv(0x05))],
      }),
    );
    expect(lenient.entryCount).toBe(0);
  });
});

describe('Crl.isSignedBy', () => {
  it('verifies with the issuer key and not with another key of the same name', () => {
    const crl = Crl.parse(buildTestCrl({ issuer: ca, thisUpdate, nextUpdate, crlNumber: 1n }));
    expect(crl.isSignedBy(ca.certDer)).toBe(true);
    expect(crl.isSignedBy(other.certDer)).toBe(false);
    const forged = Crl.parse(
      buildTestCrl({ issuer: ca, signingKey: other.privateKey, thisUpdate, nextUpdate }),
    );
    expect(forged.isSignedBy(ca.certDer)).toBe(false);
    const tampered = Crl.parse(
      corruptCrl(buildTestCrl({ issuer: ca, thisUpdate, nextUpdate, crlNumber: 1n }), 'flipped-tbs'),
    );
    expect(tampered.isSignedBy(ca.certDer)).toBe(false);
  });

  it.each(['P-384', 'P-521', 'rsa2048', 'ed25519'] as const)('verifies a CRL signed with %s', (key) => {
    const issuer = pki.ca(`ca-${key}`, { key });
    const crl = Crl.parse(
      buildTestCrl({ issuer, thisUpdate, nextUpdate, crlNumber: 1n, entries: [{ serial: 1n, revokedAt }] }),
    );
    expect(crl.isSignedBy(issuer.certDer)).toBe(true);
  });

  it('refuses SHA-1 and a key of the wrong type as EGW_TRUST_CRL_REJECTED', () => {
    const rsa = pki.ca('ca-rsa-sha1', { key: 'rsa2048' });
    const sha1 = Crl.parse(
      buildTestCrl({
        issuer: rsa,
        thisUpdate,
        nextUpdate,
        signatureAlgorithm: {
          algorithm: derSequence(derOid('1.2.840.113549.1.1.5'), derTlv(0x05)),
          hash: 'sha1',
        },
      }),
    );
    const error = thrown(() => sha1.isSignedBy(rsa.certDer));
    expect(error.code).toBe('EGW_TRUST_CRL_REJECTED');
    expect(error.message).toMatch(/1\.2\.840\.113549\.1\.1\.5 is not accepted/);
    expect(error.message).toMatch(/sha1WithRSAEncryption: a weak digest/);
    const ecdsaSha1 = Crl.parse(
      buildTestCrl({
        issuer: ca,
        thisUpdate,
        nextUpdate,
        signatureAlgorithm: { algorithm: derSequence(derOid('1.2.840.10045.4.1')), hash: 'sha1' },
      }),
    );
    expect(thrown(() => ecdsaSha1.isSignedBy(ca.certDer))).toMatchObject({
      code: 'EGW_TRUST_CRL_REJECTED',
      message: expect.stringMatching(
        /1\.2\.840\.10045\.4\.1 is not accepted \(ecdsa-with-SHA1: a weak digest/,
      ),
    });
    const ecdsa = Crl.parse(buildTestCrl({ issuer: ca, thisUpdate, nextUpdate }));
    expect(thrown(() => ecdsa.isSignedBy(rsa.certDer)).message).toMatch(
      /ecdsa-with-SHA256 signature cannot be checked with a rsa key/,
    );
  });

  it('accepts the signature algorithms path validation accepts (ECDSA with SHA-224)', () => {
    const crl = Crl.parse(
      buildTestCrl({
        issuer: ca,
        thisUpdate,
        nextUpdate,
        signatureAlgorithm: { algorithm: derSequence(derOid('1.2.840.10045.4.3.1')), hash: 'sha224' },
      }),
    );
    expect(crl.signatureAlgorithm).toMatchObject({ name: 'ecdsa-with-SHA224', weak: false });
    expect(crl.isSignedBy(ca.facts)).toBe(true);
  });

  it('refuses a signature AlgorithmIdentifier that contradicts its algorithm as EGW_TRUST_MALFORMED', () => {
    const error = thrown(() =>
      Crl.parse(
        buildTestCrl({
          issuer: ca,
          thisUpdate,
          nextUpdate,
          signatureAlgorithm: {
            algorithm: derSequence(derOid('1.2.840.10045.4.3.2'), derTlv(0x05)),
            hash: 'sha256',
          },
        }),
        'params.crl',
      ),
    );
    expect(error.code).toBe('EGW_TRUST_MALFORMED');
    expect(error.message).toMatch(
      /^CRL from params\.crl: signatureAlgorithm: ECDSA with parameters at offset \d+$/,
    );
  });
});
