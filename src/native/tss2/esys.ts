import { loadTss2Library } from './library.js';

/** A TPM2_* structure in C memory, allocated by ESYS (free with Esys_Free) or by us (a Buffer). */
type In = Buffer | bigint;
type PointerOut = [bigint | null] | null;

/**
 * The ESYS (Enhanced System API) functions we call, bound through koffi.
 *
 * Structures cross the boundary as opaque C memory: inputs are Buffers holding C structs built by
 * Tss2_MU_*_Unmarshal, outputs are pointers read back with Tss2_MU_*_Marshal (see mu.ts). That way
 * no TPM union is ever declared as a koffi struct. ESYS_TR and TPM handles are uint32.
 */
export interface EsysLibrary {
  Esys_Initialize(context: [bigint | null], tcti: bigint, abiVersion: null): number;
  Esys_Finalize(context: [bigint | null]): void;
  Esys_Startup(context: bigint, startupType: number): number;
  Esys_GetCapability(
    context: bigint,
    s1: number,
    s2: number,
    s3: number,
    capability: number,
    property: number,
    count: number,
    moreData: [number],
    data: PointerOut,
  ): number;
  Esys_GetTestResult(
    context: bigint,
    s1: number,
    s2: number,
    s3: number,
    outData: PointerOut,
    testResult: [number],
  ): number;
  Esys_TR_FromTPMPublic(
    context: bigint,
    handle: number,
    s1: number,
    s2: number,
    s3: number,
    object: [number],
  ): number;
  Esys_ReadPublic(
    context: bigint,
    object: number,
    s1: number,
    s2: number,
    s3: number,
    outPublic: PointerOut,
    name: PointerOut,
    qualifiedName: PointerOut,
  ): number;
  Esys_CreatePrimary(
    context: bigint,
    hierarchy: number,
    s1: number,
    s2: number,
    s3: number,
    inSensitive: In,
    inPublic: In,
    outsideInfo: In,
    creationPcr: In,
    object: [number],
    outPublic: PointerOut,
    creationData: PointerOut,
    creationHash: PointerOut,
    creationTicket: PointerOut,
  ): number;
  Esys_Create(
    context: bigint,
    parent: number,
    s1: number,
    s2: number,
    s3: number,
    inSensitive: In,
    inPublic: In,
    outsideInfo: In,
    creationPcr: In,
    outPrivate: PointerOut,
    outPublic: PointerOut,
    creationData: PointerOut,
    creationHash: PointerOut,
    creationTicket: PointerOut,
  ): number;
  Esys_Load(
    context: bigint,
    parent: number,
    s1: number,
    s2: number,
    s3: number,
    inPrivate: In,
    inPublic: In,
    object: [number],
  ): number;
  Esys_EvictControl(
    context: bigint,
    auth: number,
    object: number,
    s1: number,
    s2: number,
    s3: number,
    persistentHandle: number,
    newObject: [number],
  ): number;
  Esys_FlushContext(context: bigint, object: number): number;
  Esys_TR_Close(context: bigint, object: [number]): number;
  Esys_Sign(
    context: bigint,
    key: number,
    s1: number,
    s2: number,
    s3: number,
    digest: In,
    scheme: In,
    validation: In,
    signature: PointerOut,
  ): number;
  Esys_TR_SetAuth(context: bigint, object: number, authValue: In): number;
  Esys_Free(pointer: bigint): void;
}

let bound: EsysLibrary | undefined;

export function esys(): EsysLibrary {
  if (bound) return bound;
  const lib = loadTss2Library('libtss2-esys.so.0');
  const s = 'uint32_t s1, uint32_t s2, uint32_t s3';
  bound = {
    Esys_Initialize: lib.func('uint32_t Esys_Initialize(_Out_ void **context, void *tcti, void *abiVersion)'),
    Esys_Finalize: lib.func('void Esys_Finalize(_Inout_ void **context)'),
    Esys_Startup: lib.func('uint32_t Esys_Startup(void *context, uint16_t startupType)'),
    Esys_GetCapability: lib.func(
      `uint32_t Esys_GetCapability(void *context, ${s}, uint32_t capability, uint32_t property, uint32_t count, _Out_ uint8_t *moreData, _Out_ void **data)`,
    ),
    Esys_GetTestResult: lib.func(
      `uint32_t Esys_GetTestResult(void *context, ${s}, _Out_ void **outData, _Out_ uint32_t *testResult)`,
    ),
    Esys_TR_FromTPMPublic: lib.func(
      `uint32_t Esys_TR_FromTPMPublic(void *context, uint32_t handle, ${s}, _Out_ uint32_t *object)`,
    ),
    Esys_ReadPublic: lib.func(
      `uint32_t Esys_ReadPublic(void *context, uint32_t object, ${s}, _Out_ void **outPublic, _Out_ void **name, _Out_ void **qualifiedName)`,
    ),
    Esys_CreatePrimary: lib.func(
      `uint32_t Esys_CreatePrimary(void *context, uint32_t hierarchy, ${s}, const void *inSensitive, const void *inPublic, const void *outsideInfo, const void *creationPcr, _Out_ uint32_t *object, _Out_ void **outPublic, _Out_ void **creationData, _Out_ void **creationHash, _Out_ void **creationTicket)`,
    ),
    Esys_Create: lib.func(
      `uint32_t Esys_Create(void *context, uint32_t parent, ${s}, const void *inSensitive, const void *inPublic, const void *outsideInfo, const void *creationPcr, _Out_ void **outPrivate, _Out_ void **outPublic, _Out_ void **creationData, _Out_ void **creationHash, _Out_ void **creationTicket)`,
    ),
    Esys_Load: lib.func(
      `uint32_t Esys_Load(void *context, uint32_t parent, ${s}, const void *inPrivate, const void *inPublic, _Out_ uint32_t *object)`,
    ),
    Esys_EvictControl: lib.func(
      `uint32_t Esys_EvictControl(void *context, uint32_t auth, uint32_t object, ${s}, uint32_t persistentHandle, _Out_ uint32_t *newObject)`,
    ),
    Esys_FlushContext: lib.func('uint32_t Esys_FlushContext(void *context, uint32_t object)'),
    Esys_TR_Close: lib.func('uint32_t Esys_TR_Close(void *context, _Inout_ uint32_t *object)'),
    Esys_Sign: lib.func(
      `uint32_t Esys_Sign(void *context, uint32_t key, ${s}, const void *digest, const void *scheme, const void *validation, _Out_ void **signature)`,
    ),
    Esys_TR_SetAuth: lib.func(
      'uint32_t Esys_TR_SetAuth(void *context, uint32_t object, const void *authValue)',
    ),
    Esys_Free: lib.func('void Esys_Free(void *pointer)'),
  };
  return bound;
}
