/**
 * One base class for every error the gateway raises on purpose.
 *
 * `code` is stable (EGW_*): scripts, tests and operators match on it, never on the message.
 * `hint` says what to do about it; the message says what was wrong and where.
 */
export class GatewayError extends Error {
  readonly code: string;
  readonly hint: string | undefined;

  constructor(code: string, message: string, options: { hint?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.hint = options.hint;
  }

  /** Message and hint on one or two lines, as an operator should read them. */
  describe(): string {
    return this.hint ? `${this.message}\n  hint: ${this.hint}` : this.message;
  }
}
