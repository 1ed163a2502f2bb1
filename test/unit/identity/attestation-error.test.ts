import { describe, expect, it } from 'vitest';
import { attestationError, decodeChallengeAnswer } from '../../../src/identity/attestation/index.js';
import { EstError } from '../../../src/identity/est/index.js';
import { KeyError } from '../../../src/keys/index.js';

describe('attestationError', () => {
  it('gives an unreadable challenge answer a stable code, the cause and what to check', () => {
    let thrown: unknown;
    try {
      decodeChallengeAnswer(new Uint8Array([0x04, 0x01, 0x00]));
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(Error);
    const error = attestationError(thrown);
    expect(error).toBeInstanceOf(EstError);
    expect(error.code).toBe('EGW_EST_ATTESTATION');
    expect(error.message).toMatch(/^cannot make the attestation evidence: /);
    expect(error.hint).toContain('identity.attestation.mode = "off"');
    expect((error as EstError).retryable).toBe(true);
    expect(error.cause).toBe(thrown);
  });

  it('keeps the code of an EST or key error', () => {
    const est = new EstError('EGW_EST_HTTP', 'the server answered 404', { status: 404 });
    const key = new KeyError('EGW_KEY_AUTH', 'wrong secret');
    expect(attestationError(est)).toBe(est);
    expect(attestationError(key)).toBe(key);
  });
});
