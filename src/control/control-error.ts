import { GatewayError } from '../errors/index.js';

export type ControlErrorCode =
  | 'EGW_CONTROL_NOT_RUNNING'
  | 'EGW_CONTROL_PERMISSION'
  | 'EGW_CONTROL_IN_USE'
  | 'EGW_CONTROL_LISTEN'
  | 'EGW_CONTROL_BAD_REQUEST'
  | 'EGW_CONTROL_UNKNOWN_METHOD'
  | 'EGW_CONTROL_TIMEOUT'
  | 'EGW_CONTROL_PROTOCOL';

/** A failure talking over the control socket, on either side. */
export class ControlError extends GatewayError {
  constructor(
    code: ControlErrorCode | string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}
