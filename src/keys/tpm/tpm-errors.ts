import { TPM2_RC, Tss2Error } from '../../native/tss2/index.js';
import { KeyError } from '../key-error.js';

/** Where a TPM call failed, for the message: the TCTI, what we were doing, the handle involved. */
export interface TpmErrorContext {
  tcti: string;
  /** e.g. "reading the identity key", "signing a digest", "persisting the new key". */
  action: string;
  /** The persistent handle the action was about, if any. */
  handle?: number;
}

export const hexHandle = (handle: number): string => `0x${handle.toString(16).padStart(8, '0')}`;

/**
 * Whether a failure means the transport to the TPM is gone (TCTI layer, or ESYS reporting that it
 * could not talk to it): the device is missing or unreachable rather than misbehaving.
 */
export function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Tss2Error)) return false;
  const { layer, base } = error.decoded;
  return layer === 'TCTI' || (layer === 'ESYS' && (base === 8 || base === 10)); // NO_CONNECTION, IO_ERROR
}

/** Turns a Tss2Error (or anything thrown while talking to the TPM) into a KeyError with a hint. */
export function tpmKeyError(error: unknown, context: TpmErrorContext): KeyError {
  if (error instanceof KeyError) return error;
  const { tcti, action, handle } = context;
  if (!(error instanceof Tss2Error)) {
    const reason = error instanceof Error ? error.message : String(error);
    return new KeyError('EGW_KEY_DEVICE_ERROR', `TPM (${tcti}): ${action} failed: ${reason}`, {
      cause: error,
    });
  }
  const d = error.decoded;
  const options = (hint: string) => ({ hint, cause: error });

  if (error.call === 'Tss2_TctiLdr_Initialize' && (d.base === 21 || d.base === 11)) {
    // NOT_SUPPORTED / BAD_VALUE from the loader: no such TCTI module, or a malformed configuration.
    return new KeyError(
      'EGW_KEY_DEVICE_MISSING',
      `cannot open TCTI "${tcti}" while ${action}: no such TCTI or a malformed TCTI string (${d.text})`,
      options(
        'set identity.key.tpm.tcti to e.g. "device:/dev/tpmrm0" (kernel resource manager), "tabrmd:" or "swtpm:host=127.0.0.1,port=2321"; the matching libtss2-tcti-*.so.0 must be installed',
      ),
    );
  }
  if (isConnectionFailure(error)) {
    return new KeyError(
      'EGW_KEY_DEVICE_MISSING',
      `TPM missing or unreachable through TCTI "${tcti}" while ${action}: ${d.text}`,
      options(tctiHint(tcti)),
    );
  }
  if (d.layer === 'RM' || d.layer === 'RM-TPM') {
    return new KeyError(
      'EGW_KEY_DEVICE_ERROR',
      `the TPM resource manager (${resourceManager(tcti)}) refused while ${action}: ${d.text}`,
      options(
        tcti.startsWith('tabrmd')
          ? 'check tpm2-abrmd: systemctl status tpm2-abrmd; journalctl -u tpm2-abrmd'
          : 'check the kernel log for TPM errors (dmesg | grep -i tpm); too many open transient objects or sessions in other TPM users can also cause this',
      ),
    );
  }
  if (d.layer !== 'TPM') {
    return new KeyError(
      'EGW_KEY_DEVICE_ERROR',
      `TPM (${tcti}): ${action} failed in ${error.call}: ${d.text}`,
      {
        cause: error,
      },
    );
  }

  const at = handle === undefined ? '' : ` at persistent handle ${hexHandle(handle)}`;
  switch (d.base) {
    case TPM2_RC.LOCKOUT:
      return new KeyError(
        'EGW_KEY_LOCKOUT',
        `the TPM (${tcti}) is in dictionary-attack lockout and refuses to use the key${at} while ${action}: ${d.text}`,
        options(
          'wait for the lockout to expire (see the lockout counter and recovery time in gatewayctl health), or clear it with the lockout authorization: tpm2_dictionarylockout --clear-lockout',
        ),
      );
    case TPM2_RC.NV_DEFINED:
      return new KeyError(
        'EGW_KEY_EXISTS',
        `persistent handle ${hexHandle(handle ?? 0)} on the TPM (${tcti}) is already occupied while ${action}: ${d.text}`,
        options('use --force to replace the key there, or choose another identity.key.tpm.persistent_handle'),
      );
    case TPM2_RC.HANDLE:
    case TPM2_RC.REFERENCE_H0:
      if (handle !== undefined) {
        return new KeyError(
          'EGW_KEY_NOT_FOUND',
          `no key${at} on the TPM (${tcti}) while ${action}: ${d.text}`,
          options(
            'run gatewayctl provision factory to create the identity key, or check identity.key.tpm.persistent_handle (tpm2_getcap handles-persistent lists what is there)',
          ),
        );
      }
      break;
    case TPM2_RC.AUTH_FAIL:
    case TPM2_RC.BAD_AUTH:
      return new KeyError(
        'EGW_KEY_DEVICE_ERROR',
        `the TPM (${tcti}) rejected the authorization while ${action}${at}: ${d.text}`,
        options(
          'edge-gatewayd uses an empty authorization value for the owner hierarchy (its keys have their own, from identity.key.tpm.auth_file); check `tpm2_getcap properties-variable` (ownerAuthSet) and clear the owner password, or provision on a TPM whose owner auth is empty',
        ),
      );
    case TPM2_RC.FAILURE:
      return new KeyError(
        'EGW_KEY_DEVICE_ERROR',
        `the TPM (${tcti}) is in failure mode while ${action}: ${d.text}`,
        options(
          'reboot the gateway; if the TPM stays in failure mode (tpm2_gettestresult), it needs service',
        ),
      );
  }
  return new KeyError(
    'EGW_KEY_DEVICE_ERROR',
    `the TPM (${tcti}) refused ${error.call} while ${action}${at}: ${d.text}`,
    options(
      d.warning
        ? 'a transient TPM condition: retry; if it persists, check other TPM users and run tpm2_selftest --fulltest'
        : `decode with tpm2_rc_decode ${d.hex}; check the TPM with tpm2_selftest --fulltest`,
    ),
  );
}

/** What an operator should check for a TCTI that cannot reach its TPM. */
export function tctiHint(tcti: string): string {
  const [name = '', conf = ''] = splitTcti(tcti);
  if (name === 'device' || name === '') {
    const path = conf || '/dev/tpmrm0';
    return `check that ${path} exists (ls -l ${path}; a TPM 2.0 must be enabled in firmware and its kernel driver loaded) and that the service user is in group tss (usermod -aG tss <user>)`;
  }
  if (name === 'swtpm' || name === 'mssim') {
    return `check that the TPM simulator runs and listens where "${tcti}" points (swtpm socket --tpm2 --server type=tcp,port=P --ctrl type=tcp,port=P+1 --flags not-need-init,startup-clear)`;
  }
  if (name === 'tabrmd')
    return 'check that tpm2-abrmd runs (systemctl status tpm2-abrmd) and that the service user may use its D-Bus name';
  return `check that the TPM behind TCTI "${tcti}" is present and running`;
}

function resourceManager(tcti: string): string {
  const [name = '', conf = ''] = splitTcti(tcti);
  if (name === 'tabrmd') return 'tpm2-abrmd';
  if (name === 'device' && conf.includes('tpmrm')) return `kernel resource manager ${conf}`;
  return `resource manager behind ${tcti}`;
}

function splitTcti(tcti: string): [string, string] {
  const colon = tcti.indexOf(':');
  return colon < 0 ? [tcti, ''] : [tcti.slice(0, colon), tcti.slice(colon + 1)];
}
