import { GatewayError } from '../errors/index.js';

export type MetricsErrorCode = 'EGW_METRICS_LISTEN';

/** The metrics endpoint could not be served. */
export class MetricsError extends GatewayError {
  constructor(code: MetricsErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
