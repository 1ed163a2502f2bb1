import { GatewayError } from '../../errors/index.js';

export type OutboxErrorCode =
  | 'EGW_OUTBOX_CLOSED'
  | 'EGW_OUTBOX_MESSAGE_TOO_LARGE'
  | 'EGW_OUTBOX_WRITE_FAILED';

/**
 * The outbox could not take a message for a reason other than being full (a full outbox under the
 * "refuse" policy is an answer, OutboxFull, not an error).
 */
export class OutboxError extends GatewayError {
  constructor(code: OutboxErrorCode, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(code, message, options);
  }
}
