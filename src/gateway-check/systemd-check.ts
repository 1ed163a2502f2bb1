import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Verdict } from '../verdicts/index.js';
import type { CheckContext } from './check-context.js';

export const UNIT = 'edge-gatewayd.service';
const NAME = 'systemd unit';

/** What the check asks of the host (a test gives its own: this machine may run no systemd). */
export interface SystemdHost {
  /** systemd is the init system (sd_booted(): /run/systemd/system exists). */
  systemdRunning(): boolean;
  /** `systemctl show UNIT --property=…` output (KEY=value lines). */
  show(unit: string): string;
}

const REAL_HOST: SystemdHost = {
  systemdRunning: () => existsSync('/run/systemd/system'),
  show: (unit) =>
    execFileSync(
      'systemctl',
      ['show', unit, '--property=LoadState,ActiveState,SubState,WatchdogUSec,NRestarts,Result'],
      { encoding: 'utf8', timeout: 5_000 },
    ),
};

/**
 * The unit's state and watchdog from `systemctl show` where systemd is the init system; n/a with the
 * reason elsewhere (a container, a board with another init, the daemon run by hand).
 */
export function systemdCheck(context: CheckContext, host: SystemdHost = REAL_HOST): Verdict {
  if (!host.systemdRunning()) {
    const supervisor = context.daemon?.supervisor;
    const watchdog = supervisor?.watchdogUsec
      ? `; the daemon's supervisor set a ${supervisor.watchdogUsec / 1e6} s watchdog`
      : '';
    return {
      name: NAME,
      status: 'n/a',
      detail: 'systemd is not running here',
      reason: `systemd is not the init system here (no /run/systemd/system)${watchdog}`,
    };
  }
  let show: Record<string, string>;
  try {
    const text = host.show(UNIT);
    show = Object.fromEntries(
      text
        .split('\n')
        .filter((line) => line.includes('='))
        .map((line) => [line.slice(0, line.indexOf('=')), line.slice(line.indexOf('=') + 1)]),
    );
  } catch (error) {
    return {
      name: NAME,
      status: 'n/a',
      detail: 'systemctl failed',
      reason: `systemctl show ${UNIT}: ${error instanceof Error ? error.message : String(error)}`,
    };
  }
  if (show.LoadState !== 'loaded') {
    return {
      name: NAME,
      status: 'n/a',
      detail: `${UNIT} ${show.LoadState ?? 'unknown'}`,
      reason: `${UNIT} is not installed (LoadState=${show.LoadState}): the daemon is not run by systemd here`,
    };
  }
  const watchdog =
    show.WatchdogUSec && show.WatchdogUSec !== '0' && show.WatchdogUSec !== 'infinity'
      ? `watchdog ${show.WatchdogUSec}`
      : 'NO watchdog';
  const detail = `${UNIT} ${show.ActiveState} (${show.SubState}), ${watchdog}, restarted ${show.NRestarts ?? '?'} time(s), last result ${show.Result ?? '?'}`;
  if (show.ActiveState === 'failed' || show.ActiveState === 'inactive') {
    return {
      name: NAME,
      status: 'fail',
      detail,
      fix: `read why: journalctl -u edge-gatewayd -e (exit 78: config, run gatewayctl config check; 65: state database); then systemctl restart edge-gatewayd`,
    };
  }
  if (show.ActiveState !== 'active') {
    return {
      name: NAME,
      status: 'warn',
      detail,
      fix: 'run check again in a minute; if it stays so: journalctl -u edge-gatewayd -e',
    };
  }
  if (watchdog === 'NO watchdog') {
    return {
      name: NAME,
      status: 'warn',
      detail,
      fix: 'restore WatchdogSec= (the shipped unit sets 30s): systemctl edit edge-gatewayd shows the drop-ins that override it',
    };
  }
  if (Number(show.NRestarts) > 0) {
    return {
      name: NAME,
      status: 'warn',
      detail,
      fix: 'it was restarted: journalctl -u edge-gatewayd -b shows why (watchdog timeout, crash)',
    };
  }
  return { name: NAME, status: 'pass', detail };
}
