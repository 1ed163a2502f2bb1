import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { ANSWERS_PER_SESSION } from '../../../../src/downstream/answer-cache-bound.js';
import {
  type Exchange,
  ExchangeCache,
  ExchangeState,
} from '../../../../src/downstream/coap/exchange-cache.js';

const LIFETIME = 247_000;
const NOW = 1_000_000;

/** A request answered at once (piggy-backed), its answer kept, the session's answers trimmed as the bound does. */
function answered(cache: ExchangeCache, messageId: number, now = NOW): Exchange {
  const exchange = cache.open(messageId, 'tk', true, now);
  exchange.state = ExchangeState.Answered;
  cache.keep(exchange, Buffer.from([messageId & 0xff]));
  while (cache.answers > ANSWERS_PER_SESSION && cache.dropOldestAnswer());
  return exchange;
}

describe('ExchangeCache', () => {
  it('remembers the latest maxIds message ids (oldest out first), answers for the latest few only', () => {
    const cache = new ExchangeCache(LIFETIME, 512);
    for (let id = 0; id < 600; id++) answered(cache, id);
    expect(cache.find(87, NOW)).toBeUndefined();
    for (const id of [88, 300, 595]) {
      // an id whose answer is gone: still a duplicate (not routed again), answered, nothing to replay
      expect(cache.find(id, NOW)).toMatchObject({
        messageId: id,
        state: ExchangeState.Answered,
        answer: undefined,
      });
    }
    expect(cache.find(599, NOW)?.answer).toEqual(Buffer.from([599 & 0xff]));
    expect(cache.answers).toBe(ANSWERS_PER_SESSION);
  });

  it('forgets an id past its lifetime, and the slot it left does not hide a later exchange of that id', () => {
    const cache = new ExchangeCache(LIFETIME, 8);
    answered(cache, 1);
    answered(cache, 2);
    expect(cache.find(1, NOW + LIFETIME)).toBeUndefined();
    const again = cache.open(1, 'xy', false, NOW + LIFETIME);
    for (let id = 3; id < 9; id++) answered(cache, id, NOW + LIFETIME); // fills the ring over the hole
    expect(cache.find(1, NOW + LIFETIME)).toBe(again);
    expect(cache.find(2, NOW + LIFETIME)).toBeUndefined(); // expired, evicted as the oldest
  });

  it('keeps a pending exchange as it is (state and piggy-back timer) until the session clears', () => {
    const cache = new ExchangeCache(LIFETIME, 512);
    const pending = cache.open(7, 'tk', true, NOW);
    for (let id = 100; id < 120; id++) answered(cache, id);
    expect(cache.find(7, NOW)).toBe(pending);
    let fired = false;
    pending.piggyback = setTimeout(() => {
      fired = true;
    }, 0);
    cache.clear();
    expect(cache.find(7, NOW)).toBeUndefined();
    return new Promise<void>((resolve) =>
      setTimeout(() => {
        expect(fired).toBe(false);
        resolve();
      }, 5),
    );
  });

  it('lets an answered exchange be collected once its answer is dropped (its id alone is kept)', async () => {
    // Why: each request's exchange used to live on in the cache for the next 512 requests, so every
    // scavenge copied them; an exchange still held here is still reachable after a full GC.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const cache = new ExchangeCache(LIFETIME, 512);
    const refs = ((): WeakRef<Exchange>[] => {
      const made: WeakRef<Exchange>[] = [];
      for (let id = 0; id < 20; id++) made.push(new WeakRef(answered(cache, id)));
      return made;
    })();
    await new Promise((resolve) => setTimeout(resolve, 0)); // WeakRefs hold their targets for the current job
    gc();
    const alive = refs.map((ref) => ref.deref() !== undefined);
    expect(alive.slice(0, 20 - ANSWERS_PER_SESSION)).not.toContain(true);
    expect(alive.slice(20 - ANSWERS_PER_SESSION)).not.toContain(false);
    expect(cache.find(3, NOW)).toMatchObject({ state: ExchangeState.Answered, answer: undefined });
  });
});
