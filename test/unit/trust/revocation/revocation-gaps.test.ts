import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RevocationGaps } from '../../../../src/trust/revocation/index.js';
import { CertificateFacts } from '../../../../src/trust/validation/index.js';
import { type TestCa, TestPkiDir } from '../../../helpers/test-crl.js';

let pki: TestPkiDir;
let ca: TestCa;
let sameName: TestCa;
let sensors: CertificateFacts[];
beforeAll(() => {
  pki = new TestPkiDir('egw-gaps-');
  ca = pki.ca('ca', { cn: 'Sensor CA' });
  sameName = pki.ca('same-name', { cn: 'Sensor CA' });
  sensors = ['s1', 's2'].map((name) => CertificateFacts.parse(pki.leaf(name, ca).certDer));
});
afterAll(() => pki?.remove());

describe('RevocationGaps', () => {
  it('counts distinct admitted certificates per CA (name and key), not those of refused chains', () => {
    const gaps = new RevocationGaps();
    const [s1, s2] = sensors as [CertificateFacts, CertificateFacts];
    gaps.begin();
    gaps.note(
      ca.facts,
      s1,
      'no CRL of its issuer is stored and the certificate names no CRL distribution point (grace)',
    );
    expect(gaps.admitted()).toMatchObject([{ subject: 'CN=Sensor CA', ski: ca.facts.subjectKeyId }]);
    gaps.begin();
    gaps.note(ca.facts, s1, 'again');
    expect(gaps.admitted()).toEqual([]); // the same sensor again: not a new CA, not a new certificate
    gaps.begin();
    gaps.note(ca.facts, s2, 'refused later');
    gaps.begin(); // the chain was refused (deny list, enrollment): nothing counted
    gaps.note(sameName.facts, s2, 'other CA');
    gaps.admitted();
    expect(gaps.total).toBe(2);
    const status = gaps.status([], new Date());
    expect(status.map((row) => [row.ski, row.admittedWithoutRevocationInfo, row.crl])).toEqual(
      expect.arrayContaining([
        [ca.facts.subjectKeyId, 1, null],
        [sameName.facts.subjectKeyId, 1, null],
      ]),
    );
  });

  it("a sensor worker's report (drain) carries what is new since the last; merged, a certificate two workers admitted counts once", () => {
    const [s1, s2] = sensors as [CertificateFacts, CertificateFacts];
    const admit = (gaps: RevocationGaps, sensor: CertificateFacts) => {
      gaps.begin();
      gaps.note(ca.facts, sensor, 'no CRL (grace)');
      gaps.admitted();
    };
    const workerA = new RevocationGaps();
    const workerB = new RevocationGaps();
    const main = new RevocationGaps();
    admit(workerA, s1);
    const first = workerA.drain(); // the first report: everything so far
    expect(first).toEqual([
      {
        signerKey: expect.any(String),
        subject: 'CN=Sensor CA',
        ski: ca.facts.subjectKeyId,
        certificates: [s1.sha256],
        lastWarning: 'no CRL (grace)',
      },
    ]);
    main.merge(first);
    expect(workerA.drain()).toEqual([]); // nothing new
    admit(workerA, s2);
    admit(workerB, s1); // the same sensor, moved to the other worker
    main.merge(workerA.drain());
    main.merge(workerB.drain());
    expect(main.total).toBe(2);
    const rows = main.addTo([
      {
        subject: 'CN=Sensor CA',
        ski: ca.facts.subjectKeyId ?? null,
        signerKey: first[0]?.signerKey as string,
        crl: null,
        admittedWithoutRevocationInfo: 0,
        lastWarning: null,
      },
    ]);
    expect(rows.map((row) => [row.subject, row.admittedWithoutRevocationInfo])).toEqual([
      ['CN=Sensor CA', 2],
    ]);
  });
});
