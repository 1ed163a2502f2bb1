/**
 * Micro-benchmark of the JS record layer's AEAD: seal + open of one 40-byte CoAP record, in ns of this
 * process's CPU per record pair, for each suite:
 * - `nodeCryptoPerRecord`: a createCipheriv/createDecipheriv per record (the record layer before
 *   issue 18),
 * - `sharedContextRekeyed`: RecordProtection, two sessions interleaved, so the thread's shared
 *   EVP_CIPHER_CTX is re-keyed for every record (the daemon under load from many sensors),
 * - `sharedContextSameKey`: RecordProtection, one session, so only the nonce changes (what a context per
 *   session and direction would cost every time).
 * `npm run bench -- dtls` reports it as record_seal_open; alone: `node dist/test/bench/dtls/record-seal-open.js`
 * (after `npm run build`) prints the JSON.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import {
  type AeadSuite,
  aeadSuiteNamed,
  RecordProtection,
} from '../../../src/tls/dtls/record-layer/index.js';

const SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-CCM8',
  'ECDHE-ECDSA-AES128-CCM',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
];
const PLAINTEXT = randomBytes(40);
const ROUNDS = Number(process.env.ROUNDS ?? 100_000);

function cpuNs(): number {
  const usage = process.cpuUsage();
  return (usage.user + usage.system) * 1000;
}

/** CPU ns per call of `pairOf(i)`, after a warm-up of a tenth as many. */
function nsPer(pairOf: (i: number) => void): number {
  for (let i = 0; i < ROUNDS / 10; i++) pairOf(i);
  const start = cpuNs();
  for (let i = 0; i < ROUNDS; i++) pairOf(i);
  return Math.round((cpuNs() - start) / ROUNDS);
}

function endpoints(suite: AeadSuite) {
  const a = { key: randomBytes(suite.keyLength), iv: randomBytes(suite.fixedIvLength) };
  const b = { key: randomBytes(suite.keyLength), iv: randomBytes(suite.fixedIvLength) };
  return {
    keys: a,
    sender: new RecordProtection(suite, { writeKey: a.key, writeIv: a.iv, readKey: b.key, readIv: b.iv }),
    receiver: new RecordProtection(suite, { writeKey: b.key, writeIv: b.iv, readKey: a.key, readIv: a.iv }),
  };
}

/** The record layer's AEAD as it was: a node:crypto cipher object per record, each direction. */
function nodeCryptoPair(suite: AeadSuite, key: Buffer, iv: Buffer, i: number): void {
  const nonce = Buffer.alloc(12);
  iv.copy(nonce);
  nonce.writeUInt32BE(i, 8);
  const aad = Buffer.alloc(13, i & 0xff);
  const algorithm = suite.algorithm as 'aes-128-gcm';
  const options = { authTagLength: suite.tagLength };
  const cipher = createCipheriv(algorithm, key, nonce, options);
  cipher.setAAD(aad, { plaintextLength: PLAINTEXT.length });
  const ciphertext = cipher.update(PLAINTEXT);
  cipher.final();
  const tag = cipher.getAuthTag();
  const decipher = createDecipheriv(algorithm, key, nonce, options);
  decipher.setAuthTag(tag);
  decipher.setAAD(aad, { plaintextLength: ciphertext.length });
  decipher.update(ciphertext);
  decipher.final();
}

/** ns of CPU per seal+open of a 40-byte record, per suite and way (see the header). */
export function benchRecordSealOpen(): { unit: string; result: Record<string, Record<string, number>> } {
  const result: Record<string, Record<string, number>> = {};
  for (const name of SUITES) {
    const suite = aeadSuiteNamed(name) as AeadSuite;
    const one = endpoints(suite);
    const two = endpoints(suite);
    const open = (pair: ReturnType<typeof endpoints>, i: number) => {
      const record = pair.sender.seal(23, { epoch: 1, sequence: i }, PLAINTEXT);
      if (!pair.receiver.open(record, 0, record.length - 13)) throw new Error(`${name}: did not open`);
    };
    const nonceIv = Buffer.concat([one.keys.iv, Buffer.alloc(12)]).subarray(0, 12);
    result[name] = {
      nodeCryptoPerRecord: nsPer((i) => nodeCryptoPair(suite, one.keys.key, nonceIv, i)),
      sharedContextRekeyed: nsPer((i) => open(i & 1 ? one : two, i)),
      sharedContextSameKey: nsPer((i) => open(one, i)),
    };
  }
  return { unit: 'ns of CPU per seal+open of a 40-byte record', result };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  process.stdout.write(`${JSON.stringify(benchRecordSealOpen())}\n`);
}
