import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { aeadSuiteNamed, RecordProtection } from '../../../../src/tls/dtls/record-layer/index.js';

function pair(name: string) {
  const suite = aeadSuiteNamed(name);
  if (!suite) throw new Error(`no suite ${name}`);
  const a = { key: randomBytes(suite.keyLength), iv: randomBytes(suite.fixedIvLength) };
  const b = { key: randomBytes(suite.keyLength), iv: randomBytes(suite.fixedIvLength) };
  const sender = new RecordProtection(suite, {
    writeKey: a.key,
    writeIv: a.iv,
    readKey: b.key,
    readIv: b.iv,
  });
  const receiver = new RecordProtection(suite, {
    writeKey: b.key,
    writeIv: b.iv,
    readKey: a.key,
    readIv: a.iv,
  });
  return { suite, sender, receiver };
}

describe('RecordProtection', () => {
  for (const name of [
    'ECDHE-ECDSA-AES128-GCM-SHA256',
    'ECDHE-ECDSA-AES256-GCM-SHA384',
    'ECDHE-ECDSA-AES128-CCM8',
    'ECDHE-ECDSA-AES256-CCM',
    'ECDHE-ECDSA-CHACHA20-POLY1305',
  ]) {
    it(`${name}: seals a record the other side opens, and refuses any change`, () => {
      const { suite, sender, receiver } = pair(name);
      const plaintext = Buffer.from('a CoAP message');
      const record = sender.seal(23, { epoch: 1, sequence: 0x0102_0304_0506 }, plaintext);
      expect(record.subarray(0, 11).toString('hex')).toBe('17fefd0001010203040506');
      expect(record.length).toBe(sender.overhead + plaintext.length);
      expect(record.readUInt16BE(11)).toBe(record.length - 13);
      expect(receiver.open(record, 0, record.length - 13)?.toString()).toBe('a CoAP message');
      // Content type, version, sequence number, ciphertext and tag are all authenticated.
      for (const offset of [0, 2, 10, 13 + suite.explicitNonceLength, record.length - 1]) {
        const changed = Buffer.from(record);
        changed[offset] = (changed[offset] as number) ^ (offset === 0 ? 0x03 : 0x01);
        expect(receiver.open(changed, 0, changed.length - 13)).toBeUndefined();
      }
      // Our own writes are not readable with our read keys (directions are separate).
      expect(sender.open(record, 0, record.length - 13)).toBeUndefined();
      // Too short to hold a tag.
      expect(receiver.open(record.subarray(0, 14), 0, 1)).toBeUndefined();
    });
  }

  it('opens a record inside a larger datagram at its offset', () => {
    const { sender, receiver } = pair('ECDHE-ECDSA-AES128-CCM8');
    const first = sender.seal(23, { epoch: 1, sequence: 1 }, Buffer.from('one'));
    const second = sender.seal(21, { epoch: 1, sequence: 2 }, Buffer.from([1, 0]));
    const datagram = Buffer.concat([first, second]);
    expect(receiver.open(datagram, first.length, second.length - 13)).toEqual(Buffer.from([1, 0]));
  });

  it('knows only AEAD suites', () => {
    expect(aeadSuiteNamed('ECDHE-ECDSA-AES128-SHA256')).toBeUndefined();
  });
});
