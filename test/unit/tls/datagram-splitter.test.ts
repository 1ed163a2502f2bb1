import { describe, expect, it } from 'vitest';
import { DatagramSplitter } from '../../../src/tls/dtls/datagram-splitter.js';
import { rawRecord } from '../../helpers/dtls-pki.js';

describe('DatagramSplitter', () => {
  it('packs whole records into datagrams no larger than the MTU', () => {
    const records = [300, 500, 100, 700, 50].map((length, i) => rawRecord(22, 0, Buffer.alloc(length, i)));
    const datagrams = new DatagramSplitter(1000).split(Buffer.concat(records));
    expect(datagrams.map((datagram) => datagram.length)).toEqual([313 + 513 + 113, 713 + 63]);
    expect(Buffer.concat(datagrams).equals(Buffer.concat(records))).toBe(true);
  });

  it('never splits a record, even one above the MTU', () => {
    const big = rawRecord(23, 1, Buffer.alloc(1500));
    const small = rawRecord(23, 1, Buffer.alloc(10));
    const datagrams = new DatagramSplitter(1200).split(Buffer.concat([small, big, small]));
    expect(datagrams.map((datagram) => datagram.length)).toEqual([23, 1513, 23]);
  });

  it('sends an unparseable tail as it is rather than losing it', () => {
    const datagrams = new DatagramSplitter(1200).split(
      Buffer.concat([rawRecord(23, 1, Buffer.alloc(5)), Buffer.alloc(4)]),
    );
    expect(Buffer.concat(datagrams).length).toBe(18 + 4);
  });

  it('returns nothing for nothing', () => {
    expect(new DatagramSplitter(1200).split(Buffer.alloc(0))).toEqual([]);
  });
});
