import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

/**
 * README's first command is `scripts/setup.sh && npm run demo`: the main job on its embedded default
 * (the simulated ATECC608A). It broke once without any test noticing (the demo edits the example
 * config by its text, and a default there changed), so it runs here as a newcomer runs it.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));

it('npm run demo (the README main job, simulated ATECC608A) ends with every check passing', async () => {
  const output = await new Promise<string>((resolve, reject) => {
    execFile(
      process.execPath,
      ['dist/scripts/demo.js', '--json'],
      { cwd: root, timeout: 180_000, maxBuffer: 16 << 20 },
      (error, stdout, stderr) => (error ? reject(new Error(`${error.message}\n${stderr}`)) : resolve(stdout)),
    );
  });
  const report = JSON.parse(output) as {
    ok: boolean;
    error: string | null;
    checks: { name: string; ok: boolean; detail: string }[];
    factoryChecklist: unknown;
  };
  expect(report.error).toBeNull();
  expect(report.checks.filter((check) => !check.ok)).toEqual([]);
  expect(report.checks.length).toBeGreaterThanOrEqual(8);
  expect(report.ok).toBe(true);
  // What the simulator cannot prove is n/a (simulated), not a FAIL to be explained away.
  expect(report.factoryChecklist).toEqual({
    result: 'PASS',
    failed: [],
    notApplicable: [expect.objectContaining({ name: 'key not exportable', simulated: true })],
  });
  expect(report.checks.map((check) => check.name)).toContain('factory identity checklist');
}, 200_000);
