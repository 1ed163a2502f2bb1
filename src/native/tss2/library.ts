import koffi, { type LibraryHandle } from 'koffi';
import { GatewayError } from '../../errors/index.js';

type Setenv = (name: string, value: string, overwrite: number) => number;

let quieted = false;

/**
 * Opens one of the tpm2-tss shared libraries, with an install hint when it is missing.
 *
 * Before the first one is opened, TSS2_LOG defaults to `all+NONE`: tpm2-tss otherwise prints its own
 * ERROR lines to stderr for conditions we handle and report ourselves (a free persistent handle, a
 * TPM that is not running), which would reach the journal as unstructured noise. An operator who
 * wants the library's traces sets TSS2_LOG (e.g. `all+debug`) and it is left alone.
 */
export function loadTss2Library(soname: string): LibraryHandle {
  if (!quieted) {
    quieted = true;
    // setenv(3) rather than process.env: in a worker thread process.env is a private copy, and
    // tpm2-tss reads the C environment.
    const setenv = koffi.load('libc.so.6').func('int setenv(const char *, const char *, int)') as Setenv;
    setenv('TSS2_LOG', 'all+NONE', 0);
  }
  try {
    return koffi.load(soname);
  } catch (error) {
    throw new GatewayError(
      'EGW_TSS2_LIBRARY_MISSING',
      `cannot load ${soname} (tpm2-tss): ${(error as Error).message}`,
      {
        hint: 'install tpm2-tss: apt-get install libtss2-esys-3.0.2-0 libtss2-mu0 libtss2-tctildr0 libtss2-tcti-device0 (libtss2-dev pulls them all; scripts/setup.sh installs everything)',
        cause: error,
      },
    );
  }
}
