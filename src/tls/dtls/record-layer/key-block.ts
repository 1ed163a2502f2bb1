import type { AeadSuite } from './aead-suite.js';
import { tls12Prf } from './tls12-prf.js';

/** The write keys and implicit nonces of both directions for one epoch. */
export interface EpochKeys {
  clientWriteKey: Buffer;
  serverWriteKey: Buffer;
  clientWriteIv: Buffer;
  serverWriteIv: Buffer;
}

/**
 * Expands the master secret into the key block (RFC 5246 §6.3): PRF(master_secret, "key expansion",
 * server_random + client_random). AEAD suites have no MAC keys, so the block is the two write keys
 * followed by the two implicit IVs. (The extended master secret, RFC 7627, changes how the master
 * secret is made, not this step.)
 */
export function deriveEpochKeys(
  suite: AeadSuite,
  masterSecret: Uint8Array,
  clientRandom: Uint8Array,
  serverRandom: Uint8Array,
): EpochKeys {
  const k = suite.keyLength;
  const iv = suite.fixedIvLength;
  const block = tls12Prf(
    suite.prfHash,
    masterSecret,
    'key expansion',
    Buffer.concat([serverRandom, clientRandom]),
    2 * k + 2 * iv,
  );
  // Copies, so the keys do not pin the block (or a pooled slab) for the session's life.
  return {
    clientWriteKey: Buffer.from(block.subarray(0, k)),
    serverWriteKey: Buffer.from(block.subarray(k, 2 * k)),
    clientWriteIv: Buffer.from(block.subarray(2 * k, 2 * k + iv)),
    serverWriteIv: Buffer.from(block.subarray(2 * k + iv, 2 * k + 2 * iv)),
  };
}
