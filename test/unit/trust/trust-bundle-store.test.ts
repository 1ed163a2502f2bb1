import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { X509Certificate } from '../../../src/pki/index.js';
import { Store } from '../../../src/store/index.js';
import { TrustBundleStore, TrustError } from '../../../src/trust/index.js';

const dir = mkdtempSync(join(tmpdir(), 'egw-bundle-'));
const store = Store.open(join(dir, 'state.db'));
afterAll(() => store.close());

function thrown(work: () => unknown): TrustError {
  try {
    work();
  } catch (error) {
    expect(error).toBeInstanceOf(TrustError);
    return error as TrustError;
  }
  throw new Error('expected an error');
}

function der(certificate: X509Certificate): Uint8Array {
  return new Uint8Array(certificate.rawData);
}

function selfSigned(name: string): X509Certificate {
  const out = join(dir, `${name}.pem`);
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, `${name}.key`),
      '-subj',
      `/CN=${name}`,
      '-days',
      '2',
      '-out',
      out,
    ],
    { stdio: 'pipe' },
  );
  return new X509Certificate(readFileSync(out, 'utf8'));
}

describe('TrustBundleStore', () => {
  it('replaces one source of a bundle, keeps the others, and records SHA-256 and fetch time', () => {
    const bundles = new TrustBundleStore(store);
    const [a, b, c] = [selfSigned('A'), selfSigned('B'), selfSigned('C')];
    bundles.replaceFromSource('upstream', 'operator', [c], new Date(1000));
    bundles.replaceFromSource('upstream', 'est', [a, b], new Date(2000));
    bundles.replaceFromSource('upstream', 'est', [b], new Date(3000));
    const rows = bundles.list('upstream');
    expect(rows.map((row) => [row.subject, row.source, row.fetchedAt.getTime()])).toEqual([
      ['CN=C', 'operator', 1000],
      ['CN=B', 'est', 3000],
    ]);
    const sha = execFileSync('openssl', [
      'x509',
      '-in',
      join(dir, 'B.pem'),
      '-noout',
      '-fingerprint',
      '-sha256',
    ])
      .toString()
      .split('=')[1]
      ?.trim()
      .replaceAll(':', '')
      .toLowerCase();
    expect(rows[1]?.sha256).toBe(sha);
    expect(Buffer.from(rows[1]?.der ?? []).equals(Buffer.from(b.rawData))).toBe(true);
    expect(bundles.list('sensors')).toEqual([]);
  });

  it('records EST anchors with role anchor', () => {
    const bundles = new TrustBundleStore(store);
    expect(bundles.list('upstream').map((row) => row.role)).toEqual(['anchor', 'anchor']);
  });

  it('adds anchors and intermediates with their source; ders() serves each role to the validator', () => {
    const bundles = new TrustBundleStore(store);
    const [root, issuing] = [selfSigned('Root'), selfSigned('Issuing')];
    const added = bundles.add('sensors', der(root), { source: 'operator', role: 'anchor' }, new Date(5000));
    expect(added).toMatchObject({
      bundle: 'sensors',
      subject: 'CN=Root',
      source: 'operator',
      role: 'anchor',
    });
    bundles.add(
      'sensors',
      der(issuing),
      { source: 'provisioning-server', role: 'intermediate' },
      new Date(6000),
    );
    expect(bundles.list('sensors').map((row) => [row.subject, row.role, row.source])).toEqual([
      ['CN=Root', 'anchor', 'operator'],
      ['CN=Issuing', 'intermediate', 'provisioning-server'],
    ]);
    expect(
      bundles.ders('sensors', 'anchor').map((bytes) => Buffer.from(bytes).equals(Buffer.from(der(root)))),
    ).toEqual([true]);
    expect(bundles.ders('sensors', 'intermediate')).toHaveLength(1);
    expect(bundles.ders('sensors')).toHaveLength(2);
    expect(bundles.list().map((row) => row.bundle)).toEqual(['sensors', 'sensors', 'upstream', 'upstream']);
    // Adding again re-labels the one row.
    bundles.add('sensors', der(issuing), { source: 'operator', role: 'anchor' }, new Date(7000));
    expect(bundles.ders('sensors', 'intermediate')).toHaveLength(0);
    expect(bundles.list('sensors')).toHaveLength(2);
  });

  it('removes by thumbprint as operators paste it, and says NOT_FOUND when the bundle lacks it', () => {
    const bundles = new TrustBundleStore(store);
    const [root] = bundles.list('sensors');
    const pasted = root?.sha256.toUpperCase().match(/../g)?.join(':') ?? '';
    expect(bundles.remove('sensors', pasted).subject).toBe('CN=Root');
    expect(bundles.list('sensors').map((row) => row.subject)).toEqual(['CN=Issuing']);
    const error = thrown(() => bundles.remove('sensors', pasted));
    expect(error.code).toBe('EGW_TRUST_NOT_FOUND');
    expect(error.message).toBe(`bundle sensors holds no certificate ${root?.sha256}`);
    expect(thrown(() => bundles.remove('upstream', root?.sha256 ?? '')).code).toBe('EGW_TRUST_NOT_FOUND');
    expect(thrown(() => bundles.remove('sensors', 'CN=Root')).code).toBe('EGW_TRUST_INVALID_ARGUMENT');
  });

  it('exports a bundle as the PEM openssl wrote, in the order the certificates were added', () => {
    const bundles = new TrustBundleStore(store);
    const names = ['Zeta', 'Alpha', 'Mu'];
    const pem = names.map((name) => {
      selfSigned(name);
      return readFileSync(join(dir, `${name}.pem`), 'latin1');
    });
    for (const [index, text] of pem.entries()) {
      bundles.add(
        'export',
        der(new X509Certificate(text)),
        { source: 'file', role: index === 0 ? 'anchor' : 'intermediate' },
        new Date(9000),
      );
    }
    expect(bundles.exportPem('export')).toBe(pem.join(''));
    expect(bundles.exportPem('nothing')).toBe('');
  });

  it('refuses bytes that are not a certificate', () => {
    const bundles = new TrustBundleStore(store);
    const error = thrown(() =>
      bundles.add('sensors', new Uint8Array([1, 2, 3]), { source: 'operator', role: 'anchor' }),
    );
    expect(error.code).toBe('EGW_TRUST_MALFORMED');
    expect(thrown(() => bundles.replaceDers('sensors', 'file', [new Uint8Array([1])])).code).toBe(
      'EGW_TRUST_MALFORMED',
    );
  });

  it('replaceDers makes DER certificates the whole content of one source (configured CA files)', () => {
    const bundles = new TrustBundleStore(store);
    const [a, b] = [selfSigned('FileA'), selfSigned('FileB')];
    bundles.replaceDers('files', 'file', [der(a), der(b)]);
    bundles.replaceDers('files', 'file', [der(b)]);
    expect(bundles.list('files').map((row) => [row.subject, row.source, row.role])).toEqual([
      ['CN=FileB', 'file', 'anchor'],
    ]);
  });
});
