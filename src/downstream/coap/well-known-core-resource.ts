import type { SensorIdentity } from '../../trust/index.js';
import type { CoapResource } from './coap-resource.js';
import { CONTENT_FORMAT, contentFormatNumber } from './content-format.js';
import { linkFormat, linksMatching } from './link-format.js';
import type { SensorExchange } from './sensor-exchange.js';

/** Whether the authorization policy lets `sensor` use `method` on `path`. */
export type MayUse = (sensor: SensorIdentity, method: string, path: string) => boolean;

/**
 * GET /.well-known/core (RFC 6690): the resources in CoRE Link Format — only those the asking sensor
 * is authorized for, so discovery shows what it can use — filtered by one query (`?rt=gateway.time`).
 */
export class WellKnownCoreResource implements CoapResource {
  readonly path = '/.well-known/core';
  readonly link = undefined;
  readonly methods = ['GET'];
  readonly takesBlock1 = false;
  readonly #resources: () => readonly CoapResource[];
  readonly #mayUse: MayUse;

  constructor(resources: () => readonly CoapResource[], mayUse: MayUse) {
    this.#resources = resources;
    this.#mayUse = mayUse;
  }

  handle(exchange: SensorExchange): void {
    const accept = exchange.request.accept;
    if (accept !== undefined && contentFormatNumber(accept) !== CONTENT_FORMAT.linkFormat) {
      exchange.refuse('4.06', 'GET /.well-known/core answers application/link-format (40)');
      return;
    }
    const links = this.#resources().flatMap((resource) =>
      resource.link && resource.methods.some((method) => this.#mayUse(exchange.sensor, method, resource.path))
        ? [resource.link]
        : [],
    );
    exchange.reply('2.05', linkFormat(linksMatching(links, exchange.query[0])), {
      contentFormat: CONTENT_FORMAT.linkFormat,
    });
  }
}
