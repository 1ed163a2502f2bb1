import { type DecodedRc, decodeRc } from './response-code.js';

/**
 * A tpm2-tss call that returned something other than TSS2_RC_SUCCESS.
 *
 * The native layer knows nothing of key stores: callers above (keys/tpm) turn this into a KeyError
 * with the handle, the TCTI and what to do about it.
 */
export class Tss2Error extends Error {
  readonly rc: number;
  /** The tpm2-tss function that failed, e.g. `Esys_Sign`. */
  readonly call: string;
  readonly decoded: DecodedRc;

  constructor(call: string, rc: number) {
    const decoded = decodeRc(rc);
    super(`${call} failed: ${decoded.text}`);
    this.name = 'Tss2Error';
    this.rc = decoded.rc;
    this.call = call;
    this.decoded = decoded;
  }
}
