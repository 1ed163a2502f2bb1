import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derSequence, derTlv } from '../../../../src/pki/index.js';
import {
  AnchorIndex,
  type CertificateFacts,
  type PathValidation,
  PathValidator,
  type PathValidatorOptions,
} from '../../../../src/trust/validation/index.js';
import type { Refusal } from '../../../../src/trust/validation-reason.js';
import { DEFAULT_DEVICE_TYPE_OID, type TestCertificate, TestPki } from '../../../helpers/test-pki.js';

const options: PathValidatorOptions = {
  policy: { allowedCurves: ['P-256', 'P-384'], allowEd25519: false, minRsaBits: 2048 },
  maxChainDepth: 4,
  deviceTypeOid: DEFAULT_DEVICE_TYPE_OID,
};
const at = new Date(Date.now() + 60_000);
const day = 86_400_000;

let pki: TestPki;
let root: TestCertificate;
let inter: TestCertificate;
let sensor: TestCertificate;
let anchors: AnchorIndex;

beforeAll(async () => {
  pki = await TestPki.create();
  root = await pki.root({ commonName: 'Unit Root' });
  inter = await pki.intermediate(root, { commonName: 'Unit Intermediate' });
  sensor = await pki.sensor(inter, { commonName: 'sensor-unit', serialNumber: 'U-1', deviceType: 'valve' });
  anchors = new AnchorIndex([root.der]);
});
afterAll(() => pki.remove());

function refusal(verdict: PathValidation): Refusal | 'valid' {
  return verdict.ok ? 'valid' : verdict.refusal;
}

function subjects(path: readonly CertificateFacts[] | undefined): string[] {
  return (path ?? []).map((certificate) => certificate.commonName ?? '?');
}

describe('PathValidator.validate', () => {
  it('builds sensor ← intermediate ← anchor and reads the sensor identity', () => {
    const verdict = new PathValidator(options).validate([sensor.der, inter.der], anchors, at);
    expect(refusal(verdict)).toBe('valid');
    if (!verdict.ok) return;
    expect(subjects(verdict.path)).toEqual(['sensor-unit', 'Unit Intermediate', 'Unit Root']);
    expect(verdict.identity).toEqual({
      sha256: verdict.path[0]?.sha256,
      commonName: 'sensor-unit',
      serialNumber: 'U-1',
      certificateSerial: verdict.path[0]?.serialHex,
      subject: 'CN=sensor-unit, serialNumber=U-1',
      subjectAltNames: [{ type: 'dns', value: 'sensor-unit.local' }],
      deviceType: 'valve',
      issuer: 'CN=Unit Intermediate',
      issuerSha256: verdict.path[1]?.sha256,
      anchorSha256: anchors.anchors[0]?.sha256,
      notBefore: verdict.path[0]?.notBefore,
      notAfter: verdict.path[0]?.notAfter,
      enrollment: undefined,
    });
  });

  it('validates a known chain again without parsing or verifying anything', () => {
    const validator = new PathValidator(options);
    const first = validator.validate([sensor.der, inter.der], anchors, at);
    expect(validator.stats()).toMatchObject({
      certificatesParsed: 2,
      signatureChecks: 2,
      signatureCacheHits: 0,
    });

    // Fresh copies of the bytes, as a new handshake would bring.
    const again = validator.validate([Uint8Array.from(sensor.der), Uint8Array.from(inter.der)], anchors, at);
    expect(refusal(again)).toBe('valid');
    expect(validator.stats()).toMatchObject({
      validations: 2,
      certificatesParsed: 2,
      certificateCacheHits: 2,
      signatureChecks: 2,
      signatureCacheHits: 2,
      cachedCertificates: 2,
      cachedSignatures: 2,
    });
    if (!first.ok || !again.ok) return;
    expect(again.identity).toEqual(first.identity);
    // Each verdict has its own identity: the enrollment check may fill one in.
    first.identity.enrollment = { kind: 'group', sha256: 'ab', label: 'plant' };
    first.identity.subjectAltNames.push({ type: 'dns', value: 'changed' });
    const third = validator.validate([sensor.der, inter.der], anchors, at);
    expect(third.ok && third.identity.enrollment).toBeUndefined();
    expect(third.ok && third.identity.subjectAltNames).toHaveLength(1);
  });

  it('keeps time checks live on a cached chain', () => {
    const validator = new PathValidator(options);
    expect(validator.validate([sensor.der, inter.der], anchors, at).ok).toBe(true);
    const later = validator.validate([sensor.der, inter.der], anchors, new Date(Date.now() + 365 * day));
    expect(refusal(later)).toMatchObject({ reason: 'expired', depth: 0 });
    expect(validator.stats().signatureChecks).toBe(2);
  });

  it('caches refused signatures too, and they stay refused', async () => {
    const validator = new PathValidator(options);
    const tampered = Uint8Array.from((await pki.sensor(inter)).der);
    tampered[tampered.length - 1] = (tampered[tampered.length - 1] as number) ^ 1;
    for (let round = 0; round < 3; round++) {
      expect(refusal(validator.validate([tampered, inter.der], anchors, at))).toMatchObject({
        reason: 'bad-signature',
        depth: 0,
      });
    }
    // Verified once (the path stops there: the intermediate's own signature is never needed).
    expect(validator.stats()).toMatchObject({ signatureChecks: 1, signatureCacheHits: 2 });
  });

  it('remembers unparseable certificates as refused without parsing them again', () => {
    const validator = new PathValidator(options);
    const junk = Uint8Array.from(Buffer.from('definitely not a certificate'));
    for (let round = 0; round < 2; round++) {
      const verdict = validator.validate([junk], anchors, at);
      expect(refusal(verdict)).toMatchObject({ reason: 'malformed', depth: 0 });
      if (!verdict.ok) expect(verdict.refusal.detail).toMatch(/^certificate 0 as presented: not strict DER/);
    }
    expect(validator.stats()).toMatchObject({ certificatesParsed: 1, certificateCacheHits: 1 });
  });

  it('bounds its caches to cacheSize', async () => {
    const validator = new PathValidator({ ...options, cacheSize: 3 });
    for (let n = 0; n < 5; n++) {
      const other = await pki.sensor(inter, { commonName: `sensor-${n}` });
      expect(validator.validate([other.der, inter.der], anchors, at).ok).toBe(true);
    }
    const stats = validator.stats();
    expect(stats.cachedCertificates).toBeLessThanOrEqual(3);
    expect(stats.cachedSignatures).toBeLessThanOrEqual(3);
    expect(stats.certificatesParsed).toBeGreaterThanOrEqual(6);
  });

  it('refuses an empty or too long presentation before parsing anything', () => {
    const validator = new PathValidator(options);
    expect(refusal(validator.validate([], anchors, at))).toMatchObject({ reason: 'malformed', depth: 0 });
    const seven = Array.from({ length: 7 }, () => sensor.der);
    expect(refusal(validator.validate(seven, anchors, at))).toMatchObject({ reason: 'chain-too-long' });
    expect(validator.stats().certificatesParsed).toBe(0);
  });

  it('reports the position of a bad certificate among those presented', () => {
    const validator = new PathValidator(options);
    const verdict = validator.validate(
      [sensor.der, inter.der, Uint8Array.of(0x30, 0x03, 0x02, 0x01)],
      anchors,
      at,
    );
    expect(refusal(verdict)).toMatchObject({ reason: 'malformed', depth: 2 });
  });

  it('finds the issuer by key identifier among CAs with the same name, and skips an expired copy', async () => {
    const oldCopy = await pki.intermediate(root, {
      commonName: 'Unit Intermediate',
      keyPair: inter.keyPair,
      notBefore: new Date(Date.now() - 10 * day),
      notAfter: new Date(Date.now() - day),
    });
    const otherKey = await pki.intermediate(root, { commonName: 'Unit Intermediate' });
    const validator = new PathValidator(options);
    const verdict = validator.validate([sensor.der, otherKey.der, oldCopy.der, inter.der], anchors, at);
    expect(refusal(verdict)).toBe('valid');
    if (verdict.ok) expect(verdict.path[1]?.sha256).toBe(new AnchorIndex([inter.der]).anchors[0]?.sha256);
    // The other key was never tried: its subjectKeyIdentifier is not the sensor's authorityKeyIdentifier.
    expect(validator.stats().signatureChecks).toBe(2);

    // With only the expired copy, that is the answer.
    const stale = validator.validate([sensor.der, oldCopy.der], anchors, at);
    expect(refusal(stale)).toMatchObject({ reason: 'expired', depth: 1 });
  });

  it('does not count a self-issued intermediate (key rollover) against pathLenConstraint', async () => {
    const limited = await pki.intermediate(root, {
      commonName: 'Rollover CA',
      basicConstraints: { ca: true, pathLen: 0, critical: true },
    });
    const rollover = await pki.intermediate(limited, { commonName: 'Rollover CA' });
    const leaf = await pki.sensor(rollover);
    const verdict = new PathValidator(options).validate([leaf.der, rollover.der, limited.der], anchors, at);
    expect(refusal(verdict)).toBe('valid');
    expect(subjects(verdict.ok ? verdict.path : undefined)).toEqual([
      'sensor-0001',
      'Rollover CA',
      'Rollover CA',
      'Unit Root',
    ]);
  });

  it('enforces the anchor’s own pathLenConstraint', async () => {
    const strictRoot = await pki.root({
      commonName: 'PathLen 0 Root',
      basicConstraints: { ca: true, pathLen: 0, critical: true },
    });
    const below = await pki.intermediate(strictRoot);
    const verdict = new PathValidator(options).validate(
      [(await pki.sensor(below)).der, below.der],
      new AnchorIndex([strictRoot.der]),
      at,
    );
    expect(refusal(verdict)).toMatchObject({ reason: 'path-length-exceeded', depth: 2 });
  });

  it('refuses an anchor without basicConstraints (RFC 5280 4.2.1.9), one that says CA:FALSE, one that lacks keyCertSign', async () => {
    const plain = await pki.root({ commonName: 'Plain Root', basicConstraints: null, keyUsage: null });
    const plainVerdict = new PathValidator(options).validate(
      [(await pki.sensor(plain)).der],
      new AnchorIndex([plain.der]),
      at,
    );
    expect(refusal(plainVerdict)).toMatchObject({ reason: 'not-a-ca', depth: 1 });
    expect(refusal(plainVerdict)).toMatchObject({ detail: expect.stringContaining('no basicConstraints') });

    const notCa = await pki.root({ commonName: 'Not CA Root', basicConstraints: { ca: false } });
    expect(
      refusal(
        new PathValidator(options).validate(
          [(await pki.sensor(notCa)).der],
          new AnchorIndex([notCa.der]),
          at,
        ),
      ),
    ).toMatchObject({ reason: 'not-a-ca', depth: 1 });

    const noSign = await pki.root({ commonName: 'No Sign Root', keyUsage: ['cRLSign'] });
    expect(
      refusal(
        new PathValidator(options).validate(
          [(await pki.sensor(noSign)).der],
          new AnchorIndex([noSign.der]),
          at,
        ),
      ),
    ).toMatchObject({ reason: 'ca-key-usage', depth: 1 });
  });

  it('ignores how an anchor signed itself, but not its key', async () => {
    const sha1Root = await pki.root({ commonName: 'SHA-1 Root', digest: 'sha1' });
    expect(
      refusal(
        new PathValidator(options).validate(
          [(await pki.sensor(sha1Root)).der],
          new AnchorIndex([sha1Root.der]),
          at,
        ),
      ),
    ).toBe('valid');
    const weakRoot = await pki.root({ commonName: 'Weak Root', key: 'rsa1024' });
    expect(
      refusal(
        new PathValidator(options).validate(
          [(await pki.sensor(weakRoot)).der],
          new AnchorIndex([weakRoot.der]),
          at,
        ),
      ),
    ).toMatchObject({ reason: 'weak-key', depth: 1 });
  });

  it('understands the device-type extension and nameConstraints when critical', async () => {
    const critical = await pki.sensor(inter, {
      deviceType: undefined,
      extraExtensions: [
        { oid: DEFAULT_DEVICE_TYPE_OID, critical: true, value: derTlv(0x0c, Buffer.from('pump')) },
      ],
    });
    const verdict = new PathValidator(options).validate([critical.der, inter.der], anchors, at);
    expect(verdict.ok && verdict.identity.deviceType).toBe('pump');

    const constrainedBy = async (dnsName: string) => {
      const constrained = await pki.intermediate(root, {
        commonName: 'Constrained CA',
        extraExtensions: [
          {
            oid: '2.5.29.30',
            critical: true,
            value: derSequence(derTlv(0xa0, derSequence(derTlv(0x82, Buffer.from(dnsName))))),
          },
        ],
      });
      return new PathValidator(options).validate(
        [(await pki.sensor(constrained)).der, constrained.der],
        anchors,
        at,
      );
    };
    // The sensor's SAN is sensor-0001.local: inside "local"; ".local" is no dNSName constraint (RFC 5280 4.2.1.10).
    expect(refusal(await constrainedBy('local'))).toBe('valid');
    expect(refusal(await constrainedBy('.local'))).toMatchObject({ reason: 'name-constraints', depth: 1 });
    expect(refusal(await constrainedBy('plant7.example'))).toMatchObject({
      reason: 'name-constraints',
      depth: 0,
    });
  });

  it('tells a name that does not chain from an issuer that is not known', async () => {
    const validator = new PathValidator(options);
    const misnamed = await pki.sensor(inter, { issuerDer: derSequence() });
    // The CA with the sensor's authorityKeyIdentifier, known from the index only.
    const viaIndex = validator.validate([misnamed.der], new AnchorIndex([root.der], [inter.der]), at);
    expect(refusal(viaIndex)).toMatchObject({ reason: 'name-chaining', depth: 0 });
    if (!viaIndex.ok) expect(viaIndex.refusal.detail).toContain('"CN=Unit Intermediate"');

    // A CA of that name is known, but with another key.
    const impostor = await pki.intermediate(root, { commonName: 'Unit Intermediate' });
    const byImpostor = await pki.sensor(impostor);
    const unknown = validator.validate([byImpostor.der], new AnchorIndex([root.der], [inter.der]), at);
    expect(refusal(unknown)).toMatchObject({ reason: 'unknown-issuer', depth: 0 });
    if (!unknown.ok) expect(unknown.refusal.detail).toContain('none with subjectKeyIdentifier');
  });

  it('says what and where in its details', async () => {
    const notCa = await pki.intermediate(root, {
      commonName: 'Sensor Intermediate',
      basicConstraints: { ca: false },
    });
    const verdict = new PathValidator(options).validate(
      [(await pki.sensor(notCa)).der, notCa.der],
      anchors,
      at,
    );
    expect(refusal(verdict)).toEqual({
      reason: 'not-a-ca',
      detail: 'certificate 1 (CN=Sensor Intermediate) is not a CA: basicConstraints CA:FALSE',
      depth: 1,
    });
    expect(subjects(verdict.ok ? undefined : verdict.path)).toEqual(['sensor-0001', 'Sensor Intermediate']);
  });

  it('asks revocation about every certificate but the anchor, from the anchor down, and returns its refusal as is', () => {
    const validator = new PathValidator(options);
    const asked: string[] = [];
    const verdict = validator.validate([sensor.der, inter.der], anchors, at, (certificate, issuer, when) => {
      asked.push(`${certificate.commonName} by ${issuer.commonName}`);
      expect(when).toBe(at);
      return undefined;
    });
    expect(refusal(verdict)).toBe('valid');
    expect(asked).toEqual(['Unit Intermediate by Unit Root', 'sensor-unit by Unit Intermediate']);

    const revoked: Refusal = { reason: 'revoked', detail: 'serial 1234 revoked at …', depth: 1 };
    const refused = validator.validate([sensor.der, inter.der], anchors, at, (certificate) =>
      certificate.commonName === 'Unit Intermediate' ? revoked : undefined,
    );
    expect(refusal(refused)).toBe(revoked);
    expect(subjects(refused.ok ? undefined : refused.path)).toEqual([
      'sensor-unit',
      'Unit Intermediate',
      'Unit Root',
    ]);
  });
});

describe('PathValidator.validateLeafOnly', () => {
  it('accepts a self-signed, individually trusted sensor certificate: no issuer, no anchor', async () => {
    const lonely = await pki.sensor(undefined, { commonName: 'lonely' });
    const verdict = new PathValidator(options).validateLeafOnly(lonely.der, at);
    expect(refusal(verdict)).toBe('valid');
    if (!verdict.ok) return;
    expect(verdict.path).toHaveLength(1);
    expect(verdict.identity).toMatchObject({
      commonName: 'lonely',
      issuerSha256: undefined,
      anchorSha256: undefined,
    });
  });

  it('checks the self-signature of a self-signed one, once', async () => {
    const lonely = Uint8Array.from((await pki.sensor(undefined, { commonName: 'forged' })).der);
    lonely[lonely.length - 1] = (lonely[lonely.length - 1] as number) ^ 1;
    const validator = new PathValidator(options);
    expect(refusal(validator.validateLeafOnly(lonely, at))).toMatchObject({
      reason: 'bad-signature',
      depth: 0,
    });
    expect(refusal(validator.validateLeafOnly(lonely, at))).toMatchObject({
      reason: 'bad-signature',
      depth: 0,
    });
    expect(validator.stats()).toMatchObject({ signatureChecks: 1, signatureCacheHits: 1 });
  });

  it('does not need the issuer of a CA-issued certificate trusted by thumbprint', () => {
    const validator = new PathValidator(options);
    expect(refusal(validator.validateLeafOnly(sensor.der, at))).toBe('valid');
    expect(validator.stats().signatureChecks).toBe(0);
  });

  it('still applies the sensor checks', async () => {
    const validator = new PathValidator(options);
    const cases = [
      [{ notAfter: new Date(Date.now() - day), notBefore: new Date(Date.now() - 2 * day) }, 'expired'],
      [{ extendedKeyUsage: null }, 'eku'],
      [{ keyUsage: ['keyEncipherment' as const] }, 'key-usage'],
      [{ key: 'secp256k1' as const }, 'curve-not-allowed'],
      [{ digest: 'sha1' as const }, 'weak-signature-algorithm'],
      [
        { extraExtensions: [{ oid: '1.2.3.4', critical: true, value: derTlv(0x05) }] },
        'unknown-critical-extension',
      ],
    ] as const;
    for (const [certificateOptions, reason] of cases) {
      const certificate = await pki.sensor(undefined, certificateOptions);
      expect(refusal(validator.validateLeafOnly(certificate.der, at))).toMatchObject({ reason, depth: 0 });
    }
  });
});
