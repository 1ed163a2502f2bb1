import { createCipheriv, randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { libcrypto } from '../../../../src/native/openssl/index.js';
import { AeadContext } from '../../../../src/tls/dtls/record-layer/aead-context.js';
import {
  type AeadSuite,
  aeadSuiteNamed,
  RecordProtection,
} from '../../../../src/tls/dtls/record-layer/index.js';

const hex = (text: string) => Buffer.from(text.replace(/\s/g, ''), 'hex');

function suiteNamed(name: string): AeadSuite {
  const suite = aeadSuiteNamed(name);
  if (!suite) throw new Error(`no suite ${name}`);
  return suite;
}

const ALL_SUITES = [
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-AES128-CCM8',
  'ECDHE-ECDSA-AES256-CCM8',
  'ECDHE-ECDSA-AES128-CCM',
  'ECDHE-ECDSA-AES256-CCM',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
];

/** Published vectors with a 96-bit nonce, the only nonce length DTLS 1.2 AEAD suites use. */
const VECTORS = [
  {
    source: 'GCM spec (McGrew-Viega) test case 2',
    suite: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    key: hex('00000000000000000000000000000000'),
    nonce: hex('000000000000000000000000'),
    aad: Buffer.alloc(0),
    plaintext: hex('00000000000000000000000000000000'),
    sealed: hex('0388dace60b6a392f328c2b971b2fe78 ab6e47d42cec13bdf53a67b21257bddf'),
  },
  {
    source: 'GCM spec (McGrew-Viega) test case 14',
    suite: 'ECDHE-ECDSA-AES256-GCM-SHA384',
    key: Buffer.alloc(32),
    nonce: hex('000000000000000000000000'),
    aad: Buffer.alloc(0),
    plaintext: hex('00000000000000000000000000000000'),
    sealed: hex('cea7403d4d606b6e074ec5d3baf39d18 d0d1c8a799996bf0265b98b5d48ab919'),
  },
  {
    source: 'NIST SP 800-38C example 3 (CCM, 8-byte tag)',
    suite: 'ECDHE-ECDSA-AES128-CCM8',
    key: hex('404142434445464748494a4b4c4d4e4f'),
    nonce: hex('101112131415161718191a1b'),
    aad: hex('000102030405060708090a0b0c0d0e0f10111213'),
    plaintext: hex('202122232425262728292a2b2c2d2e2f3031323334353637'),
    sealed: hex('e3b201a9f5b71a7a9b1ceaeccd97e70b6176aad9a4428aa5 484392fbc1b09951'),
  },
  {
    source: 'RFC 8439 §2.8.2',
    suite: 'ECDHE-ECDSA-CHACHA20-POLY1305',
    key: hex('808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f'),
    nonce: hex('070000004041424344454647'),
    aad: hex('50515253c0c1c2c3c4c5c6c7'),
    plaintext: Buffer.from(
      "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.",
    ),
    sealed: hex(`d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6
      3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36
      92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc
      3ff4def08e4b7a9de576d26586cec64b6116 1ae10b594f09e26a7e902ecbd0600691`),
  },
];

/**
 * A DTLS 1.2 record built by hand with node:crypto, as RFC 6347 §4.1.2.1 with RFC 5288 / 6655 / 7905
 * describe it: the independent construction RecordProtection must match byte for byte.
 */
function referenceRecord(
  suite: AeadSuite,
  key: Buffer,
  fixedIv: Buffer,
  contentType: number,
  epoch: number,
  sequence: number,
  plaintext: Buffer,
): Buffer {
  const recordNumber = Buffer.alloc(8);
  recordNumber.writeUInt16BE(epoch, 0);
  recordNumber.writeUIntBE(sequence, 2, 6);
  let nonce: Buffer;
  if (suite.explicitNonceLength > 0) {
    nonce = Buffer.concat([fixedIv, recordNumber]);
  } else {
    nonce = Buffer.from(fixedIv);
    for (let i = 0; i < 8; i++) nonce[4 + i] = (nonce[4 + i] as number) ^ (recordNumber[i] as number);
  }
  const header = Buffer.alloc(13);
  header[0] = contentType;
  header.writeUInt16BE(0xfefd, 1);
  recordNumber.copy(header, 3);
  const aad = Buffer.concat([recordNumber, header.subarray(0, 3), Buffer.alloc(2)]);
  aad.writeUInt16BE(plaintext.length, 11);
  const cipher = createCipheriv(suite.algorithm as 'aes-128-gcm', key, nonce, {
    authTagLength: suite.tagLength,
  });
  cipher.setAAD(aad, { plaintextLength: plaintext.length });
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  const body = Buffer.concat([
    suite.explicitNonceLength > 0 ? recordNumber : Buffer.alloc(0),
    ciphertext,
    cipher.getAuthTag(),
  ]);
  header.writeUInt16BE(body.length, 11);
  return Buffer.concat([header, body]);
}

function keysFor(suite: AeadSuite) {
  return { key: randomBytes(suite.keyLength), iv: randomBytes(suite.fixedIvLength) };
}

describe('AeadContext (a kept EVP_CIPHER_CTX per cipher and direction)', () => {
  for (const vector of VECTORS) {
    it(`seals and opens the published vector: ${vector.source}`, () => {
      const suite = suiteNamed(vector.suite);
      const length = vector.plaintext.length;
      const sealed = Buffer.alloc(length + suite.tagLength);
      expect(
        AeadContext.for(suite, true).seal(vector.key, vector.nonce, vector.aad, vector.plaintext, sealed, 0),
      ).toBe(true);
      expect(sealed.toString('hex')).toBe(vector.sealed.toString('hex'));
      const opened = Buffer.alloc(length);
      const open = (tag: Buffer) =>
        AeadContext.for(suite, false).open(
          vector.key,
          vector.nonce,
          vector.aad,
          vector.sealed.subarray(0, length),
          tag,
          opened,
        );
      expect(open(vector.sealed.subarray(length))).toBe(true);
      expect(opened.equals(vector.plaintext)).toBe(true);
      const badTag = Buffer.from(vector.sealed.subarray(length));
      badTag[0] = (badTag[0] as number) ^ 1;
      expect(open(badTag)).toBe(false);
    });
  }

  for (const name of ALL_SUITES) {
    it(`${name}: records match a record built with node:crypto, both ways`, () => {
      const suite = suiteNamed(name);
      const ours = keysFor(suite);
      const theirs = keysFor(suite);
      const protection = new RecordProtection(suite, {
        writeKey: ours.key,
        writeIv: ours.iv,
        readKey: theirs.key,
        readIv: theirs.iv,
      });
      for (const [sequence, size] of [
        [0, 0],
        [1, 1],
        [0x0102_0304_0506, 40],
        [2 ** 48 - 1, 1400],
      ] as const) {
        const plaintext = randomBytes(size);
        const sealed = protection.seal(23, { epoch: 1, sequence }, plaintext);
        expect(sealed.toString('hex')).toBe(
          referenceRecord(suite, ours.key, ours.iv, 23, 1, sequence, plaintext).toString('hex'),
        );
        const incoming = referenceRecord(suite, theirs.key, theirs.iv, 21, 1, sequence, plaintext);
        expect(protection.open(incoming, 0, incoming.length - 13)?.equals(plaintext)).toBe(true);
      }
    });
  }

  for (const name of ALL_SUITES) {
    it(`${name}: a forged record between two good ones, of two sessions, leaves nothing behind`, () => {
      const suite = suiteNamed(name);
      const a = keysFor(suite);
      const b = keysFor(suite);
      const reader = (keys: { key: Buffer; iv: Buffer }) =>
        new RecordProtection(suite, {
          writeKey: keys.key,
          writeIv: keys.iv,
          readKey: keys.key,
          readIv: keys.iv,
        });
      const sessionA = reader(a);
      const sessionB = reader(b);
      const record = (keys: { key: Buffer; iv: Buffer }, sequence: number, text: string) =>
        referenceRecord(suite, keys.key, keys.iv, 23, 1, sequence, Buffer.from(text));
      const open = (session: RecordProtection, datagram: Buffer) =>
        session.open(datagram, 0, datagram.length - 13)?.toString();
      libcrypto().ERR_clear_error();
      expect(open(sessionA, record(a, 1, 'first of A'))).toBe('first of A');
      // Forged: the next record of A with one bit of its tag changed, then one of B's keys for A.
      const forged = record(a, 2, 'second of A');
      forged[forged.length - 1] = (forged[forged.length - 1] as number) ^ 0x80;
      expect(open(sessionA, forged)).toBeUndefined();
      expect(libcrypto().ERR_get_error()).toBe(0); // libssl shares the thread's error queue
      expect(open(sessionA, record(b, 2, 'second of A'))).toBeUndefined();
      expect(open(sessionA, record(a, 2, 'second of A'))).toBe('second of A');
      expect(open(sessionB, record(b, 1, 'first of B'))).toBe('first of B');
      expect(open(sessionA, forged)).toBeUndefined();
      expect(open(sessionB, record(b, 2, 'second of B'))).toBe('second of B');
      expect(open(sessionA, record(a, 3, 'third of A'))).toBe('third of A');
      // Sealing in between uses its own context: the reader goes on as before.
      sessionA.seal(23, { epoch: 1, sequence: 9 }, Buffer.from('reply'));
      expect(open(sessionA, record(a, 4, 'fourth of A'))).toBe('fourth of A');
    });
  }
});
