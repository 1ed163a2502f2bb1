import { withSimulatedBuses } from '../daemon/index.js';
import { keySettingsFromConfig } from '../identity/index.js';
import { type KeyStoreInfo, openKeyStore } from '../keys/index.js';
import type { Verdict } from '../verdicts/index.js';
import type { CheckContext } from './check-context.js';

const NAME = 'identity key';

type KeyInfo = KeyStoreInfo & { available: true };
type KeyStatus =
  | KeyInfo
  | {
      available: false;
      backend: string;
      error: { code: string; message: string; hint?: string | undefined };
    };

/**
 * Reachable, and what it is, said plainly: hardware, or a stand-in the config names (simulator, swtpm,
 * software file). With the daemon running its view is used: the daemon holds the device (an
 * ATECC608A bus, a TPM handle) and check must not fight it for it. Without, check opens it itself.
 */
export async function keyCheck(context: CheckContext): Promise<Verdict> {
  const status = context.daemon ? (context.daemon.identityKey as KeyStatus) : await openOwnKeyStore(context);
  const via = context.daemon ? 'the running daemon' : 'opened by check (daemon not running)';
  if (!status.available) {
    return {
      name: NAME,
      status: 'fail',
      detail: `${status.backend} unreachable (${via}): ${status.error.code} ${status.error.message}`,
      fix:
        status.error.hint ??
        'check [identity.key] in the config and the device (gatewayctl provision verify)',
    };
  }
  const what = `${status.backend}, ${status.model}, serial ${status.serial}, key at ${status.keyLocation} (${via})`;
  if (status.simulated) {
    // A rig that means to run on a stand-in asked for it: still said plainly, not a finding there.
    // simulated: true either way, so --json readers need not parse the detail.
    if (context.allowSimulated) {
      return {
        name: NAME,
        status: 'pass',
        simulated: true,
        detail: `SIMULATED, not hardware: ${what}; ${status.simulated}; allowed by --allow-simulated (HIL rig or development box)`,
      };
    }
    return {
      name: NAME,
      status: 'warn',
      simulated: true,
      detail: `SIMULATED, not hardware: ${what}; ${status.simulated}`,
      fix: 'fine for development and tests; on a production gateway set [identity.key] backend = "tpm" or "atecc608" on the real part and provision it (gatewayctl provision factory)',
    };
  }
  if (!status.hardwareBacked) {
    return {
      name: NAME,
      status: 'fail',
      detail: `NOT hardware-backed although hardware is configured: ${what}`,
      fix: "the configured device is not a hardware part (a software TPM behind /dev/tpmrm0, a VM vTPM?): use the board's TPM or ATECC608A, then gatewayctl provision verify",
    };
  }
  const warnings = status.warnings ?? [];
  if (warnings.length > 0) {
    return { name: NAME, status: 'warn', detail: `hardware: ${what}`, fix: warnings.join('; ') };
  }
  return { name: NAME, status: 'pass', detail: `hardware: ${what}` };
}

async function openOwnKeyStore(context: CheckContext): Promise<KeyStatus> {
  const backend = context.config.identity.key.backend;
  try {
    const store = await openKeyStore(withSimulatedBuses(keySettingsFromConfig(context.config)));
    try {
      return { available: true, ...store.info };
    } finally {
      await store.close();
    }
  } catch (error) {
    const known = error as { code?: string; message?: string; hint?: string };
    return {
      available: false,
      backend,
      error: {
        code: known.code ?? 'EGW_INTERNAL',
        message: known.message ?? String(error),
        hint: known.hint,
      },
    };
  }
}
