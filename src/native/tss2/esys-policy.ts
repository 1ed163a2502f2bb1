import { ESYS_TR, TPM2_ALG, TPM2_RH } from './constants.js';
import type { EsysContext } from './esys-context.js';
import { loadTss2Library } from './library.js';
import { marshal, unmarshal } from './mu.js';
import { encodeDigest, encodeNullHashcheckTicket, encodeSigScheme } from './structures.js';
import { Tss2Error } from './tss2-error.js';

const { NONE } = ESYS_TR;

/** TPM2_SE_POLICY: a policy session (also the EK's, whose authPolicy is PolicySecret(endorsement)). */
export const TPM2_SE_POLICY = 0x01;
const TPM2_SE_TRIAL = 0x03;
/** TPMT_SYM_DEF with algorithm TPM_ALG_NULL: an unencrypted session. */
const SYM_NULL = Uint8Array.from([0x00, 0x10]);

interface PolicyLibrary {
  Esys_StartAuthSession(...args: unknown[]): number;
  Esys_PolicyPCR(...args: unknown[]): number;
  Esys_PolicyAuthValue(...args: unknown[]): number;
  Esys_PolicyGetDigest(...args: unknown[]): number;
  Esys_Sign(...args: unknown[]): number;
  Esys_Free(pointer: bigint): void;
}

let bound: PolicyLibrary | undefined;

function lib(): PolicyLibrary {
  if (bound) return bound;
  const esys = loadTss2Library('libtss2-esys.so.0');
  const s = 'uint32_t s1, uint32_t s2, uint32_t s3';
  bound = {
    Esys_StartAuthSession: esys.func(
      `uint32_t Esys_StartAuthSession(void *context, uint32_t tpmKey, uint32_t bind, ${s}, const void *nonceCaller, uint8_t sessionType, const void *symmetric, uint16_t authHash, _Out_ uint32_t *session)`,
    ),
    Esys_PolicyPCR: esys.func(
      `uint32_t Esys_PolicyPCR(void *context, uint32_t policySession, ${s}, const void *pcrDigest, const void *pcrs)`,
    ),
    Esys_PolicyAuthValue: esys.func(
      `uint32_t Esys_PolicyAuthValue(void *context, uint32_t policySession, ${s})`,
    ),
    Esys_PolicyGetDigest: esys.func(
      `uint32_t Esys_PolicyGetDigest(void *context, uint32_t policySession, ${s}, _Out_ void **policyDigest)`,
    ),
    Esys_Sign: esys.func(
      `uint32_t Esys_Sign(void *context, uint32_t key, ${s}, const void *digest, const void *scheme, const void *validation, _Out_ void **signature)`,
    ),
    Esys_Free: esys.func('void Esys_Free(void *pointer)'),
  } as PolicyLibrary;
  return bound;
}

/**
 * The PolicyPCR ∧ PolicyAuthValue policy of the identity key (keys/tpm/tpm-key-policy.ts): its
 * digest, from a trial session over the TPM's current PCR values, and signing in a policy session
 * that satisfies it. One fresh session per call, flushed before returning.
 */
export class EsysPcrPolicy {
  constructor(private readonly esys: EsysContext) {}

  /** policyDigest of PolicyPCR(`pcrSelection`, current values) then PolicyAuthValue. */
  trialDigest(pcrSelection: Uint8Array): Uint8Array {
    return inAuthSession(this.esys, TPM2_SE_TRIAL, (session) => {
      this.#satisfy(session, pcrSelection);
      const out: [bigint | null] = [null];
      this.#check(
        'Esys_PolicyGetDigest',
        lib().Esys_PolicyGetDigest(this.esys.pointer(), session, NONE, NONE, NONE, out),
      );
      if (!out[0]) throw new Error('ESYS returned no policy digest');
      try {
        return marshal('TPM2B_DIGEST', out[0]).subarray(2);
      } finally {
        lib().Esys_Free(out[0]);
      }
    });
  }

  /** TPM2_Sign of `digest` by `key` (its authValue set with setAuth) in a satisfied policy session. */
  signEcdsa(key: number, digest: Uint8Array, pcrSelection: Uint8Array): Uint8Array {
    return inAuthSession(this.esys, TPM2_SE_POLICY, (session) => {
      this.#satisfy(session, pcrSelection);
      const out: [bigint | null] = [null];
      this.#check(
        'Esys_Sign',
        lib().Esys_Sign(
          this.esys.pointer(),
          key,
          session,
          NONE,
          NONE,
          unmarshal('TPM2B_DIGEST', encodeDigest(digest)),
          unmarshal('TPMT_SIG_SCHEME', encodeSigScheme(TPM2_ALG.ECDSA, TPM2_ALG.SHA256)),
          unmarshal('TPMT_TK_HASHCHECK', encodeNullHashcheckTicket(TPM2_RH.NULL)),
          out,
        ),
      );
      if (!out[0]) throw new Error('ESYS returned no signature');
      try {
        return marshal('TPMT_SIGNATURE', out[0]);
      } finally {
        lib().Esys_Free(out[0]);
      }
    });
  }

  #satisfy(session: number, pcrSelection: Uint8Array): void {
    const ctx = this.esys.pointer();
    // An empty pcrDigest: the TPM uses the PCRs' current values.
    this.#check(
      'Esys_PolicyPCR',
      lib().Esys_PolicyPCR(
        ctx,
        session,
        NONE,
        NONE,
        NONE,
        unmarshal('TPM2B_DIGEST', encodeDigest(new Uint8Array())),
        unmarshal('TPML_PCR_SELECTION', pcrSelection),
      ),
    );
    this.#check('Esys_PolicyAuthValue', lib().Esys_PolicyAuthValue(ctx, session, NONE, NONE, NONE));
  }

  #check(call: string, rc: number): void {
    if (rc !== 0) throw new Tss2Error(call, rc);
  }
}

/**
 * Runs `fn` in a fresh unbound, unsalted session of `type` (SHA-256, no parameter encryption) and
 * flushes it afterwards; a session the TPM already ended with its command is just forgotten.
 */
export function inAuthSession<T>(esys: EsysContext, type: number, fn: (session: number) => T): T {
  const session: [number] = [NONE];
  const rc = lib().Esys_StartAuthSession(
    esys.pointer(),
    NONE,
    NONE,
    NONE,
    NONE,
    NONE,
    null,
    type,
    unmarshal('TPMT_SYM_DEF', SYM_NULL),
    TPM2_ALG.SHA256,
    session,
  );
  if (rc !== 0) throw new Tss2Error('Esys_StartAuthSession', rc);
  try {
    return fn(session[0]);
  } finally {
    try {
      esys.flush(session[0]);
    } catch {
      // Already gone (a session without continueSession ends with its command): forget it.
      try {
        esys.closeTr(session[0]);
      } catch {}
    }
  }
}
