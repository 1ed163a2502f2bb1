import { describe, expect, it } from 'vitest';
import { ConfigError, parseConfigText } from '../../../src/config/index.js';

const defaults = { stateDirectory: '/var/lib/edge-gatewayd', runtimeDirectory: '/run/edge-gatewayd' };

function refusal(text: string): string {
  try {
    parseConfigText(text, 'gateway.toml', defaults);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected the config to be refused');
}

describe('[metrics]', () => {
  it('is off by default', () => {
    expect(parseConfigText('', 'empty.toml', defaults).metrics).toEqual({
      listen: '',
      allow_non_loopback: false,
    });
  });

  it('takes loopback addresses and unix sockets', () => {
    for (const listen of [
      '127.0.0.1:9464',
      '[::1]:9464',
      '127.0.0.53:1',
      'unix:/run/edge-gatewayd/metrics.sock',
    ])
      expect(parseConfigText(`[metrics]\nlisten = "${listen}"\n`, 'x.toml', defaults).metrics.listen).toBe(
        listen,
      );
  });

  it('refuses a non-loopback address, naming the key and the way to allow it', () => {
    for (const listen of ['0.0.0.0:9464', '192.168.1.10:9464', '[::]:9464', '[fe80::1]:9464']) {
      const message = refusal(`[metrics]\nlisten = "${listen}"\n`);
      expect(message).toContain('metrics.listen');
      expect(message).toContain(`found "${listen}"`);
      expect(message).toContain('metrics.allow_non_loopback = true');
    }
  });

  it('serves a non-loopback address when allow_non_loopback says so', () => {
    const config = parseConfigText(
      '[metrics]\nlisten = "0.0.0.0:9464"\nallow_non_loopback = true\n',
      'x.toml',
      defaults,
    );
    expect(config.metrics.listen).toBe('0.0.0.0:9464');
  });

  it('refuses what is not an address, naming the key', () => {
    for (const listen of [
      'localhost:9464',
      '127.0.0.1',
      '127.0.0.1:70000',
      '[127.0.0.1]:9464',
      'unix:relative.sock',
      ':9464',
    ]) {
      const message = refusal(`[metrics]\nlisten = "${listen}"\n`);
      expect(message).toContain('metrics.listen');
      expect(message).toMatch(/127\.0\.0\.1:9464/);
    }
  });
});
