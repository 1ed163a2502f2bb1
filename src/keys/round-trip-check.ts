import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import type { HealthReport } from './key-store.js';

type Check = HealthReport['checks'][number];

/** Signs a fresh digest with the key and verifies it with node:crypto against the public key. */
export async function signVerifyRoundTrip(
  publicKey: () => Promise<Uint8Array>,
  signDigest: (digest: Uint8Array) => Promise<Uint8Array>,
): Promise<Check> {
  const spki = await publicKey();
  const data = randomBytes(32);
  const started = performance.now();
  const signature = await signDigest(createHash('sha256').update(data).digest());
  const elapsed = (performance.now() - started).toFixed(1);
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  const ok = verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
  return {
    name: 'sign/verify round trip',
    ok,
    detail: ok ? `ok (${elapsed} ms)` : 'signature does not verify',
  };
}
