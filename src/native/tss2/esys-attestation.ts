import { ESYS_TR, TPM2_ALG } from './constants.js';
import type { EsysContext } from './esys-context.js';
import { inAuthSession, TPM2_SE_POLICY } from './esys-policy.js';
import { loadTss2Library } from './library.js';
import { type MuType, marshal, unmarshal } from './mu.js';
import { encodeSigScheme } from './structures.js';
import { Tss2Error } from './tss2-error.js';

const { NONE, PASSWORD } = ESYS_TR;
type Out = [bigint | null];

interface AttestationLibrary {
  Esys_Certify(...args: unknown[]): number;
  Esys_Quote(...args: unknown[]): number;
  Esys_NV_ReadPublic(...args: unknown[]): number;
  Esys_NV_Read(...args: unknown[]): number;
  Esys_PolicySecret(...args: unknown[]): number;
  Esys_ActivateCredential(...args: unknown[]): number;
  Esys_Free(pointer: bigint): void;
}

let bound: AttestationLibrary | undefined;

/** The ESYS commands of remote attestation, bound apart from esys.ts (which the key path needs alone). */
function lib(): AttestationLibrary {
  if (bound) return bound;
  const esys = loadTss2Library('libtss2-esys.so.0');
  const s = 'uint32_t s1, uint32_t s2, uint32_t s3';
  bound = {
    Esys_Certify: esys.func(
      `uint32_t Esys_Certify(void *context, uint32_t object, uint32_t signKey, ${s}, const void *qualifyingData, const void *inScheme, _Out_ void **certifyInfo, _Out_ void **signature)`,
    ),
    Esys_Quote: esys.func(
      `uint32_t Esys_Quote(void *context, uint32_t signKey, ${s}, const void *qualifyingData, const void *inScheme, const void *pcrSelect, _Out_ void **quoted, _Out_ void **signature)`,
    ),
    Esys_NV_ReadPublic: esys.func(
      `uint32_t Esys_NV_ReadPublic(void *context, uint32_t nvIndex, ${s}, _Out_ void **nvPublic, _Out_ void **nvName)`,
    ),
    Esys_NV_Read: esys.func(
      `uint32_t Esys_NV_Read(void *context, uint32_t authHandle, uint32_t nvIndex, ${s}, uint16_t size, uint16_t offset, _Out_ void **data)`,
    ),
    Esys_PolicySecret: esys.func(
      `uint32_t Esys_PolicySecret(void *context, uint32_t authHandle, uint32_t policySession, ${s}, const void *nonceTPM, const void *cpHashA, const void *policyRef, int32_t expiration, _Out_ void **timeout, _Out_ void **policyTicket)`,
    ),
    Esys_ActivateCredential: esys.func(
      `uint32_t Esys_ActivateCredential(void *context, uint32_t activateHandle, uint32_t keyHandle, ${s}, const void *credentialBlob, const void *secret, _Out_ void **certInfo)`,
    ),
    Esys_Free: esys.func('void Esys_Free(void *pointer)'),
  } as AttestationLibrary;
  return bound;
}

export interface SignedAttestation {
  /** TPMS_ATTEST (the contents of TPM2B_ATTEST: what the signature covers). */
  attest: Uint8Array;
  /** TPMT_SIGNATURE (wire). */
  signature: Uint8Array;
}

/**
 * TPM2_Certify, TPM2_Quote, NV reads and credential activation on an open EsysContext. Objects are
 * authorized with password sessions, so an object's authValue must have been given to ESYS
 * (EsysContext.setAuth) beforehand.
 */
export class EsysAttestation {
  constructor(private readonly esys: EsysContext) {}

  /** TPM2_Certify of `object` by the restricted ECDSA key `signKey`, with `qualifyingData` (the nonce). */
  certify(object: number, signKey: number, qualifyingData: Uint8Array): SignedAttestation {
    const info: Out = [null];
    const signature: Out = [null];
    this.#check(
      'Esys_Certify',
      lib().Esys_Certify(
        this.esys.pointer(),
        object,
        signKey,
        PASSWORD,
        PASSWORD,
        NONE,
        unmarshal('TPM2B_DATA', tpm2b(qualifyingData)),
        unmarshal('TPMT_SIG_SCHEME', encodeSigScheme(TPM2_ALG.ECDSA, TPM2_ALG.SHA256)),
        info,
        signature,
      ),
      info,
      signature,
    );
    return { attest: this.#attest(info[0]), signature: this.#take(signature[0], 'TPMT_SIGNATURE') };
  }

  /** TPM2_Quote over `pcrSelection` (TPML_PCR_SELECTION wire) by `signKey`, with `qualifyingData`. */
  quote(signKey: number, qualifyingData: Uint8Array, pcrSelection: Uint8Array): SignedAttestation {
    const quoted: Out = [null];
    const signature: Out = [null];
    this.#check(
      'Esys_Quote',
      lib().Esys_Quote(
        this.esys.pointer(),
        signKey,
        PASSWORD,
        NONE,
        NONE,
        unmarshal('TPM2B_DATA', tpm2b(qualifyingData)),
        unmarshal('TPMT_SIG_SCHEME', encodeSigScheme(TPM2_ALG.ECDSA, TPM2_ALG.SHA256)),
        unmarshal('TPML_PCR_SELECTION', pcrSelection),
        quoted,
        signature,
      ),
      quoted,
      signature,
    );
    return { attest: this.#attest(quoted[0]), signature: this.#take(signature[0], 'TPMT_SIGNATURE') };
  }

  /**
   * The whole contents of NV index `nvIndex` (e.g. the EK certificate at 0x01C00002), read in chunks
   * of `chunk` bytes with the index's own (empty) authorization, as EK certificate indices allow.
   */
  readNv(nvIndex: number, chunk = 768): Uint8Array {
    const index = this.esys.trFromTpmPublic(nvIndex);
    try {
      const nvPublic: Out = [null];
      this.#check(
        'Esys_NV_ReadPublic',
        lib().Esys_NV_ReadPublic(this.esys.pointer(), index, NONE, NONE, NONE, nvPublic, null),
        nvPublic,
      );
      const publicWire = this.#take(nvPublic[0], 'TPM2B_NV_PUBLIC');
      // TPM2B_NV_PUBLIC: size u16, nvIndex u32, nameAlg u16, attributes u32, authPolicy TPM2B, dataSize u16.
      const view = new DataView(publicWire.buffer, publicWire.byteOffset, publicWire.byteLength);
      const policySize = view.getUint16(12);
      const dataSize = view.getUint16(14 + policySize);
      const out = new Uint8Array(dataSize);
      for (let offset = 0; offset < dataSize; offset += chunk) {
        const size = Math.min(chunk, dataSize - offset);
        const data: Out = [null];
        this.#check(
          'Esys_NV_Read',
          lib().Esys_NV_Read(this.esys.pointer(), index, index, PASSWORD, NONE, NONE, size, offset, data),
          data,
        );
        out.set(this.#take(data[0], 'TPM2B_MAX_NV_BUFFER').subarray(2), offset);
      }
      return out;
    } finally {
      this.esys.closeTr(index);
    }
  }

  /**
   * TPM2_ActivateCredential: recovers the secret a verifier encrypted to the EK `ek` for the key
   * `activate` (TPM2_MakeCredential done in software). The EK's authPolicy is
   * PolicySecret(TPM_RH_ENDORSEMENT), satisfied in a fresh policy session.
   */
  activateCredential(
    activate: number,
    ek: number,
    credentialBlob: Uint8Array,
    secret: Uint8Array,
  ): Uint8Array {
    return inAuthSession(this.esys, TPM2_SE_POLICY, (session) => {
      this.#check(
        'Esys_PolicySecret',
        lib().Esys_PolicySecret(
          this.esys.pointer(),
          ESYS_TR.RH_ENDORSEMENT,
          session,
          PASSWORD,
          NONE,
          NONE,
          null,
          null,
          null,
          0,
          null,
          null,
        ),
      );
      const certInfo: Out = [null];
      this.#check(
        'Esys_ActivateCredential',
        lib().Esys_ActivateCredential(
          this.esys.pointer(),
          activate,
          ek,
          PASSWORD,
          session,
          NONE,
          unmarshal('TPM2B_ID_OBJECT', credentialBlob),
          unmarshal('TPM2B_ENCRYPTED_SECRET', secret),
          certInfo,
        ),
        certInfo,
      );
      return this.#take(certInfo[0], 'TPM2B_DIGEST').subarray(2);
    });
  }

  #check(call: string, rc: number, ...outputs: Out[]): void {
    if (rc === 0) return;
    for (const output of outputs) if (output[0]) lib().Esys_Free(output[0]);
    throw new Tss2Error(call, rc);
  }

  /** TPM2B_ATTEST → the TPMS_ATTEST bytes inside it. */
  #attest(pointer: bigint | null): Uint8Array {
    return this.#take(pointer, 'TPM2B_ATTEST').subarray(2);
  }

  #take(pointer: bigint | null, type: MuType): Uint8Array {
    if (!pointer) throw new Error(`ESYS returned no ${type}`);
    try {
      return marshal(type, pointer);
    } finally {
      lib().Esys_Free(pointer);
    }
  }
}

function tpm2b(bytes: Uint8Array): Uint8Array {
  const out = new Uint8Array(2 + bytes.length);
  out[0] = bytes.length >>> 8;
  out[1] = bytes.length & 0xff;
  out.set(bytes, 2);
  return out;
}
