import koffi, { type LibraryHandle } from 'koffi';
import { describe, expect, test } from 'vitest';
import { KeyError } from '../../../src/keys/index.js';
import { isConnectionFailure, tpmKeyError } from '../../../src/keys/tpm/tpm-errors.js';
import { decodeRc, Tss2Error } from '../../../src/native/tss2/index.js';

// rc, layer, name, further fields of the decoded code
const KNOWN_CODES = [
  [0x18b, 'TPM', 'TPM_RC_HANDLE', { format: 'format-one', handle: 1, base: 0x08b }],
  [0x484, 'TPM', 'TPM_RC_VALUE', { format: 'format-one', handle: 4 }],
  [0x1c4, 'TPM', 'TPM_RC_VALUE', { format: 'format-one', parameter: 1 }],
  [0x2d5, 'TPM', 'TPM_RC_SIZE', { format: 'format-one', parameter: 2 }],
  [0xfc4, 'TPM', 'TPM_RC_VALUE', { format: 'format-one', parameter: 15 }],
  [0x98e, 'TPM', 'TPM_RC_AUTH_FAIL', { format: 'format-one', session: 1, base: 0x08e }],
  [0x9a2, 'TPM', 'TPM_RC_BAD_AUTH', { format: 'format-one', session: 1 }],
  [0x921, 'TPM', 'TPM_RC_LOCKOUT', { format: 'format-zero', warning: true, base: 0x921 }],
  [0x910, 'TPM', 'TPM_RC_REFERENCE_H0', { format: 'format-zero', warning: true }],
  [0x922, 'TPM', 'TPM_RC_RETRY', { warning: true }],
  [0x14c, 'TPM', 'TPM_RC_NV_DEFINED', { format: 'format-zero', warning: false, base: 0x14c }],
  [0x100, 'TPM', 'TPM_RC_INITIALIZE', { format: 'format-zero', warning: false }],
  [0x101, 'TPM', 'TPM_RC_FAILURE', { format: 'format-zero' }],
  [0x000a000a, 'TCTI', 'TSS2_TCTI_RC_IO_ERROR', { base: 10 }],
  [0x000a0015, 'TCTI', 'TSS2_TCTI_RC_NOT_SUPPORTED', { base: 21 }],
  [0x00070001, 'ESYS', 'TSS2_ESYS_RC_GENERAL_FAILURE', { base: 1 }],
  [0x00070018, 'ESYS', 'TSS2_ESYS_RC_BAD_TR', { base: 24 }],
  [0x00090006, 'MU', 'TSS2_MU_RC_INSUFFICIENT_BUFFER', {}],
  [0x00080005, 'SYS', 'TSS2_SYS_RC_BAD_REFERENCE', {}],
  // The kernel resource manager (/dev/tpmrm0) answers with TPM-format codes in layer 11.
  [0x000b0143, 'RM-TPM', 'TPM_RC_COMMAND_CODE', { format: 'format-zero', layerNumber: 11 }],
  [0x000c018b, 'RM-TPM', 'TPM_RC_HANDLE', { handle: 1, layerNumber: 12 }],
  // tpm2-abrmd answers with base codes in its layer.
  [0x000b0008, 'RM', 'TSS2_RESMGR_RC_NO_CONNECTION', { layerNumber: 11 }],
] as const;

describe('decodeRc', () => {
  const cases = KNOWN_CODES.map(([rc, layer, name, extra]) => ({
    hex: `0x${rc.toString(16)}`,
    rc,
    layer,
    name,
    extra,
  }));
  test.each(cases)('$hex → $layer $name', ({ rc, layer, name, extra }) => {
    const decoded = decodeRc(rc);
    expect(decoded).toMatchObject({ rc, layer, name, ...extra });
    expect(decoded.text).toContain(name);
    expect(decoded.text).toContain(`0x${rc.toString(16).toUpperCase().padStart(8, '0')}`);
  });

  test('the text says where and what, in one line', () => {
    expect(decodeRc(0x18b).text).toBe(
      'TPM_RC_HANDLE (TPM, format one, handle 1): the handle is not correct for the use [0x0000018B]',
    );
    expect(decodeRc(0x1c4).text).toContain('format one, parameter 1');
    expect(decodeRc(0x98e).text).toContain('format one, session 1');
    expect(decodeRc(0x921).text).toMatch(
      /^TPM_RC_LOCKOUT \(TPM, format zero warning\): .*dictionary-attack lockout/,
    );
    expect(decodeRc(0x000a000a).text).toBe(
      'TSS2_TCTI_RC_IO_ERROR (TCTI layer): I/O failure talking to the TPM [0x000A000A]',
    );
    expect(decodeRc(0x000b0143).text).toContain('resource manager, TPM-format code');
  });

  test('codes without a table entry still decode to something honest', () => {
    expect(decodeRc(0)).toMatchObject({ name: 'TPM_RC_SUCCESS', text: 'success [0x00000000]' });
    expect(decodeRc(0x500)).toMatchObject({ format: 'format-zero', name: 'TPM vendor code 0x0' });
    expect(decodeRc(0x500).description).toContain('vendor-defined');
    expect(decodeRc(0x006)).toMatchObject({ name: 'TPM 1.2 code' });
    expect(decodeRc(0x08b)).toMatchObject({ name: 'TPM_RC_HANDLE', format: 'format-one' });
    expect(decodeRc(0x08b).handle).toBeUndefined();
    expect(decodeRc(0x88b).session).toBeUndefined(); // N = 8: "a session", unnumbered
    expect(decodeRc(0x00120008)).toMatchObject({ layer: 'unknown', layerNumber: 18 });
    expect(decodeRc(0x0007f801).description).toBe('implementation-specific code');
    expect(decodeRc(-1 >>> 0).hex).toBe('0xFFFFFFFF');
    expect(decodeRc(-1).rc).toBe(0xffffffff);
  });

  test('agrees with tpm2-tss own decoder (libtss2-rc) on format, position kind and number', () => {
    let lib: LibraryHandle;
    try {
      lib = koffi.load('libtss2-rc.so.0');
    } catch {
      throw new Error('libtss2-rc.so.0 is missing: apt-get install libtss2-dev (or scripts/setup.sh)');
    }
    const tss2Decode = lib.func('const char *Tss2_RC_Decode(uint32_t rc)') as (rc: number) => string;
    const codes: number[] = [];
    for (let error = 0; error < 0x40; error++) {
      for (let n = 1; n <= 7; n++) {
        codes.push(0x080 | error | (n << 8)); // handle n
        codes.push(0x080 | error | ((8 | n) << 8)); // session n
        codes.push(0x0c0 | error | (n << 8)); // parameter n (libtss2-rc reads 3 bits only, so 1–7)
      }
    }
    for (let e = 0; e < 0x7f; e++) codes.push(0x100 | e, 0x900 | e);
    for (const rc of codes) {
      const ours = decodeRc(rc);
      const theirs = tss2Decode(rc);
      const position = /^tpm:(handle|session|parameter)\((\d)\):/.exec(theirs);
      if (position) {
        expect(ours.format, theirs).toBe('format-one');
        expect(ours[position[1] as 'handle' | 'session' | 'parameter'], theirs).toBe(Number(position[2]));
      } else if (theirs.startsWith('tpm:warn(2.0)') || theirs.startsWith('tpm:error(2.0)')) {
        expect(ours.format, theirs).toBe('format-zero');
        expect(ours.warning, theirs).toBe(theirs.startsWith('tpm:warn'));
      } else {
        // libtss2-rc prints unknown format-zero codes as "tpm:0x…": we must not claim to know them either.
        expect(ours.description, `${theirs} vs ${ours.text}`).toMatch(/^unknown /);
      }
    }
  });
});

describe('tpmKeyError', () => {
  const swtpm = { tcti: 'swtpm:host=127.0.0.1,port=2321', action: 'signing a digest', handle: 0x81010001 };
  const board = { tcti: 'device:/dev/tpmrm0', action: 'connecting to the TPM', handle: 0x81010001 };
  const map = (call: string, rc: number, context = swtpm) => tpmKeyError(new Tss2Error(call, rc), context);

  test('TPM_RC_LOCKOUT → EGW_KEY_LOCKOUT, with how to get out of it', () => {
    const error = map('Esys_Sign', 0x921);
    expect(error).toBeInstanceOf(KeyError);
    expect(error.code).toBe('EGW_KEY_LOCKOUT');
    expect(error.message).toContain('dictionary-attack lockout');
    expect(error.message).toContain('0x81010001');
    expect(error.message).toContain(swtpm.tcti);
    expect(error.message).toContain('TPM_RC_LOCKOUT');
    expect(error.hint).toContain('tpm2_dictionarylockout --clear-lockout');
    expect(error.cause).toBeInstanceOf(Tss2Error);
  });

  test('TPM_RC_NV_DEFINED on EvictControl → EGW_KEY_EXISTS naming the handle', () => {
    const error = map('Esys_EvictControl', 0x14c, { ...swtpm, action: 'persisting the new key' });
    expect(error.code).toBe('EGW_KEY_EXISTS');
    expect(error.message).toContain('persistent handle 0x81010001');
    expect(error.message).toContain('already occupied');
    expect(error.hint).toContain('--force');
    expect(error.hint).toContain('identity.key.tpm.persistent_handle');
  });

  test('TPM_RC_HANDLE on a persistent handle → EGW_KEY_NOT_FOUND with the provisioning command', () => {
    for (const rc of [0x18b, 0x910]) {
      const error = map('Esys_TR_FromTPMPublic', rc, { ...swtpm, action: 'reading the identity key' });
      expect(error.code).toBe('EGW_KEY_NOT_FOUND');
      expect(error.message).toContain('0x81010001');
      expect(error.hint).toContain('gatewayctl provision factory');
    }
    // Without a handle in play, TPM_RC_HANDLE is a plain device error.
    expect(tpmKeyError(new Tss2Error('Esys_Load', 0x18b), { tcti: swtpm.tcti, action: 'loading' }).code).toBe(
      'EGW_KEY_DEVICE_ERROR',
    );
  });

  test('TCTI failures → EGW_KEY_DEVICE_MISSING with a hint fitting the transport', () => {
    const device = map('Tss2_TctiLdr_Initialize', 0x000a000a, board);
    expect(device.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(device.message).toContain('"device:/dev/tpmrm0"');
    expect(device.hint).toContain('/dev/tpmrm0 exists');
    expect(device.hint).toContain('group tss');

    const simulator = map('Tss2_TctiLdr_Initialize', 0x000a000a);
    expect(simulator.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(simulator.hint).toContain('swtpm');

    const midway = map('Esys_Sign', 0x000a000a);
    expect(midway.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(midway.message).toContain('signing a digest');
    expect(isConnectionFailure(new Tss2Error('Esys_Sign', 0x000a000a))).toBe(true);
    expect(isConnectionFailure(new Tss2Error('Esys_Sign', 0x0007000a))).toBe(true);
    expect(isConnectionFailure(new Tss2Error('Esys_Sign', 0x921))).toBe(false);

    const abrmd = map('Tss2_TctiLdr_Initialize', 0x000a000a, { ...board, tcti: 'tabrmd:' });
    expect(abrmd.hint).toContain('tpm2-abrmd');

    const unknown = map('Tss2_TctiLdr_Initialize', 0x000a0015, { ...board, tcti: 'typo:/dev/tpmrm0' });
    expect(unknown.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(unknown.message).toContain('no such TCTI');
    expect(unknown.hint).toContain('device:/dev/tpmrm0');
  });

  test('resource-manager errors → EGW_KEY_DEVICE_ERROR naming the resource manager', () => {
    const kernel = map('Esys_Sign', 0x000b0143, board);
    expect(kernel.code).toBe('EGW_KEY_DEVICE_ERROR');
    expect(kernel.message).toContain('kernel resource manager /dev/tpmrm0');
    expect(kernel.message).toContain('TPM_RC_COMMAND_CODE');
    expect(kernel.hint).toContain('dmesg');

    const abrmd = map('Esys_Sign', 0x000b0008, { ...board, tcti: 'tabrmd:bus_type=system' });
    expect(abrmd.code).toBe('EGW_KEY_DEVICE_ERROR');
    expect(abrmd.message).toContain('tpm2-abrmd');
    expect(abrmd.hint).toContain('systemctl status tpm2-abrmd');
  });

  test('other TPM conditions → EGW_KEY_DEVICE_ERROR with a decoded reason and a next step', () => {
    const failure = map('Esys_GetCapability', 0x101);
    expect(failure.code).toBe('EGW_KEY_DEVICE_ERROR');
    expect(failure.message).toContain('failure mode');

    const auth = map('Esys_CreatePrimary', 0x9a2, { ...swtpm, action: 'creating the identity key' });
    expect(auth.message).toContain('TPM_RC_BAD_AUTH');
    expect(auth.hint).toContain('ownerAuthSet');

    const retry = map('Esys_Sign', 0x922);
    expect(retry.message).toContain('TPM_RC_RETRY');
    expect(retry.hint).toContain('transient');

    const scheme = map('Esys_Sign', 0x2d2);
    expect(scheme.message).toContain('TPM_RC_SCHEME (TPM, format one, parameter 2)');
    expect(scheme.hint).toContain('tpm2_rc_decode 0x000002D2');
  });

  test('KeyErrors pass through, anything else becomes a device error', () => {
    const original = new KeyError('EGW_KEY_BAD_DIGEST', 'bad');
    expect(tpmKeyError(original, swtpm)).toBe(original);
    const wrapped = tpmKeyError(new Error('truncated TPM2B_PUBLIC'), swtpm);
    expect(wrapped.code).toBe('EGW_KEY_DEVICE_ERROR');
    expect(wrapped.message).toContain('truncated TPM2B_PUBLIC');
  });
});
