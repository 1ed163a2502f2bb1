import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ticketWrappingKey } from '../../../src/downstream/index.js';

/** Where the key that wraps the DTLS ticket keys comes from, and what the operator is told when it cannot. */
const dir = mkdtempSync(join(tmpdir(), 'egw-ticket-credential-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('ticketWrappingKey', () => {
  it('derives a 32-byte key from the credential, never the credential itself', () => {
    const secret = Buffer.alloc(32, 7);
    writeFileSync(join(dir, 'dtls-ticket-key'), secret);
    const wrapping = ticketWrappingKey('dtls-ticket-key', { CREDENTIALS_DIRECTORY: dir });
    expect(wrapping.key).toHaveLength(32);
    expect(wrapping.key?.equals(secret)).toBe(false);
  });

  it('says what to do when there is no credential, it is missing, or it is too short', () => {
    expect(ticketWrappingKey('dtls-ticket-key', {})).toMatchObject({
      key: undefined,
      why: expect.stringContaining('add LoadCredentialEncrypted=dtls-ticket-key'),
    });
    expect(ticketWrappingKey('absent', { CREDENTIALS_DIRECTORY: dir })).toMatchObject({
      key: undefined,
      why: expect.stringMatching(/ENOENT.*LoadCredentialEncrypted=absent:.*Sessions across restarts/),
    });
    writeFileSync(join(dir, 'short'), Buffer.alloc(8, 1));
    expect(ticketWrappingKey('short', { CREDENTIALS_DIRECTORY: dir })).toMatchObject({
      key: undefined,
      why: expect.stringContaining('systemd-creds encrypt --name=short'),
    });
  });
});
