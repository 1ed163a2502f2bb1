import { generate } from 'coap-packet';
import { describe, expect, it } from 'vitest';
import { answerDatagram } from '../../../../src/downstream/coap/answer-datagram.js';
import { answerOptions, type ResponseOptions } from '../../../../src/downstream/coap/option-values.js';

/** What CoapSession sent before answerDatagram: coap-packet's generate() of the same answer. */
function reference(
  code: string,
  token: Buffer,
  messageId: number,
  confirmableRequest: boolean,
  options: ResponseOptions,
  payload: Buffer,
  maxLength: number,
): Buffer {
  return generate(
    {
      code,
      token,
      options: answerOptions(options),
      payload,
      confirmable: false,
      ack: confirmableRequest,
      messageId,
    },
    maxLength,
  );
}

const CODES = [
  '2.05',
  '2.01',
  '2.04',
  '4.00',
  '4.01',
  '4.02',
  '4.03',
  '4.04',
  '4.05',
  '4.06',
  '4.15',
  '5.00',
  '5.03',
];
const TOKENS = [0, 1, 4, 8, 12].map((length) => Buffer.alloc(length, 0xa5 ^ length));
const FORMATS = [undefined, 0, 40, 50, 60, 255, 256, 11542, 65535];
const AGES = [undefined, 0, 1, 60, 255, 256, 65536, 2 ** 24, 2 ** 32 - 1];
const PAYLOADS = [
  Buffer.alloc(0),
  Buffer.from('{"unix_ms":1765000000000,"iso":"2025-12-06T05:46:40.000Z"}'),
  Buffer.of(0x00),
  Buffer.of(0xff, 0xfe),
  Buffer.alloc(300, 0x61),
];

describe('answerDatagram', () => {
  it('makes the bytes coap-packet made for every common answer (Content-Format, Max-Age, payload, token, type)', () => {
    let compared = 0;
    for (const code of CODES)
      for (const token of TOKENS)
        for (const contentFormat of FORMATS)
          for (const maxAge of AGES)
            for (const payload of PAYLOADS)
              for (const confirmable of [true, false]) {
                const messageId = (compared * 7919) & 0xffff;
                const options: ResponseOptions = {};
                if (contentFormat !== undefined) options.contentFormat = contentFormat;
                if (maxAge !== undefined) options.maxAge = maxAge;
                const args = [code, token, messageId, confirmable, options, payload, 1152] as const;
                expect(answerDatagram(...args), JSON.stringify({ code, contentFormat, maxAge })).toEqual(
                  reference(...args),
                );
                compared++;
              }
    expect(compared).toBe(CODES.length * TOKENS.length * FORMATS.length * AGES.length * PAYLOADS.length * 2);
  });

  it('makes the same bytes for answers it leaves to coap-packet (block-wise, ETag, Size, long tokens)', () => {
    const payload = Buffer.from('body');
    const cases: [string, Buffer, ResponseOptions][] = [
      [
        '2.05',
        Buffer.alloc(2, 1),
        { contentFormat: 50, block2: { num: 3, more: true, szx: 6 }, size2: 5000 },
      ],
      ['2.31', Buffer.alloc(2, 1), { block1: { num: 0, more: true, szx: 2 } }],
      ['4.13', Buffer.alloc(0), { size1: 1024, contentFormat: 0 }],
      ['2.03', Buffer.alloc(1), { etag: Buffer.of(1, 2, 3), maxAge: 30 }],
      ['2.05', Buffer.alloc(13, 7), { contentFormat: 60 }],
    ];
    for (const [code, token, options] of cases) {
      const args = [code, token, 0x1234, true, options, payload, 1152] as const;
      expect(answerDatagram(...args)).toEqual(reference(...args));
    }
  });

  it('refuses an answer longer than the largest message, with coap-packet’s error', () => {
    const args = ['2.05', Buffer.alloc(4), 1, true, { contentFormat: 50 }, Buffer.alloc(1200), 1152] as const;
    expect(() => reference(...args)).toThrow('Max packet size is 1152: current is 1211');
    expect(() => answerDatagram(...args)).toThrow('Max packet size is 1152: current is 1211');
    const fits = ['2.05', Buffer.alloc(4), 1, true, { contentFormat: 50 }, Buffer.alloc(1141), 1152] as const;
    expect(answerDatagram(...fits)).toHaveLength(1152);
  });
});
