import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { compileC } from './c-program.js';
import { repositoryRoot } from './daemon-harness.js';

/** Where systemd-timesyncd leaves its flag at its first synchronisation of a boot. */
export const TIMESYNCD_FLAG = '/run/systemd/timesync/synchronized';

/** protect-clock.c: adjtimex and clock_adjtime fail with EPERM, as under the unit's ProtectClock=yes. */
export function protectClockBinary(): string {
  return compileC({
    source: join(repositoryRoot, 'test/helpers/protect-clock.c'),
    output: join(repositoryRoot, 'dist/test/helpers/protect-clock'),
    flags: ['-O2', '-Wall', '-Werror'],
  });
}

/**
 * Run by `unshare -m` (private propagation: no mount here is seen outside): a tmpfs on /run/systemd
 * (or on /run where that is missing), so the mount point for timesyncd's directory is made without
 * writing the host's /run; the flag file in it when $1 is "synchronized"; then exec "$@" (same pid).
 * The namespace's /run/systemd has no /run/systemd/system: systemd is not the init system in it.
 */
const NAMESPACE_SCRIPT = [
  'set -eu',
  'if [ -d /run/systemd ]; then top=/run/systemd; else top=/run; fi',
  'mount -t tmpfs -o mode=0755 egw-protect-clock "$top"',
  'mkdir -p /run/systemd/timesync',
  'if [ "$1" = synchronized ]; then : > /run/systemd/timesync/synchronized; fi',
  'shift',
  'exec "$@"',
].join('\n');

/**
 * `command` as the shipped unit runs the daemon on a board whose clock systemd-timesyncd keeps: in a
 * private mount namespace with timesyncd's flag (or without it), under the ProtectClock seccomp
 * filter. The command keeps the pid it is spawned with, so that pid's /proc entries name the namespace.
 */
export function protectedClockCommand(command: string[], timesyncd: 'synchronized' | 'none'): string[] {
  return [
    'unshare',
    '-m',
    '--propagation',
    'private',
    'sh',
    '-c',
    NAMESPACE_SCRIPT,
    'protect-clock',
    timesyncd,
    protectClockBinary(),
    ...command,
  ];
}

/** `command` in the mount namespace of process `pid` (one protectedClockCommand started), under the same filter. */
export function inProtectedClockOf(pid: number, command: string[]): string[] {
  return ['nsenter', `--mount=/proc/${pid}/ns/mnt`, '--', protectClockBinary(), ...command];
}

/** The flag file as process `pid` sees it (its mount namespace, through /proc). */
export function timesyncdFlagOf(pid: number): string {
  return `/proc/${pid}/root${TIMESYNCD_FLAG}`;
}

/**
 * Why this machine cannot run a process so, or undefined when it can: tried for real (the helper
 * compiled, a namespace with the flag made, the filter installed), not guessed from the environment.
 */
export function protectClockUnavailableReason(): string | undefined {
  if (process.platform !== 'linux') return `not Linux (${process.platform})`;
  if (process.arch !== 'x64' && process.arch !== 'arm64')
    return `seccomp filter written for x64/arm64 only, not ${process.arch}`;
  if (process.getuid?.() !== 0) return 'not root (unshare -m and mount need it)';
  for (const tool of ['unshare', 'nsenter', 'mount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is missing (util-linux)`;
  }
  try {
    protectClockBinary();
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  const [executable, ...args] = protectedClockCommand(['test', '-e', TIMESYNCD_FLAG], 'synchronized');
  const probe = spawnSync(executable as string, args, { encoding: 'utf8', timeout: 20_000 });
  if (probe.status !== 0) {
    return `cannot run a process in a private mount namespace with a tmpfs on /run/systemd under a seccomp filter (unshare -m; mount -t tmpfs; seccomp(2)): ${(probe.stderr || probe.error?.message || `status ${probe.status}`).trim()}`;
  }
  return undefined;
}
