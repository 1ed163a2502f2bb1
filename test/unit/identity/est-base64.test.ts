import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { certsOnlyPkcs7 } from '../../../hw-sim/est-server/certs-only-pkcs7.js';
import { decodeRfc2045Base64 } from '../../../src/identity/est/base64-rfc2045.js';
import { certificatesFromPkcs7Body, csrAttributesFromBody } from '../../../src/identity/est/est-body.js';
import { EstError } from '../../../src/identity/index.js';

/** RFC 2045 §6.8 decoding of EST bodies, in the forms servers send them. */

// SEQUENCE { OID ecdsa-with-SHA256, OID serialNumber }
const CSRATTRS = Buffer.from('300f06082a8648ce3d0403020603550405', 'hex');
const URL = 'https://est.example:8443/.well-known/est/csrattrs';

let dir: string;
let pkcs7: Buffer;
let certificateDer: Buffer;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egw-est-base64-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'k.pem'),
      '-subj',
      '/CN=est-base64-test',
      '-days',
      '1',
      '-outform',
      'DER',
      '-out',
      join(dir, 'c.der'),
    ],
    { stdio: 'pipe' },
  );
  certificateDer = readFileSync(join(dir, 'c.der'));
  pkcs7 = Buffer.from(certsOnlyPkcs7([new Uint8Array(certificateDer)]));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function debugLines() {
  const lines: { fields: Record<string, unknown>; message: string }[] = [];
  return {
    lines,
    log: { debug: (fields: object, message: string) => lines.push({ fields: { ...fields }, message }) },
  };
}

describe('decodeRfc2045Base64', () => {
  it('ignores and counts bytes outside the alphabet; white space counted apart', () => {
    expect(decodeRfc2045Base64(Buffer.from('TWFu\0'))).toMatchObject({
      ignored: 1,
      whitespace: 0,
      dropped: 0,
      ignoredValues: ['00'],
    });
    const wrapped = decodeRfc2045Base64(Buffer.from('TW\r\nFu\r\n'));
    expect(wrapped.bytes.toString()).toBe('Man');
    expect(wrapped).toMatchObject({ ignored: 0, whitespace: 4 });
    const noisy = decodeRfc2045Base64(Buffer.from('T*W-F!u'));
    expect(noisy.bytes.toString()).toBe('Man');
    expect(noisy).toMatchObject({ ignored: 3, ignoredValues: ['2a', '2d', '21'] });
  });

  it('ends the data at the padding and drops what follows; drops a lone sextet', () => {
    const padded = decodeRfc2045Base64(Buffer.from('TWE=TWFu'));
    expect(padded.bytes.toString()).toBe('Ma');
    expect(padded.dropped).toBe(4);
    const dangling = decodeRfc2045Base64(Buffer.from('TWFuT'));
    expect(dangling.bytes.toString()).toBe('Man');
    expect(dangling.dropped).toBe(1);
  });

  it('decodes nothing from a body without base64 characters', () => {
    expect(decodeRfc2045Base64(Buffer.from('%%%\0\r\n')).bytes).toHaveLength(0);
  });
});

describe('EST body forms', () => {
  const b64 = CSRATTRS.toString('base64');
  const forms: Record<string, Buffer> = {
    unwrapped: Buffer.from(b64),
    'LF-wrapped': Buffer.from(`${b64.slice(0, 10)}\n${b64.slice(10)}\n`),
    'CRLF-wrapped': Buffer.from(`${b64.slice(0, 10)}\r\n${b64.slice(10)}\r\n`),
    'trailing NUL (a C string sent with its terminator)': Buffer.concat([Buffer.from(b64), Buffer.of(0)]),
    'CRLF and a trailing NUL': Buffer.concat([Buffer.from(`${b64}\r\n`), Buffer.of(0)]),
    'plain DER': CSRATTRS,
  };
  for (const [name, body] of Object.entries(forms)) {
    it(`reads csrattrs ${name}`, () => {
      expect(csrAttributesFromBody(body).map((attribute) => attribute.oid)).toEqual([
        '1.2.840.10045.4.3.2',
        '2.5.4.5',
      ]);
    });
  }

  it('says in a debug line how many bytes it ignored', () => {
    const { lines, log } = debugLines();
    const body = Buffer.concat([Buffer.from(b64), Buffer.of(0)]);
    csrAttributesFromBody(body, { operation: 'csrattrs', url: URL, log });
    expect(lines).toHaveLength(1);
    expect(lines[0]?.fields).toMatchObject({ operation: 'csrattrs', ignored: 1, values: ['00'] });
    expect(lines[0]?.message).toMatch(/1 byte\(s\) outside the base64 alphabet ignored.*0x00/);
    // Line breaks alone are how base64 is wrapped: nothing to say.
    csrAttributesFromBody(forms['CRLF-wrapped'] as Buffer, { operation: 'csrattrs', url: URL, log });
    expect(lines).toHaveLength(1);
  });

  it('takes an empty or NUL-only csrattrs as no attributes', () => {
    expect(csrAttributesFromBody(Buffer.alloc(0))).toEqual([]);
    expect(csrAttributesFromBody(Buffer.from('\r\n\0'))).toEqual([]);
  });

  it('refuses a body with no base64 at all, naming the endpoint and quoting the server', () => {
    try {
      csrAttributesFromBody(Buffer.from('%%% ---- ###\0'), {
        operation: 'csrattrs',
        url: URL,
        status: 200,
        contentType: 'application/csrattrs',
      });
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EstError);
      const estError = error as EstError;
      expect(estError.code).toBe('EGW_EST_RESPONSE');
      expect(estError.message).toContain(URL);
      expect(estError.message).toMatch(/holds no base64 data/);
      expect(estError.hint).toContain('200, Content-Type application/csrattrs');
      expect(estError.hint).toContain('%%% ---- ###\\x00');
    }
  });

  it('reads a certs-only PKCS#7 in every form: wrapped, unwrapped, NUL, plain DER', () => {
    const text = pkcs7.toString('base64');
    const crlf = `${(text.match(/.{1,64}/g) ?? []).join('\r\n')}\r\n`;
    const bodies = [
      Buffer.from(text),
      Buffer.from(crlf),
      Buffer.concat([Buffer.from(crlf), Buffer.of(0)]),
      pkcs7, // plain DER: whatever Content-Transfer-Encoding says, the form decides
    ];
    for (const body of bodies) {
      const certificates = certificatesFromPkcs7Body(body, {
        operation: 'cacerts',
        transferEncoding: 'binary',
      });
      expect(Buffer.from(certificates[0]?.rawData ?? new ArrayBuffer(0)).equals(certificateDer)).toBe(true);
    }
  });
});
