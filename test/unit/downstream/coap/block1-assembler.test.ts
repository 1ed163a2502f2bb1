import { describe, expect, it } from 'vitest';
import { Block1Assembler } from '../../../../src/downstream/coap/block1-assembler.js';
import {
  type BlockOption,
  blockOptionValue,
  parseBlockOption,
} from '../../../../src/downstream/coap/index.js';

const bytes = (length: number, fill = 0x61) => Buffer.alloc(length, fill);
/** SZX 2: 64-byte blocks. */
const block = (num: number, more: boolean): BlockOption => ({ num, more, szx: 2 });

function assembler(overrides: Partial<ConstructorParameters<typeof Block1Assembler>[0]> = {}) {
  let now = 0;
  const limits = { maxBytes: 256, maxTransfers: 8, maxTransfersPerPeer: 2, lifetimeMs: 1000, ...overrides };
  return {
    assembler: new Block1Assembler(limits, () => now),
    advance: (ms: number) => {
      now += ms;
    },
  };
}

describe('Block1 option values (RFC 7959 §2.2)', () => {
  it('round-trips num, more and szx in the shortest value', () => {
    for (const option of [
      { num: 0, more: false, szx: 0 },
      { num: 0, more: true, szx: 6 },
      { num: 15, more: true, szx: 2 },
      { num: 4095, more: false, szx: 6 },
      { num: 1_048_575, more: true, szx: 6 },
    ]) {
      expect(parseBlockOption(blockOptionValue(option))).toEqual(option);
    }
    expect(blockOptionValue({ num: 0, more: false, szx: 0 })).toHaveLength(0);
    expect(blockOptionValue({ num: 1, more: true, szx: 2 }).toString('hex')).toBe('1a');
  });

  it('refuses BERT (SZX 7) and values over 3 bytes', () => {
    expect(parseBlockOption(Buffer.from([0x0f]))).toBeUndefined();
    expect(parseBlockOption(Buffer.from([0, 0, 0, 1]))).toBeUndefined();
  });
});

describe('Block1Assembler', () => {
  it('assembles blocks in order into one body', () => {
    const { assembler: blocks } = assembler();
    expect(blocks.add('p', 'k', block(0, true), bytes(64, 0x31), 50)).toEqual({ kind: 'continue' });
    expect(blocks.add('p', 'k', block(1, true), bytes(64, 0x32), 50)).toEqual({ kind: 'continue' });
    expect(blocks.inProgress).toBe(1);
    const last = blocks.add('p', 'k', block(2, false), bytes(10, 0x33), 50);
    expect(last).toEqual({
      kind: 'complete',
      body: Buffer.concat([bytes(64, 0x31), bytes(64, 0x32), bytes(10, 0x33)]),
    });
    expect(blocks.inProgress).toBe(0);
  });

  it('follows a block size the client lowers mid-transfer (the byte offset is what counts)', () => {
    const { assembler: blocks } = assembler();
    expect(blocks.add('p', 'k', { num: 0, more: true, szx: 3 }, bytes(128), 50).kind).toBe('continue');
    // 128 bytes in: block 2 of 64-byte blocks starts there.
    expect(blocks.add('p', 'k', { num: 2, more: false, szx: 2 }, bytes(5), 50)).toMatchObject({
      kind: 'complete',
    });
  });

  it('answers incomplete for a block out of order or of a transfer it does not hold', () => {
    const { assembler: blocks } = assembler();
    expect(blocks.add('p', 'k', block(1, true), bytes(64), 50)).toMatchObject({
      kind: 'incomplete',
      reason: expect.stringMatching(/block 0 missing/),
    });
    blocks.add('p', 'k', block(0, true), bytes(64), 50);
    expect(blocks.add('p', 'k', block(2, true), bytes(64), 50)).toMatchObject({
      kind: 'incomplete',
      reason: 'expected the block at byte 64, got block 2 (byte 128)',
    });
    expect(blocks.inProgress).toBe(0);
  });

  it('refuses a short block with more to come, an overfull block, a Content-Format change', () => {
    const { assembler: blocks } = assembler();
    expect(blocks.add('p', 'k', block(0, true), bytes(63), 50)).toMatchObject({ kind: 'bad' });
    expect(blocks.add('p', 'k', block(0, false), bytes(65), 50)).toMatchObject({ kind: 'bad' });
    blocks.add('p', 'k', block(0, true), bytes(64), 50);
    expect(blocks.add('p', 'k', block(1, false), bytes(1), 60)).toMatchObject({
      kind: 'bad',
      reason: expect.stringMatching(/Content-Format changed/),
    });
  });

  it('answers too-large as soon as the body passes the limit, or Size1 announces it will', () => {
    const { assembler: blocks } = assembler({ maxBytes: 150 });
    expect(blocks.add('p', 'k', block(0, true), bytes(64), 50, 151)).toEqual({ kind: 'too-large' });
    expect(blocks.inProgress).toBe(0);
    blocks.add('p', 'k', block(0, true), bytes(64), 50);
    blocks.add('p', 'k', block(1, true), bytes(64), 50);
    expect(blocks.add('p', 'k', block(2, true), bytes(64), 50)).toEqual({ kind: 'too-large' });
    expect(blocks.inProgress).toBe(0);
    // Exactly the limit is fine.
    blocks.add('p', 'k', block(0, true), bytes(64), 50, 150);
    blocks.add('p', 'k', block(1, true), bytes(64), 50);
    expect(blocks.add('p', 'k', block(2, false), bytes(22), 50)).toMatchObject({ kind: 'complete' });
  });

  it('keeps transfers of different keys and peers apart; block 0 restarts a transfer', () => {
    const { assembler: blocks } = assembler();
    blocks.add('p', 'tag-a', block(0, true), bytes(64, 0x61), 50);
    blocks.add('q', 'tag-a', block(0, true), bytes(64, 0x62), 50);
    blocks.add('p', 'tag-b', block(0, true), bytes(64, 0x63), 50);
    expect(blocks.inProgress).toBe(3);
    blocks.add('p', 'tag-a', block(0, true), bytes(64, 0x64), 50);
    expect(blocks.inProgress).toBe(3);
    const done = blocks.add('p', 'tag-a', block(1, false), bytes(1, 0x65), 50);
    expect(done).toEqual({ kind: 'complete', body: Buffer.concat([bytes(64, 0x64), bytes(1, 0x65)]) });
    expect(blocks.add('q', 'tag-a', block(1, false), bytes(1), 50)).toMatchObject({ kind: 'complete' });
  });

  it('holds at most maxTransfersPerPeer per session and maxTransfers in all, dropping the oldest', () => {
    const { assembler: blocks } = assembler({ maxTransfers: 3, maxTransfersPerPeer: 2 });
    blocks.add('p', 'a', block(0, true), bytes(64), 50);
    blocks.add('p', 'b', block(0, true), bytes(64), 50);
    blocks.add('p', 'c', block(0, true), bytes(64), 50); // drops p/a
    expect(blocks.add('p', 'a', block(1, false), bytes(1), 50).kind).toBe('incomplete');
    blocks.add('q', 'a', block(0, true), bytes(64), 50);
    blocks.add('r', 'a', block(0, true), bytes(64), 50); // drops p/b, the oldest of all
    expect(blocks.inProgress).toBe(3);
    expect(blocks.add('p', 'b', block(1, false), bytes(1), 50).kind).toBe('incomplete');
    expect(blocks.add('p', 'c', block(1, false), bytes(1), 50).kind).toBe('complete');
  });

  it('drops a transfer whose next block comes after its lifetime, and a session that ended', () => {
    const { assembler: blocks, advance } = assembler({ lifetimeMs: 1000 });
    blocks.add('p', 'k', block(0, true), bytes(64), 50);
    advance(600);
    expect(blocks.add('p', 'k', block(1, true), bytes(64), 50).kind).toBe('continue');
    advance(1001);
    expect(blocks.add('p', 'k', block(2, false), bytes(1), 50).kind).toBe('incomplete');
    blocks.add('p', 'k', block(0, true), bytes(64), 50);
    blocks.add('q', 'k', block(0, true), bytes(64), 50);
    blocks.forgetPeer('p');
    expect(blocks.inProgress).toBe(1);
  });
});
