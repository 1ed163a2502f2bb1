import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { databaseCheck } from '../../../src/gateway-check/index.js';
import { MIGRATIONS } from '../../../src/store/index.js';

const latest = Math.max(...MIGRATIONS.map((m) => m.version));

describe('databaseCheck', () => {
  it('a database of schema version 0 (a 0-byte file) is the older-schema warning, not a failure, and stays 0 bytes', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-dbcheck-'));
    try {
      const path = join(dir, 'state.db');
      writeFileSync(path, '');
      const { verdict, store, unreadable } = databaseCheck(path);
      expect(verdict.status, verdict.detail).toBe('warn');
      expect(verdict.detail).toContain(`schema version 0, older than this release's ${latest}`);
      expect(verdict.fix).toContain('systemctl restart edge-gatewayd');
      expect(store).toBeUndefined();
      expect(unreadable).toMatch(/older schema \(version 0\)/);
      expect(readFileSync(path).length).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
