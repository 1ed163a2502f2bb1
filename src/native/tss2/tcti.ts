import { loadTss2Library } from './library.js';
import { Tss2Error } from './tss2-error.js';

interface TctiLdr {
  Tss2_TctiLdr_Initialize(conf: string, context: [bigint | null]): number;
  Tss2_TctiLdr_Finalize(context: [bigint | null]): void;
}

let bound: TctiLdr | undefined;

function tctildr(): TctiLdr {
  if (bound) return bound;
  const lib = loadTss2Library('libtss2-tctildr.so.0');
  bound = {
    Tss2_TctiLdr_Initialize: lib.func(
      'uint32_t Tss2_TctiLdr_Initialize(const char *nameConf, _Out_ void **context)',
    ),
    Tss2_TctiLdr_Finalize: lib.func('void Tss2_TctiLdr_Finalize(_Inout_ void **context)'),
  };
  return bound;
}

/**
 * Opens a TCTI (the transport to the TPM) from a tpm2-tss configuration string such as
 * `device:/dev/tpmrm0`, `swtpm:host=127.0.0.1,port=2321` or `tabrmd:`. The TCTI loader picks the
 * matching libtss2-tcti-*.so.0. Throws Tss2Error (layer TCTI) when the transport cannot be opened.
 */
export function initializeTcti(conf: string): bigint {
  const context: [bigint | null] = [null];
  const rc = tctildr().Tss2_TctiLdr_Initialize(conf, context);
  if (rc !== 0 || !context[0]) throw new Tss2Error('Tss2_TctiLdr_Initialize', rc);
  return context[0];
}

export function finalizeTcti(context: bigint): void {
  tctildr().Tss2_TctiLdr_Finalize([context]);
}
