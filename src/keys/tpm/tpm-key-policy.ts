import { type EsysContext, EsysPcrPolicy, type PublicArea } from '../../native/tss2/index.js';
import { KeyError } from '../key-error.js';
import { encodePcrSelection, parsePcrSelection } from './pcr-selection.js';

/**
 * The optional PCR policy of the identity keys (identity.key.tpm.pcr_policy, e.g. "sha256:7"): a key
 * created with it has authPolicy = PolicyPCR(selection, the PCR values at creation) ∧
 * PolicyAuthValue and no userWithAuth, so it signs only while those PCRs hold the values they had
 * (the same boot chain) and only for whoever also holds the auth secret (tpm-key-auth.ts). Each
 * signature takes a fresh policy session: four more TPM commands (start, PolicyPCR,
 * PolicyAuthValue, flush); measured on swtpm, a signature's median goes from 0.4–0.5 ms to ~5 ms.
 *
 * The price: a firmware, bootloader or Secure Boot policy update that changes a selected PCR makes
 * the key unusable until it is re-provisioned; hence off by default.
 */

/** The encoded TPML_PCR_SELECTION of a configured policy, or undefined when off (""). */
export function pcrPolicySelection(text: string | undefined): Uint8Array | undefined {
  if (!text) return undefined;
  try {
    return encodePcrSelection(parsePcrSelection(text));
  } catch (error) {
    throw new KeyError('EGW_KEY_DEVICE_ERROR', `identity.key.tpm.pcr_policy: ${(error as Error).message}`);
  }
}

/** The policy digest a new key gets, from the PCRs' current values. */
export function pcrPolicyDigest(esys: EsysContext, selection: Uint8Array): Uint8Array {
  return new EsysPcrPolicy(esys).trialDigest(selection);
}

/** A key that can only be used through a policy (no userWithAuth, an authPolicy). */
export function hasPolicy(area: PublicArea): boolean {
  return area.authPolicy.length > 0;
}

export function signWithPolicy(esys: EsysContext, key: number, digest: Uint8Array, selection: Uint8Array) {
  return new EsysPcrPolicy(esys).signEcdsa(key, digest, selection);
}
