import { readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/index.js';
import { withSimulatedBuses } from '../../../src/daemon/index.js';
import { keySettingsFromConfig } from '../../../src/identity/index.js';
import { deviceParams } from '../../../src/keys/index.js';

const root = fileURLToPath(new URL('../../../', import.meta.url));

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** Module specifiers of static imports, re-exports and import() calls, comments stripped. */
function specifiers(text: string): string[] {
  const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
  const found: string[] = [];
  for (const match of code.matchAll(/(?:\bfrom\s*|\bimport\s*\(?\s*)['"]([^'"]+)['"]/g)) {
    found.push(match[1] as string);
  }
  return found;
}

describe('product code and the hardware simulators (issue 17)', () => {
  it('no file in src/ imports hw-sim/, nor names it outside comments', () => {
    const offenders = sources(join(root, 'src')).flatMap((file) => {
      const text = readFileSync(file, 'utf8');
      const code = text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:])\/\/.*$/gm, '$1');
      const imports = specifiers(text).filter((s) => s.includes('hw-sim'));
      const named = code.includes('hw-sim') ? ['(named in code)'] : [];
      return [...imports, ...named].map((what) => `${relative(root, file)}: ${what}`);
    });
    expect(offenders).toEqual([]);
  });

  it('the daemon chooses the simulated ATECC608A bus by config: a module that opens the simulator, handed to the device', () => {
    const config = parseConfigText(
      [
        '[identity.key]',
        'backend = "atecc608"',
        '[identity.key.atecc608]',
        'simulator_state = "/tmp/egw-sim/atecc608.json"',
        'simulator_timing = false',
      ].join('\n'),
      'gateway.toml',
    );
    // keys/ alone cannot reach the simulator: it says so instead of falling back to /dev/i2c-1.
    expect(() => deviceParams(keySettingsFromConfig(config))).toThrow(/simulator is configured/);
    const params = deviceParams(withSimulatedBuses(keySettingsFromConfig(config))) as {
      i2cBus?: { module: string; exportName: string; options: Record<string, unknown> };
    };
    expect(params.i2cBus?.options).toEqual({ statePath: '/tmp/egw-sim/atecc608.json', timing: false });
    const module = createRequire(import.meta.url)(fileURLToPath(params.i2cBus?.module ?? '')) as Record<
      string,
      unknown
    >;
    expect(typeof module[params.i2cBus?.exportName ?? '']).toBe('function');

    // Without simulator_state: /dev/i2c-N, nothing to load.
    const real = parseConfigText('[identity.key]\nbackend = "atecc608"\n', 'gateway.toml');
    expect(
      (deviceParams(withSimulatedBuses(keySettingsFromConfig(real))) as { i2cBus?: unknown }).i2cBus,
    ).toBeUndefined();
  });
});
