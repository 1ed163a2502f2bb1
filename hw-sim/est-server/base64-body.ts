import { EstHttpError } from './est-http-error.js';

/**
 * EST bodies are base64 (RFC 7030 §4, Content-Transfer-Encoding: base64). Servers differ in how they
 * wrap it, which is exactly what clients trip over: we can answer either way.
 */
export function encodeBase64Body(der: Uint8Array, wrap: boolean): Buffer {
  const text = Buffer.from(der).toString('base64');
  if (!wrap) return Buffer.from(text, 'latin1');
  // 64-column lines, CRLF, as MIME (RFC 2045) and most EST servers write it.
  const lines: string[] = [];
  for (let offset = 0; offset < text.length; offset += 64) lines.push(text.slice(offset, offset + 64));
  return Buffer.from(`${lines.join('\r\n')}\r\n`, 'latin1');
}

/** The DER inside a base64 request body, with or without line breaks; anything else is a 400. */
export function decodeBase64Body(body: Buffer): Uint8Array {
  const text = body.toString('latin1');
  if (text.includes('-----BEGIN')) {
    throw new EstHttpError(400, 'the body is PEM; send base64 of the DER CSR without the BEGIN/END lines');
  }
  const compact = text.replace(/\s+/g, '');
  if (compact === '') throw new EstHttpError(400, 'the body is empty; send the CSR as base64 DER');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(compact) || compact.length % 4 === 1) {
    throw new EstHttpError(400, 'the body is not base64; send the CSR as base64 DER (application/pkcs10)');
  }
  return new Uint8Array(Buffer.from(compact, 'base64'));
}
