import { GatewayError } from '../errors/index.js';

/**
 * Stable codes for key-store failures. Backends add detail (a TPM response code, an ATECC status
 * byte) in the message and say what to do in the hint.
 */
export type KeyErrorCode =
  | 'EGW_KEY_NOT_FOUND'
  | 'EGW_KEY_EXISTS'
  | 'EGW_KEY_DEVICE_MISSING'
  | 'EGW_KEY_DEVICE_ERROR'
  | 'EGW_KEY_LOCKOUT'
  | 'EGW_KEY_TIMEOUT'
  | 'EGW_KEY_BAD_DIGEST'
  | 'EGW_KEY_FILE_PERMISSIONS'
  | 'EGW_KEY_LOCKED'
  | 'EGW_KEY_AUTH'
  | 'EGW_KEY_CLOSED';

export class KeyError extends GatewayError {
  constructor(
    code: KeyErrorCode | string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, options);
  }
}
