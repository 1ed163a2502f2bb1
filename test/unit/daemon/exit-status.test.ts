import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/index.js';
import { EXIT_CONFIG, EXIT_STATE_DATABASE, exitStatusFor } from '../../../src/daemon/exit-status.js';
import { GatewayError } from '../../../src/errors/index.js';
import { OpenSslVersionError } from '../../../src/native/openssl/index.js';
import { StoreError } from '../../../src/store/index.js';
import { builtEntry } from '../../helpers/daemon-harness.js';

const migrationFailed = (sqliteCode: string) =>
  new StoreError('EGW_STORE_MIGRATION_FAILED', '/var/lib/edge-gatewayd/state.db', 'migration 6 failed', {
    cause: Object.assign(new Error('x'), { code: sqliteCode }),
  });

describe('exitStatusFor', () => {
  it('gives the statuses the unit does not restart to what a restart cannot fix', () => {
    const config = new ConfigError('EGW_CONFIG_INVALID', '/etc/edge-gatewayd/gateway.toml', [
      { path: 'identity.est.trust_anchor_file', message: 'cannot be read' },
    ]);
    expect(exitStatusFor(config)).toBe(EXIT_CONFIG);
    expect(exitStatusFor(new OpenSslVersionError('4.0.0', 'OpenSSL 4.0.0 is not OpenSSL 3'))).toBe(
      EXIT_CONFIG,
    );
    expect(exitStatusFor(new StoreError('EGW_STORE_CORRUPT', '/x', 'corrupt'))).toBe(EXIT_STATE_DATABASE);
    expect(exitStatusFor(new StoreError('EGW_STORE_SCHEMA_NEWER', '/x', 'newer'))).toBe(EXIT_STATE_DATABASE);
    expect(exitStatusFor(migrationFailed('SQLITE_ERROR'))).toBe(EXIT_STATE_DATABASE);
  });

  it('leaves what can pass to Restart=on-failure (status 1)', () => {
    expect(exitStatusFor(migrationFailed('SQLITE_BUSY'))).toBe(1);
    expect(exitStatusFor(migrationFailed('SQLITE_FULL'))).toBe(1);
    expect(exitStatusFor(migrationFailed('SQLITE_IOERR_WRITE'))).toBe(1);
    expect(exitStatusFor(new StoreError('EGW_STORE_UNOPENABLE', '/x', 'cannot open'))).toBe(1);
    expect(exitStatusFor(new GatewayError('EGW_KEY_DEVICE_ERROR', 'x'))).toBe(1);
    expect(exitStatusFor(new Error('boom'))).toBe(1);
  });
});

// Debian's own node (20 on Debian 12) is what /usr/bin/node is on our machines: the daemon must
// refuse it with a message instead of crashing in a native addon (it segfaulted in better-sqlite3).
const oldNode = '/usr/bin/node';
const oldNodeVersion = existsSync(oldNode)
  ? spawnSync(oldNode, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout.trim()
  : '';
const noOldNode =
  Number(oldNodeVersion.split('.')[0]) > 0 && Number(oldNodeVersion.split('.')[0]) < 24
    ? undefined
    : `no Node.js older than 24 at ${oldNode} (found: ${oldNodeVersion || 'none'})`;
if (noOldNode) console.warn(`skipping the old-runtime test: ${noOldNode}`);

describe.skipIf(noOldNode)(
  `edge-gatewayd under an unsupported Node.js (${oldNode} ${oldNodeVersion})`,
  () => {
    it('exits 78 with what to do, before loading any native addon', () => {
      const result = spawnSync(oldNode, [builtEntry('daemon'), '--config', '/nonexistent.toml'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      });
      expect(result.signal).toBeNull();
      expect(result.status).toBe(EXIT_CONFIG);
      expect(result.stderr).toContain(
        `Node.js 24 or newer is required, but ${oldNode} is v${oldNodeVersion}`,
      );
      expect(result.stderr).toContain('/usr/local/bin/node');
    });

    it('gatewayctl too: exits 78 with what to do instead of crashing in better-sqlite3', () => {
      const result = spawnSync(oldNode, [builtEntry('cli'), 'status', '--socket', '/nonexistent.sock'], {
        encoding: 'utf8',
        env: { PATH: process.env.PATH ?? '' },
      });
      expect(result.signal).toBeNull();
      expect(result.status).toBe(EXIT_CONFIG);
      expect(result.stderr).toContain(
        `gatewayctl: Node.js 24 or newer is required, but ${oldNode} is v${oldNodeVersion}`,
      );
    });
  },
);
