import { GatewayError } from '../errors/index.js';

export type StoreErrorCode =
  | 'EGW_STORE_UNOPENABLE'
  | 'EGW_STORE_CORRUPT'
  | 'EGW_STORE_SCHEMA_NEWER'
  | 'EGW_STORE_MIGRATION_FAILED';

/** The state database cannot be used. The daemon never recreates or alters it to get past one. */
export class StoreError extends GatewayError {
  readonly path: string;

  constructor(
    code: StoreErrorCode,
    path: string,
    message: string,
    options: { hint?: string; cause?: unknown } = {},
  ) {
    super(code, message, options);
    this.path = path;
  }
}
