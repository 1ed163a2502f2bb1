import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, dirname } from 'node:path';

export interface CProgram {
  /** The C source file. */
  source: string;
  /** Where the binary (or shared object) goes; rebuilt when the source is newer. */
  output: string;
  /** gcc flags before `-o` (optimisation, warnings, -shared…). */
  flags?: string[];
  /** Libraries after the source (-lssl…). */
  libraries?: string[];
  /** What to install when gcc itself is missing (Debian packages). Default build-essential. */
  packages?: string;
  /** A message for a compile error whose output matches (a missing header: what to install). */
  missing?: { pattern: RegExp; message: string };
}

/**
 * A C helper of the tests or benchmarks, compiled with gcc when its source is newer than the output
 * (or there is none yet); the output path. gcc writes beside it and the result is renamed into
 * place, so two test processes compiling at once never run a half-written binary.
 */
export function compileC(program: CProgram): string {
  const { source, output } = program;
  const name = basename(source);
  if (!existsSync(source)) throw new Error(`${name} source not found: ${source}`);
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) return output;
  mkdirSync(dirname(output), { recursive: true });
  const partial = `${output}.${process.pid}.partial`;
  const result = spawnSync(
    'gcc',
    [...(program.flags ?? []), '-o', partial, source, ...(program.libraries ?? [])],
    { encoding: 'utf8' },
  );
  if (result.error)
    throw new Error(
      `gcc is missing: ${name} is C (apt-get install ${program.packages ?? 'build-essential'})`,
    );
  if (result.status !== 0) {
    rmSync(partial, { force: true });
    throw new Error(
      program.missing?.pattern.test(result.stderr)
        ? program.missing.message
        : `compiling ${name} failed:\n${result.stderr}`,
    );
  }
  renameSync(partial, output);
  return output;
}
