import { GatewayError } from '../../errors/index.js';
import { EstError } from '../est/index.js';

/**
 * Making the evidence failed: an EST or key error keeps its own code; anything else (the server's
 * challenge could not be read, the part gave no certificates, a backend that cannot attest) becomes
 * EGW_EST_ATTESTATION, so the operator sees a stable code and what to check.
 */
export function attestationError(error: unknown): GatewayError {
  if (error instanceof GatewayError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new EstError('EGW_EST_ATTESTATION', `cannot make the attestation evidence: ${message}`, {
    hint: 'identity.attestation needs an EST server with /.well-known/est/attest-challenge and a key that can attest (a TPM with its EK certificate, or the ATECC608A with its device and signer certificates); set identity.attestation.mode = "off" for a server without it',
    cause: error,
  });
}
