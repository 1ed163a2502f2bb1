import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { X509Certificate } from '../../../src/pki/index.js';
import { Store } from '../../../src/store/index.js';
import { TrustBundleStore } from '../../../src/trust/index.js';

const dir = mkdtempSync(join(tmpdir(), 'egw-bundle-'));
const store = Store.open(join(dir, 'state.db'));
afterAll(() => store.close());

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
});
