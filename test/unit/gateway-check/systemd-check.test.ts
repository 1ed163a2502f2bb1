import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { type CheckContext, type SystemdHost, systemdCheck } from '../../../src/gateway-check/index.js';

/**
 * The systemd check reads `systemctl show`; this machine may run no systemd, so the host is given:
 * what systemctl prints for each state an operator meets.
 */
const context: CheckContext = {
  config: parseConfigText('', 'gateway.toml'),
  configPath: 'gateway.toml',
  daemon: undefined,
  store: undefined,
  stateUnreadable: 'not read here',
  clock: undefined,
  now: new Date(),
  expiryWarnDays: 14,
  allowSimulated: false,
};

const host = (show: string | null): SystemdHost => ({
  systemdRunning: () => show !== null,
  show: () => show ?? '',
});

const shown = (fields: Record<string, string>) =>
  `${Object.entries(fields)
    .map(([key, value]) => `${key}=${value}`)
    .join('\n')}\n`;

const healthy = {
  LoadState: 'loaded',
  ActiveState: 'active',
  SubState: 'running',
  WatchdogUSec: '30s',
  NRestarts: '0',
  Result: 'success',
};

describe('systemd unit check', () => {
  it('passes an active unit with its watchdog', () => {
    const verdict = systemdCheck(context, host(shown(healthy)));
    expect(verdict.status).toBe('pass');
    expect(verdict.detail).toBe(
      'edge-gatewayd.service active (running), watchdog 30s, restarted 0 time(s), last result success',
    );
  });

  it('fails a failed unit, with where to read why', () => {
    const verdict = systemdCheck(
      context,
      host(shown({ ...healthy, ActiveState: 'failed', SubState: 'failed', Result: 'exit-code' })),
    );
    expect(verdict.status).toBe('fail');
    expect(verdict.fix).toContain('journalctl -u edge-gatewayd');
  });

  it('warns when the watchdog was turned off, or the unit was restarted', () => {
    expect(systemdCheck(context, host(shown({ ...healthy, WatchdogUSec: '0' }))).status).toBe('warn');
    const restarted = systemdCheck(context, host(shown({ ...healthy, NRestarts: '2' })));
    expect(restarted.status).toBe('warn');
    expect(restarted.fix).toContain('journalctl -u edge-gatewayd -b');
  });

  it('is n/a, with the reason, where the unit is not installed or systemd is not the init', () => {
    const missing = systemdCheck(context, host(shown({ LoadState: 'not-found', ActiveState: 'inactive' })));
    expect(missing.status).toBe('n/a');
    expect(missing.reason).toMatch(/not installed \(LoadState=not-found\)/);
    const none = systemdCheck(context, host(null));
    expect(none.status).toBe('n/a');
    expect(none.reason).toMatch(/systemd is not the init system here/);
  });
});
