import { describe, expect, it } from 'vitest';
import { encodeCbor } from '../../../../src/downstream/coap/index.js';
import type { SensorExchange } from '../../../../src/downstream/coap/sensor-exchange.js';
import { TimeResource } from '../../../../src/downstream/coap/time-resource.js';

/** A GET /time exchange that records the body it is answered with. */
function get(accept?: number): { exchange: SensorExchange; bodies: Buffer[] } {
  const bodies: Buffer[] = [];
  const exchange = {
    request: { accept },
    reply: (_code: string, payload: Buffer) => bodies.push(payload),
    refuse: () => {
      throw new Error('refused');
    },
  } as unknown as SensorExchange;
  return { exchange, bodies };
}

describe('GET /time', () => {
  it('tells the clock of each request: a body kept for one millisecond is not given in the next', () => {
    let now = Date.UTC(2026, 11, 6, 18, 0, 0, 0);
    const resource = new TimeResource(() => new Date(now));
    const answers: unknown[] = [];
    for (const step of [0, 0, 1, 0, 999]) {
      now += step;
      const { exchange, bodies } = get();
      resource.handle(exchange);
      answers.push(JSON.parse((bodies[0] as Buffer).toString()));
    }
    const base = Date.UTC(2026, 11, 6, 18, 0, 0, 0);
    expect(answers).toEqual([
      { unix_ms: base, iso: '2026-12-06T18:00:00.000Z' },
      { unix_ms: base, iso: '2026-12-06T18:00:00.000Z' },
      { unix_ms: base + 1, iso: '2026-12-06T18:00:00.001Z' },
      { unix_ms: base + 1, iso: '2026-12-06T18:00:00.001Z' },
      { unix_ms: base + 1000, iso: '2026-12-06T18:00:01.000Z' },
    ]);
  });

  it('keeps JSON and CBOR apart within one millisecond', () => {
    const resource = new TimeResource(() => new Date(Date.UTC(2026, 0, 1)));
    const json = get();
    const cbor = get(60);
    const jsonAgain = get(50);
    resource.handle(json.exchange);
    resource.handle(cbor.exchange);
    resource.handle(jsonAgain.exchange);
    expect(JSON.parse((json.bodies[0] as Buffer).toString())).toEqual({
      unix_ms: Date.UTC(2026, 0, 1),
      iso: '2026-01-01T00:00:00.000Z',
    });
    expect(cbor.bodies[0]).toEqual(
      encodeCbor({ unix_ms: Date.UTC(2026, 0, 1), iso: '2026-01-01T00:00:00.000Z' }),
    );
    expect(jsonAgain.bodies[0]).toEqual(json.bodies[0]);
  });
});
