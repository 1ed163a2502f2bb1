import { TrustError } from '../trust-error.js';

/**
 * A CN pattern as operators write it (JavaScript regular expression) matched against the whole CN:
 * "sensor-\d+" must not let "evil-sensor-1x" through, so the pattern is anchored at both ends.
 */
export function compileCnPattern(source: string, where = 'CN pattern'): RegExp {
  try {
    return new RegExp(`^(?:${source})$`);
  } catch (cause) {
    throw new TrustError(
      'EGW_TRUST_INVALID_ARGUMENT',
      `${where} ${JSON.stringify(source)} is not a regular expression: ${(cause as Error).message}`,
      { hint: 'a JavaScript regular expression matched against the whole CN, e.g. "sensor-[0-9]+"', cause },
    );
  }
}
