import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

const unit = new URL('../../systemd/edge-gatewayd.service', import.meta.url).pathname;

function systemdAnalyze(...args: string[]) {
  const result = spawnSync('systemd-analyze', args, { encoding: 'utf8' });
  if (result.error) {
    throw new Error(
      `systemd-analyze is missing (${result.error.message}): run scripts/setup.sh (apt-get install systemd)`,
    );
  }
  return result;
}

describe('systemd/edge-gatewayd.service', () => {
  it('passes systemd-analyze verify', () => {
    const result = systemdAnalyze('verify', unit);
    expect(result.stderr.trim()).toBe('');
    expect(result.status).toBe(0);
  });

  it('has an exposure level of 2.5 or lower (systemd-analyze security --offline)', () => {
    const result = systemdAnalyze('security', '--offline=true', '--no-pager', unit);
    const match = /Overall exposure level for edge-gatewayd\.service: (\d+\.\d+)/.exec(result.stdout);
    expect(match, result.stdout + result.stderr).not.toBeNull();
    expect(Number(match?.[1])).toBeLessThanOrEqual(2.5);
  });
});
