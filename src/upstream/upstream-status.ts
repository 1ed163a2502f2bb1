import { GatewayError } from '../errors/index.js';
import type { UpstreamStatus } from './upstream-client-options.js';

/**
 * The last thing that went wrong on the upstream side, as `gatewayctl status` shows it. Connection,
 * publisher and command ingress all report here; the newest report wins.
 */
export class LastError {
  readonly #clock: () => number;
  #value: UpstreamStatus['lastError'];

  constructor(clock: () => number) {
    this.#clock = clock;
  }

  get value(): UpstreamStatus['lastError'] {
    return this.#value;
  }

  record(error: Error): void {
    const gatewayError = error instanceof GatewayError ? error : undefined;
    this.#value = {
      code: gatewayError?.code ?? 'EGW_UPSTREAM_PROTOCOL',
      message: error.message,
      hint: gatewayError?.hint,
      at: new Date(this.#clock()).toISOString(),
    };
  }
}
