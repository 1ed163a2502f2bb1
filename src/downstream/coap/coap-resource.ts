import type { Link } from './link-format.js';
import type { SensorExchange } from './sensor-exchange.js';

/** A resource the router serves: where it is, how /.well-known/core lists it, what it answers. */
export interface CoapResource {
  readonly path: string;
  /** Its /.well-known/core entry; none for the discovery resource itself. */
  readonly link: Link | undefined;
  /** The methods it answers; any other gets 4.05. */
  readonly methods: readonly string[];
  /** Whether its requests may be block-wise (Block1); the others answer a Block1 with 4.02. */
  readonly takesBlock1: boolean;
  /** Whether it answers block by block (Block2, beyond block 0); the others answer such a request 4.02. */
  readonly servesBlock2?: boolean;
  /** Called for authorized requests only, with a method it answers. */
  handle(exchange: SensorExchange): void;
}
