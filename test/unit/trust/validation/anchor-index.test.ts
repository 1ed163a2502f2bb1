import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AnchorIndex } from '../../../../src/trust/validation/index.js';
import { type TestCertificate, TestPki } from '../../../helpers/test-pki.js';

let pki: TestPki;
let root: TestCertificate;
let otherRoot: TestCertificate;
let inter: TestCertificate;

beforeAll(async () => {
  pki = await TestPki.create();
  root = await pki.root({ commonName: 'Index Root' });
  otherRoot = await pki.root({ commonName: 'Index Root' }); // same name, another key
  inter = await pki.intermediate(root, { commonName: 'Index Intermediate' });
});
afterAll(() => pki.remove());

const sha256 = (der: Uint8Array) => createHash('sha256').update(der).digest('hex');

describe('AnchorIndex', () => {
  it('indexes anchors and intermediates by subject name hash and subjectKeyIdentifier', () => {
    const index = new AnchorIndex([root.der, otherRoot.der], [inter.der]);
    const [first, second] = index.anchors;
    expect(index.anchors).toHaveLength(2);
    expect(index.anchorsNamed(first?.subjectNameKey ?? '')).toEqual([first, second]);
    expect(index.intermediatesNamed(index.intermediates[0]?.subjectNameKey ?? '')).toEqual(
      index.intermediates,
    );
    expect(index.anchorsNamed('00'.repeat(32))).toEqual([]);
    expect(index.withKeyId(root.subjectKeyId)).toEqual([first]);
    expect(index.withKeyId(inter.subjectKeyId)).toEqual(index.intermediates);
    expect(index.isAnchor(sha256(root.der))).toBe(true);
    expect(index.isAnchor(sha256(inter.der))).toBe(false);
    expect(index.known(sha256(inter.der))).toBe(index.intermediates[0]);
  });

  it('skips what it cannot parse, and says which and why', () => {
    const junk = Uint8Array.from([0x30, 0x03, 0x02, 0x01, 0x05]);
    const huge = new Uint8Array(20_000);
    const index = new AnchorIndex([junk, root.der], [huge, inter.der]);
    expect(index.anchors).toHaveLength(1);
    expect(index.intermediates).toHaveLength(1);
    expect(index.skipped).toEqual([
      { sha256: sha256(junk), reason: expect.stringMatching(/^anchor 0: malformed: /) },
      { sha256: sha256(huge), reason: expect.stringMatching(/^intermediate 0: oversized: /) },
    ]);
  });

  it('lists a certificate once; one given as anchor and intermediate is an anchor', () => {
    const index = new AnchorIndex([root.der, root.der], [root.der, inter.der, inter.der]);
    expect(index.anchors).toHaveLength(1);
    expect(index.intermediates.map((certificate) => certificate.commonName)).toEqual(['Index Intermediate']);
    expect(index.skipped).toEqual([]);
  });
});
