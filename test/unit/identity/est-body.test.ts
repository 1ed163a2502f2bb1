import { describe, expect, it } from 'vitest';
import {
  csrAttributesFromBody,
  EstError,
  judgeCsrAttributes,
  retryAfterMs,
} from '../../../src/identity/index.js';

describe('EST bodies', () => {
  it('reads csrattrs: bare OIDs and attributes with OID values, base64 wrapped or not', () => {
    // SEQUENCE { OID ecdsa-with-SHA256, OID serialNumber, SEQUENCE { OID extensionRequest, SET { OID 1.3.6.1.4.1.12345.1.1 } } }
    const oid = Buffer.from('06092b06010401e0390101', 'hex');
    const attribute = Buffer.concat([
      Buffer.from('06092a864886f70d01090e', 'hex'),
      Buffer.from([0x31, oid.length]),
      oid,
    ]);
    const body = Buffer.concat([
      Buffer.from('06082a8648ce3d040302', 'hex'),
      Buffer.from('0603550405', 'hex'),
      Buffer.from([0x30, attribute.length]),
      attribute,
    ]);
    const csrattrs = Buffer.concat([Buffer.from([0x30, body.length]), body]);
    const wrapped = `${csrattrs.toString('base64').replace(/(.{16})/g, '$1\r\n')}\r\n`;
    for (const text of [csrattrs.toString('base64'), wrapped]) {
      expect(csrAttributesFromBody(Buffer.from(text))).toEqual([
        { oid: '1.2.840.10045.4.3.2', values: [] },
        { oid: '2.5.4.5', values: [] },
        { oid: '1.2.840.113549.1.9.14', values: ['1.3.6.1.4.1.12345.1.1'] },
      ]);
    }
  });

  it('says clearly when a body is not base64', () => {
    try {
      csrAttributesFromBody(Buffer.from('<html>proxy error</html>'));
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(EstError);
      expect((error as EstError).code).toBe('EGW_EST_RESPONSE');
      expect((error as EstError).message).toContain('<html>proxy error</html>');
    }
  });

  it('reads Retry-After as seconds or an HTTP date', () => {
    expect(retryAfterMs('120')).toBe(120_000);
    const now = Date.parse('2027-01-01T00:00:00Z');
    expect(retryAfterMs('Fri, 01 Jan 2027 00:00:30 GMT', now)).toBe(30_000);
    expect(retryAfterMs(undefined)).toBe(60_000);
    expect(retryAfterMs('soon')).toBe(60_000);
  });
});

describe('judgeCsrAttributes', () => {
  const deviceType = '1.3.6.1.4.1.12345.1.1';
  it('honours what our CSR carries, ignores the unknown, and never invents a challengePassword', () => {
    expect(
      judgeCsrAttributes(
        [
          { oid: '1.2.840.10045.4.3.2', values: [] },
          { oid: '2.5.4.5', values: [] },
          { oid: '1.2.840.10045.2.1', values: ['1.2.840.10045.3.1.7'] },
          { oid: '1.2.840.113549.1.9.14', values: [deviceType, '1.2.3.4'] },
          { oid: '1.2.840.113549.1.9.7', values: [] },
        ],
        deviceType,
      ),
    ).toEqual({
      honoured: ['ecdsaWithSha256', 'serialNumber', 'ecPublicKey(secp256r1)', `deviceType(${deviceType})`],
      ignored: ['1.2.3.4', 'challengePassword'],
      impossible: [],
    });
  });

  it('says what the key cannot give: another curve or hash', () => {
    const verdict = judgeCsrAttributes(
      [
        { oid: '1.2.840.10045.2.1', values: ['1.3.132.0.34'] },
        { oid: '1.2.840.10045.4.3.3', values: [] },
      ],
      deviceType,
    );
    expect(verdict.impossible).toEqual([
      'ecPublicKey on 1.3.132.0.34 (this key is P-256)',
      'ecdsaWithSha384 (this key signs ECDSA P-256 with SHA-256)',
    ]);
  });
});
