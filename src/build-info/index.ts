import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * Facts about this build, read once from the package's own package.json. Found by walking up from
 * this file, so it works from src/ (tests) and dist/src/ (installed) alike.
 */
function readPackage(): { name: string; version: string; root: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    try {
      const pkg = JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'edge-gatewayd' && pkg.version)
        return { name: pkg.name, version: pkg.version, root: dir };
    } catch {
      // not here: keep walking up
    }
    const parent = dirname(dir);
    if (parent === dir) return { name: 'edge-gatewayd', version: '0.0.0-unknown', root: process.cwd() };
    dir = parent;
  }
}

export const PACKAGE = readPackage();
export const VERSION = PACKAGE.version;
/** The installed package's folder (holds scripts/, config/, systemd/). */
export const PACKAGE_ROOT = PACKAGE.root;

/**
 * No wall clock reading before this instant can be right: this release did not exist yet. A board
 * without an RTC boots at 1970; the identity and trust modules use this (and the last time they saw)
 * as a floor for validity checks. Move it forward with each release.
 */
export const BUILD_TIME_FLOOR = new Date('2026-11-01T00:00:00Z');
