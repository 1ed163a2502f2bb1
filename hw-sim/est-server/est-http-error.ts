/**
 * An EST request answered with an error status. Thrown inside request handling and turned into a
 * one-line text/plain answer (and an audit entry) in one place, so every refusal looks the same.
 */
export class EstHttpError extends Error {
  readonly status: number;
  readonly headers: Record<string, string>;

  constructor(status: number, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'EstHttpError';
    this.status = status;
    this.headers = headers;
  }
}
