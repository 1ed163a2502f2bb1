import type { Refusal, ValidationReason } from '../validation-reason.js';

/** A certificate (or chain) refused: thrown by parsing, carried as the verdict's refusal. */
export class ValidationFailure extends Error {
  readonly refusal: Refusal;

  constructor(refusal: Refusal) {
    super(`${refusal.reason}: ${refusal.detail}`);
    this.name = 'ValidationFailure';
    this.refusal = refusal;
  }

  /** Thrown while parsing one certificate: depth 0 until the validator knows where it sits. */
  static of(reason: ValidationReason, detail: string): ValidationFailure {
    return new ValidationFailure({ reason, detail, depth: 0 });
  }
}
