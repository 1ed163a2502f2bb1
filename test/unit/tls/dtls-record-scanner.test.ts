import { describe, expect, it } from 'vitest';
import {
  isInitialClientHello,
  largestHandshakeMessage,
  scanDtlsRecords,
} from '../../../src/tls/dtls/dtls-record-scanner.js';
import { clientHello, rawRecord } from '../../helpers/dtls-pki.js';

describe('scanDtlsRecords', () => {
  it('reads a ClientHello datagram and recognises it as the start of a handshake', () => {
    const scan = scanDtlsRecords(clientHello());
    expect(scan.ok).toBe(true);
    if (!scan.ok) return;
    expect(scan.records).toHaveLength(1);
    expect(scan.records[0]).toMatchObject({ contentType: 22, version: 0xfeff, epoch: 0 });
    expect(scan.records[0]?.handshake?.type).toBe(1);
    expect(isInitialClientHello(scan.records)).toBe(true);
  });

  it('reads several records of one datagram', () => {
    const datagram = Buffer.concat([rawRecord(20, 0, Buffer.from([1])), rawRecord(23, 1, Buffer.alloc(40))]);
    const scan = scanDtlsRecords(datagram);
    expect(
      scan.ok && scan.records.map((record) => [record.contentType, record.epoch, record.offset]),
    ).toEqual([
      [20, 0, 0],
      [23, 1, 14],
    ]);
  });

  it.each([
    ['an empty datagram', Buffer.alloc(0), /empty/],
    ['a short header', Buffer.from([23, 0xfe, 0xfd, 0]), /truncated record header/],
    ['an unknown content type', rawRecord(24, 1, Buffer.alloc(4)), /content type 24/],
    ['a TLS record', Buffer.concat([Buffer.from([23, 3, 3]), Buffer.alloc(12)]), /not a DTLS/],
    ['a record longer than the datagram', rawRecord(23, 1, Buffer.alloc(4), 40), /truncated record/],
    [
      'stray bytes after a record',
      Buffer.concat([rawRecord(23, 1, Buffer.alloc(4)), Buffer.alloc(3)]),
      /truncated/,
    ],
    [
      'a handshake fragment longer than its record',
      rawRecord(22, 0, Buffer.from([1, 0, 0, 99, 0, 0, 0, 0, 0, 0, 0, 99])),
      /fragment/,
    ],
  ])('rejects %s', (_what, datagram, reason) => {
    const scan = scanDtlsRecords(datagram);
    expect(scan.ok).toBe(false);
    if (!scan.ok) expect(scan.reason).toMatch(reason);
  });

  it('does not take a fragmented or encrypted ClientHello for the start of a handshake', () => {
    const fragment = rawRecord(22, 0, Buffer.from([1, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 4, 1, 2, 3, 4]));
    const scan = scanDtlsRecords(fragment);
    expect(scan.ok && isInitialClientHello(scan.records)).toBe(false);
    const encrypted = scanDtlsRecords(rawRecord(22, 1, Buffer.alloc(40)));
    expect(encrypted.ok && isInitialClientHello(encrypted.records)).toBe(false);
  });

  it('reports the largest handshake message announced', () => {
    const certificate = rawRecord(
      22,
      0,
      Buffer.concat([Buffer.from([11, 0, 0x40, 0, 0, 2, 0, 0, 0, 0, 0, 4]), Buffer.alloc(4)]),
    );
    const scan = scanDtlsRecords(Buffer.concat([certificate, rawRecord(23, 1, Buffer.alloc(4))]));
    expect(scan.ok && largestHandshakeMessage(scan.records)).toBe(0x4000);
  });
});
