import { ESYS_TR, TPM2_ALG, TPM2_CAP_TPM_PROPERTIES, TPM2_RH, TPM2_SU_CLEAR } from './constants.js';
import { esys } from './esys.js';
import { type MuType, marshal, unmarshal } from './mu.js';
import {
  decodeTaggedProperties,
  EMPTY_DATA,
  EMPTY_PCR_SELECTION,
  EMPTY_SENSITIVE_CREATE,
  encodeDigest,
  encodeNullHashcheckTicket,
  encodeSensitiveCreate,
  encodeSigScheme,
} from './structures.js';
import { finalizeTcti, initializeTcti } from './tcti.js';
import { Tss2Error } from './tss2-error.js';

const { NONE, PASSWORD } = ESYS_TR;

/**
 * One ESYS context on one TCTI: the connection to a TPM, with the commands the key backend uses as
 * typed methods. Structures go in and out as TPM wire format (structures.ts builds and reads them).
 *
 * Not thread-safe, as ESYS itself: exactly one owner (the key device in its worker) calls it, one
 * call at a time. Every failure is a Tss2Error carrying the decoded response code.
 */
export class EsysContext {
  #tcti: bigint | null;
  #context: bigint | null;
  readonly #inputs = new Map<string, Buffer>();

  private constructor(
    readonly tctiConf: string,
    tcti: bigint,
    context: bigint,
  ) {
    this.#tcti = tcti;
    this.#context = context;
  }

  /** Opens the TCTI and an ESYS context on it. Throws Tss2Error (Tss2_TctiLdr_Initialize / Esys_Initialize). */
  static open(tctiConf: string): EsysContext {
    const tcti = initializeTcti(tctiConf);
    const context: [bigint | null] = [null];
    const rc = esys().Esys_Initialize(context, tcti, null);
    if (rc !== 0 || !context[0]) {
      finalizeTcti(tcti);
      throw new Tss2Error('Esys_Initialize', rc);
    }
    return new EsysContext(tctiConf, tcti, context[0]);
  }

  /** The ESYS_CONTEXT* for the command bindings kept in sibling files (esys-attestation.ts). */
  pointer(): bigint {
    return this.#ctx();
  }

  get closed(): boolean {
    return this.#context === null;
  }

  /** TPM2_Startup(CLEAR): needed once after power-on when no firmware/OS did it. */
  startup(): void {
    this.#check('Esys_Startup', esys().Esys_Startup(this.#ctx(), TPM2_SU_CLEAR));
  }

  /** TPM2_GetCapability(TPM_PROPERTIES) from `first`, up to `count` properties. */
  tpmProperties(first: number, count: number): Map<number, number> {
    const more: [number] = [0];
    const data: [bigint | null] = [null];
    this.#check(
      'Esys_GetCapability',
      esys().Esys_GetCapability(
        this.#ctx(),
        NONE,
        NONE,
        NONE,
        TPM2_CAP_TPM_PROPERTIES,
        first,
        count,
        more,
        data,
      ),
    );
    return decodeTaggedProperties(this.#take(data[0], 'TPMS_CAPABILITY_DATA'));
  }

  /** TPM2_GetTestResult: the self-test outcome as a TPM response code (0 = passed). */
  testResult(): number {
    const outData: [bigint | null] = [null];
    const result: [number] = [0];
    this.#check(
      'Esys_GetTestResult',
      esys().Esys_GetTestResult(this.#ctx(), NONE, NONE, NONE, outData, result),
    );
    if (outData[0]) esys().Esys_Free(outData[0]);
    return result[0] >>> 0;
  }

  /** An ESYS_TR for an existing TPM object (reads its public area to learn its name). */
  trFromTpmPublic(handle: number): number {
    const object: [number] = [0];
    this.#check(
      'Esys_TR_FromTPMPublic',
      esys().Esys_TR_FromTPMPublic(this.#ctx(), handle, NONE, NONE, NONE, object),
    );
    return object[0];
  }

  /** TPM2_ReadPublic → TPM2B_PUBLIC (wire). */
  readPublic(object: number): Uint8Array {
    const out: [bigint | null] = [null];
    this.#check(
      'Esys_ReadPublic',
      esys().Esys_ReadPublic(this.#ctx(), object, NONE, NONE, NONE, out, null, null),
    );
    return this.#take(out[0], 'TPM2B_PUBLIC');
  }

  /** TPM2_CreatePrimary under `hierarchy` (an ESYS_TR_RH_*) with empty auth → transient handle + public. */
  createPrimary(hierarchy: number, publicTemplate: Uint8Array): { object: number; public: Uint8Array } {
    const object: [number] = [0];
    const outPublic: [bigint | null] = [null];
    this.#check(
      'Esys_CreatePrimary',
      esys().Esys_CreatePrimary(
        this.#ctx(),
        hierarchy,
        PASSWORD,
        NONE,
        NONE,
        this.#input('TPM2B_SENSITIVE_CREATE', EMPTY_SENSITIVE_CREATE),
        unmarshal('TPM2B_PUBLIC', publicTemplate),
        this.#input('TPM2B_DATA', EMPTY_DATA),
        this.#input('TPML_PCR_SELECTION', EMPTY_PCR_SELECTION),
        object,
        outPublic,
        null,
        null,
        null,
      ),
    );
    return { object: object[0], public: this.#take(outPublic[0], 'TPM2B_PUBLIC') };
  }

  /**
   * TPM2_Create: a new key under `parent`, from the TPM's RNG, whose authValue is `userAuth` (empty
   * when not given) → its wrapped private and public parts.
   */
  create(
    parent: number,
    publicTemplate: Uint8Array,
    userAuth?: Uint8Array,
  ): { private: Uint8Array; public: Uint8Array } {
    const outPrivate: [bigint | null] = [null];
    const outPublic: [bigint | null] = [null];
    // A secret is never cached in #inputs: its C copy lives only for this call.
    const sensitive = userAuth?.length
      ? unmarshal('TPM2B_SENSITIVE_CREATE', encodeSensitiveCreate(userAuth))
      : this.#input('TPM2B_SENSITIVE_CREATE', EMPTY_SENSITIVE_CREATE);
    const rc = esys().Esys_Create(
      this.#ctx(),
      parent,
      PASSWORD,
      NONE,
      NONE,
      sensitive,
      unmarshal('TPM2B_PUBLIC', publicTemplate),
      this.#input('TPM2B_DATA', EMPTY_DATA),
      this.#input('TPML_PCR_SELECTION', EMPTY_PCR_SELECTION),
      outPrivate,
      outPublic,
      null,
      null,
      null,
    );
    if (userAuth?.length) sensitive.fill(0);
    if (rc !== 0) {
      this.#free(outPrivate[0], outPublic[0]);
      throw new Tss2Error('Esys_Create', rc);
    }
    const privateWire = this.#take(outPrivate[0], 'TPM2B_PRIVATE');
    return { private: privateWire, public: this.#take(outPublic[0], 'TPM2B_PUBLIC') };
  }

  /** TPM2_Load → transient handle. */
  load(parent: number, privateWire: Uint8Array, publicWire: Uint8Array): number {
    const object: [number] = [0];
    this.#check(
      'Esys_Load',
      esys().Esys_Load(
        this.#ctx(),
        parent,
        PASSWORD,
        NONE,
        NONE,
        unmarshal('TPM2B_PRIVATE', privateWire),
        unmarshal('TPM2B_PUBLIC', publicWire),
        object,
      ),
    );
    return object[0];
  }

  /**
   * TPM2_EvictControl with owner authorization: a transient `object` is copied to `persistentHandle`
   * (returns its new ESYS_TR); a persistent `object` is evicted (returns ESYS_TR_NONE).
   */
  evictControl(object: number, persistentHandle: number): number {
    const newObject: [number] = [NONE];
    this.#check(
      'Esys_EvictControl',
      esys().Esys_EvictControl(
        this.#ctx(),
        ESYS_TR.RH_OWNER,
        object,
        PASSWORD,
        NONE,
        NONE,
        persistentHandle,
        newObject,
      ),
    );
    return newObject[0];
  }

  /** TPM2_FlushContext for a transient object. */
  flush(object: number): void {
    this.#check('Esys_FlushContext', esys().Esys_FlushContext(this.#ctx(), object));
  }

  /**
   * Esys_TR_SetAuth: the authValue ESYS presents for `object` in later password sessions (e.g.
   * signEcdsa). Local to this context; nothing is sent to the TPM.
   */
  setAuth(object: number, authValue: Uint8Array): void {
    const auth = unmarshal('TPM2B_DIGEST', encodeDigest(authValue)); // TPM2B_AUTH is a TPM2B_DIGEST
    try {
      this.#check('Esys_TR_SetAuth', esys().Esys_TR_SetAuth(this.#ctx(), object, auth));
    } finally {
      auth.fill(0);
    }
  }

  /** Forgets an ESYS_TR without touching the TPM (for persistent objects). */
  closeTr(object: number): void {
    this.#check('Esys_TR_Close', esys().Esys_TR_Close(this.#ctx(), [object]));
  }

  /**
   * TPM2_Sign of an externally computed digest with an ECDSA key, authorized by a password session
   * with the key's authValue (setAuth; empty unless set), with the null hashcheck ticket →
   * TPMT_SIGNATURE (wire).
   */
  signEcdsa(key: number, digest: Uint8Array, hash: number = TPM2_ALG.SHA256): Uint8Array {
    const out: [bigint | null] = [null];
    this.#check(
      'Esys_Sign',
      esys().Esys_Sign(
        this.#ctx(),
        key,
        PASSWORD,
        NONE,
        NONE,
        unmarshal('TPM2B_DIGEST', encodeDigest(digest)),
        this.#input('TPMT_SIG_SCHEME', encodeSigScheme(TPM2_ALG.ECDSA, hash)),
        this.#input('TPMT_TK_HASHCHECK', encodeNullHashcheckTicket(TPM2_RH.NULL)),
        out,
      ),
    );
    return this.#take(out[0], 'TPMT_SIGNATURE');
  }

  /** Esys_Finalize + Tss2_TctiLdr_Finalize. Safe to call twice. */
  close(): void {
    if (this.#context) esys().Esys_Finalize([this.#context]);
    if (this.#tcti) finalizeTcti(this.#tcti);
    this.#context = null;
    this.#tcti = null;
    this.#inputs.clear();
  }

  #ctx(): bigint {
    if (!this.#context) throw new Error(`ESYS context for ${this.tctiConf} is closed`);
    return this.#context;
  }

  #check(call: string, rc: number): void {
    if (rc !== 0) throw new Tss2Error(call, rc);
  }

  /** Constant inputs are built once per context (keyed by type and content). */
  #input(type: MuType, wire: Uint8Array): Buffer {
    const key = `${type}:${Buffer.from(wire).toString('hex')}`;
    let buffer = this.#inputs.get(key);
    if (!buffer) {
      buffer = unmarshal(type, wire);
      this.#inputs.set(key, buffer);
    }
    return buffer;
  }

  /** Reads an ESYS-allocated output as wire format and frees it. */
  #take(pointer: bigint | null, type: MuType): Uint8Array {
    if (!pointer) throw new Error(`ESYS returned no ${type}`);
    try {
      return marshal(type, pointer);
    } finally {
      esys().Esys_Free(pointer);
    }
  }

  #free(...pointers: (bigint | null)[]): void {
    for (const pointer of pointers) if (pointer) esys().Esys_Free(pointer);
  }
}
