import type { SensorIdentity } from '../../trust/index.js';
import type { CoapAnswer } from './coap-answer.js';
import type { CoapCounters } from './coap-counters.js';
import type { CoapRequest } from './coap-request.js';
import { CONTENT_FORMAT } from './content-format.js';
import type { ResponseOptions } from './option-values.js';

/** One request of an authenticated, authorized sensor, as a resource handles it. */
export class SensorExchange {
  readonly request: CoapRequest;
  readonly response: CoapAnswer;
  readonly sensor: SensorIdentity;
  /** The sensor's name upstream, bound to its enrollment (SensorIdentity.upstreamName). */
  readonly sensorId: string;
  /** The DTLS session, as CoapSessions names it ("address:port/serial": unique, unlike address:port). */
  readonly peer: string;
  readonly path: string;
  /** Uri-Query options, one string each. */
  readonly query: readonly string[];
  readonly #counters: CoapCounters;

  constructor(fields: {
    request: CoapRequest;
    response: CoapAnswer;
    sensor: SensorIdentity;
    sensorId: string;
    peer: string;
    path: string;
    query: readonly string[];
    counters: CoapCounters;
  }) {
    this.request = fields.request;
    this.response = fields.response;
    this.sensor = fields.sensor;
    this.sensorId = fields.sensorId;
    this.peer = fields.peer;
    this.path = fields.path;
    this.query = fields.query;
    this.#counters = fields.counters;
  }

  get method(): string {
    return this.request.method;
  }

  /** A success response (2.xx), counted by code. */
  reply(code: string, payload?: Buffer | string, options?: ResponseOptions): void {
    this.#counters.answered(code);
    this.response.send(code, payload, options);
  }

  /** An error response (4.xx/5.xx) with a text/plain diagnostic, counted by code. */
  refuse(code: string, diagnostic: string, options: ResponseOptions = {}): void {
    this.#counters.refused(code);
    this.response.send(code, diagnostic, { ...options, contentFormat: CONTENT_FORMAT.textPlain });
  }
}
