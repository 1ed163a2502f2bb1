/**
 * One `resources` entry of an authorization rule: an exact path ("/telemetry"), or a prefix written
 * "/sensors/*" that matches every path below "/sensors/" (not "/sensors" itself).
 */
export function resourceMatcher(pattern: string): (path: string) => boolean {
  if (pattern.endsWith('/*')) {
    const prefix = pattern.slice(0, -1);
    return (path) => path.startsWith(prefix) && path.length > prefix.length;
  }
  return (path) => path === pattern;
}

/**
 * "." and ".." segments would let "/telemetry/../admin" pass a "/telemetry/*" rule; RFC 7252 §6.4
 * has clients remove them, so a request still carrying them is refused rather than interpreted.
 */
export function hasDotSegment(path: string): boolean {
  // Judged on every CoAP request: a path without a dot (the common case) needs no split.
  if (!path.includes('.')) return false;
  return path.split('/').some((segment) => segment === '.' || segment === '..');
}
