import { describe, expect, it } from 'vitest';
import { TurnBatch } from '../../../src/downstream/workers/turn-batch.js';

describe('TurnBatch (sensor workers: one postMessage per event-loop turn)', () => {
  it('sends the messages of one turn together, in order, once the turn is over', async () => {
    const sent: number[][] = [];
    const batch = new TurnBatch<number>((messages) => sent.push(messages));
    batch.push(1);
    batch.push(2);
    batch.push(3);
    expect(sent).toEqual([]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([[1, 2, 3]]);
    batch.push(4);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([[1, 2, 3], [4]]);
  });

  it('flush sends what is queued at once (before a port closes), and nothing twice', async () => {
    const sent: string[][] = [];
    const batch = new TurnBatch<string>((messages) => sent.push(messages));
    batch.push('closed');
    batch.flush();
    expect(sent).toEqual([['closed']]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(sent).toEqual([['closed']]);
  });
});
