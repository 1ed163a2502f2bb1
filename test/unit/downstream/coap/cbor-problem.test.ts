import { describe, expect, it } from 'vitest';
import { cborProblem, encodeCbor } from '../../../../src/downstream/coap/index.js';

const hex = (text: string) => Buffer.from(text.replace(/\s/g, ''), 'hex');

/** RFC 8949 Appendix A: every example encoding is one well-formed item. */
const WELL_FORMED = [
  '00',
  '17',
  '1818',
  '1903e8',
  '1a000f4240',
  '1b000000e8d4a51000',
  '1bffffffffffffffff',
  'c249010000000000000000',
  '3bffffffffffffffff',
  '20',
  '3903e7',
  'f90000',
  'f98000',
  'f93c00',
  'fb3ff199999999999a',
  'f97bff',
  'fa47c35000',
  'fb7e37e43c8800759c',
  'f97c00',
  'f97e00',
  'fa7f800000',
  'fb7ff0000000000000',
  'f4',
  'f5',
  'f6',
  'f7',
  'f0',
  'f8ff',
  'c074323031332d30332d32315432303a30343a30305a',
  'c11a514b67b0',
  'd74401020304',
  'd818456449455446',
  'd82076687474703a2f2f7777772e6578616d706c652e636f6d',
  '40',
  '4401020304',
  '60',
  '6161',
  '6449455446',
  '62225c',
  '62c3bc',
  '63e6b0b4',
  '64f0908591',
  '80',
  '83010203',
  '8301820203820405',
  '98190102030405060708090a0b0c0d0e0f101112131415161718181819',
  'a0',
  'a201020304',
  'a26161016162820203',
  '826161a161626163',
  'a56161614161626142616361436164614461656145',
  '5f42010243030405ff',
  '7f657374726561646d696e67ff',
  '9fff',
  '9f018202039f0405ffff',
  '9f01820203820405ff',
  '83018202039f0405ff',
  '83019f0203ff820405',
  '9f0102030405060708090a0b0c0d0e0f101112131415161718181819ff',
  'bf61610161629f0203ffff',
  '826161bf61626163ff',
  'bf6346756ef563416d7421ff',
];

/** RFC 8949 Appendix F.1: examples of CBOR data items that are not well-formed, by kind. */
const ILL_FORMED: Array<[string, string[], RegExp]> = [
  [
    'end of input in a head',
    [
      '18',
      '19',
      '1a',
      '1b',
      '1901',
      '1a0102',
      '1b01020304050607',
      '38',
      '58',
      '78',
      '98',
      '9a01ff00',
      'b8',
      'd8',
      'f8',
      'f900',
      'fa0000',
      'fb000000',
    ],
    /truncated/,
  ],
  [
    'definite-length strings with short data',
    ['41', '61', '5affffffff00', '5bffffffffffffffff010203', '7affffffff00', '7b7fffffffffffffff010203'],
    /truncated/,
  ],
  [
    'definite-length maps and arrays not closed with enough items',
    ['81', '818181818181818181', '8200', 'a1', 'a20102', 'a100', 'a2000000'],
    /truncated/,
  ],
  ['a tag number not followed by tag content', ['c0'], /truncated/],
  ['indefinite-length strings not closed by a break', ['5f4100', '7f6100'], /truncated/],
  [
    'indefinite-length maps and arrays not closed by a break',
    ['9f', '9f0102', 'bf', 'bf01020102', '819f', '9f8000', '9f9f9f9f9fffffffff', '9f819f819f9fffffff'],
    /truncated/,
  ],
  [
    'reserved additional information values',
    [
      '1c',
      '1d',
      '1e',
      '3c',
      '3d',
      '3e',
      '5c',
      '5d',
      '5e',
      '7c',
      '7d',
      '7e',
      '9c',
      '9d',
      '9e',
      'bc',
      'bd',
      'be',
      'dc',
      'dd',
      'de',
      'fc',
      'fd',
      'fe',
    ],
    /reserved additional information/,
  ],
  [
    'reserved two-byte encodings of simple values',
    ['f800', 'f801', 'f818', 'f81f'],
    /simple value \d+ must be encoded in one byte/,
  ],
  [
    'indefinite-length string chunks of the wrong type',
    ['5f00ff', '5f21ff', '5f6100ff', '5f80ff', '5fa0ff', '5fc000ff', '5fe0ff', '7f4100ff'],
    /definite-length chunks of its own type/,
  ],
  [
    'indefinite-length string chunks of indefinite length',
    ['5f5f4100ffff', '7f7f6100ffff'],
    /definite-length chunks/,
  ],
  ['a break on its own', ['ff'], /break outside an indefinite-length item/],
  [
    'a break in a definite-length array, map or tag',
    ['81ff', '8200ff', 'a1ff', 'a1ff00', 'a100ff', 'a20000ff', '9f81ff', '9f829f819f9fffffffff'],
    // "a1ff" is also too short for one key and value: the count check says so first.
    /break outside an indefinite-length item|truncated: the array or map announces more/,
  ],
  ['a break where a map value belongs', ['bf00ff', 'bf000000ff'], /break where a map value belongs/],
  ['major types 0, 1 and 6 with indefinite length', ['1f', '3f', 'df'], /cannot have an indefinite length/],
];

describe('cborProblem', () => {
  it.each(WELL_FORMED)('accepts RFC 8949 Appendix A example %s', (example) => {
    expect(cborProblem(hex(example))).toBeUndefined();
  });

  for (const [kind, examples, reason] of ILL_FORMED) {
    it(`refuses ${kind} (RFC 8949 Appendix F)`, () => {
      for (const example of examples) expect(cborProblem(hex(example)), example).toMatch(reason);
    });
  }

  it('says where the input went wrong', () => {
    expect(cborProblem(hex('8301021c'))).toBe('reserved additional information 28 (offset 3)');
    expect(cborProblem(hex('a16161'))).toBe('truncated (offset 3)');
  });

  it('refuses an empty body and trailing bytes (a CBOR sequence is not Content-Format 60)', () => {
    expect(cborProblem(new Uint8Array(0))).toMatch(/empty/);
    expect(cborProblem(hex('0102'))).toBe('1 byte(s) after the data item (offset 1)');
    expect(cborProblem(hex('a0a0'))).toMatch(/after the data item/);
  });

  it('refuses text strings that are not UTF-8, in definite and indefinite strings', () => {
    expect(cborProblem(hex('62c328'))).toMatch(/not UTF-8/);
    expect(cborProblem(hex('63eda080'))).toMatch(/not UTF-8/); // an encoded surrogate
    // The bytes of one code point split over two chunks: each chunk must be text on its own.
    expect(cborProblem(hex('7f61c361bcff'))).toMatch(/not UTF-8/);
    expect(cborProblem(hex('62c3bc'))).toBeUndefined();
    expect(cborProblem(hex('42c328'))).toBeUndefined(); // byte strings are just bytes
  });

  it('limits nesting of arrays, maps and tags, definite or indefinite', () => {
    const nested = (opener: string, depth: number, closer = '') =>
      hex(`${opener.repeat(depth)}00${closer.repeat(depth)}`);
    expect(cborProblem(nested('81', 32))).toBeUndefined();
    expect(cborProblem(nested('81', 33))).toMatch(/nested deeper than 32 levels \(offset 32\)/);
    expect(cborProblem(nested('9f', 33, 'ff'))).toMatch(/nested deeper than 32/);
    expect(cborProblem(nested('a100', 33))).toMatch(/nested deeper than 32/);
    expect(cborProblem(nested('c1', 33))).toMatch(/nested deeper than 32/);
    expect(cborProblem(nested('81', 100), 100)).toBeUndefined();
    expect(cborProblem(nested('81', 3), 2)).toMatch(/nested deeper than 2/);
  });

  it('refuses huge announced counts and lengths at once, without looping over them', () => {
    expect(cborProblem(hex('9bffffffffffffffff00'))).toMatch(/array or map announces more/);
    expect(cborProblem(hex('bbffffffffffffffff00'))).toMatch(/array or map announces more/);
    expect(cborProblem(hex('5bffffffffffffffff00'))).toMatch(/string announces more/);
  });

  it('accepts what the gateway encodes itself', () => {
    const time = encodeCbor({ unix_ms: 1_700_000_000_123, iso: '2023-11-14T22:13:20.123Z' });
    expect(cborProblem(time)).toBeUndefined();
  });
});

describe('encodeCbor', () => {
  it('writes the shortest heads (RFC 8949 §4.1 preferred serialization)', () => {
    expect(encodeCbor(0).toString('hex')).toBe('00');
    expect(encodeCbor(23).toString('hex')).toBe('17');
    expect(encodeCbor(24).toString('hex')).toBe('1818');
    expect(encodeCbor(1000).toString('hex')).toBe('1903e8');
    expect(encodeCbor(1_000_000).toString('hex')).toBe('1a000f4240');
    expect(encodeCbor(1_000_000_000_000).toString('hex')).toBe('1b000000e8d4a51000');
    expect(encodeCbor('IETF').toString('hex')).toBe('6449455446');
    expect(encodeCbor('ü').toString('hex')).toBe('62c3bc');
    expect(encodeCbor({ a: 1, b: 'c' }).toString('hex')).toBe('a2616101616261' + '63');
  });

  it('refuses what it does not encode', () => {
    expect(() => encodeCbor(-1)).toThrow(RangeError);
    expect(() => encodeCbor(1.5)).toThrow(RangeError);
  });
});
