const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Why `bytes` is not one JSON text (RFC 8259, UTF-8, as JSON.parse reads it), or undefined when it is.
 * Invalid UTF-8 is refused rather than replaced: the body goes upstream as sent.
 */
export function jsonProblem(bytes: Uint8Array): string | undefined {
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    return 'not UTF-8';
  }
  try {
    JSON.parse(text);
    return undefined;
  } catch (error) {
    return (error as Error).message;
  }
}
