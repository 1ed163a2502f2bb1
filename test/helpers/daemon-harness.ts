import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { gatewayRuntime } from './gateway-runtime.js';

/** The repository root: the nearest folder with package.json (this file also runs compiled, from dist/test). */
export const repositoryRoot = (() => {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
})();

/** A built entry point; the tests run what ships (dist/), so `npm test` builds first. */
export function builtEntry(relative: 'daemon' | 'cli'): string {
  const path = join(repositoryRoot, 'dist/src', relative, 'main.js');
  if (!existsSync(path))
    throw new Error(`${path} is missing: run \`npm run build\` (npm test does it for you)`);
  return path;
}

export interface GatewayFixture {
  dir: string;
  keyPath: string;
  configPath: string;
  dbPath: string;
  socketPath: string;
  writeConfig(extra?: string): void;
}

/** The software key store in the fixture's folder (the default); another `[identity.key]` table may replace it. */
const SOFTWARE_KEY = (keyPath: string) =>
  `[identity.key]\nbackend = "software"\n[identity.key.software]\npath = "${keyPath}"\n`;

/** A temporary state directory with a config whose paths point into it. */
export function gatewayFixture(extra = '', keySection?: string): GatewayFixture {
  const dir = mkdtempSync(join(tmpdir(), 'egw-it-'));
  const fixture: GatewayFixture = {
    dir,
    configPath: join(dir, 'gateway.toml'),
    dbPath: join(dir, 'state', 'state.db'),
    socketPath: join(dir, 'run', 'control.sock'),
    keyPath: join(dir, 'identity-key.pem'),
    writeConfig(more = '') {
      writeFileSync(
        fixture.configPath,
        `[store]\npath = "${fixture.dbPath}"\n[control]\nsocket = "${fixture.socketPath}"\n` +
          `[identity]\ncertificate_dir = "${dir}/identity"\n${keySection ?? SOFTWARE_KEY(fixture.keyPath)}${more}`,
      );
    },
  };
  fixture.writeConfig(extra);
  return fixture;
}

/**
 * Environment that makes a process's clock (and OpenSSL's) read `at` (e.g. "1970-01-02 00:00:00"),
 * by preloading libfaketime directly: the `faketime` wrapper forks, so killing it would orphan the child.
 */
export function fakeClockEnv(at: string): NodeJS.ProcessEnv {
  for (const dir of readdirSync('/usr/lib')) {
    const library = join('/usr/lib', dir, 'faketime', 'libfaketime.so.1');
    if (existsSync(library)) return { LD_PRELOAD: library, FAKETIME: `@${at}` };
  }
  throw new Error('libfaketime is missing: apt-get install faketime (or run scripts/setup.sh)');
}

/** The daemon and gatewayctl as the tests run them: this node and dist/, or EDGE_GATEWAYD_TEST_RUNTIME's (arm64). */
function gatewayCommand(entry: 'daemon' | 'cli'): string[] {
  const runtime = gatewayRuntime(repositoryRoot);
  if (runtime.root === repositoryRoot) return [runtime.node, builtEntry(entry)];
  return [runtime.node, join(runtime.root, 'dist/src', entry, 'main.js')];
}

export function startDaemon(configPath: string, watchdogUsec?: number): ServiceSupervisor {
  return ServiceSupervisor.start({
    command: [...gatewayCommand('daemon'), '--config', configPath],
    ...(watchdogUsec ? { watchdogUsec } : {}),
  });
}

export interface CommandResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the built gatewayctl as an operator would. Asynchronous, so the test's event loop keeps going. */
export function gatewayctl(...args: string[]): Promise<CommandResult> {
  return gatewayctlWith({}, ...args);
}

/**
 * `gatewayctl provision factory` for a test's gateway (factory CA kit in caDir; extra: e.g. '--yes' to
 * lock a secure element's zones): throws with gatewayctl's stderr when it fails.
 */
export async function provisionFactory(configPath: string, caDir: string, ...extra: string[]): Promise<void> {
  const provisioned = await gatewayctl('provision', 'factory', '-c', configPath, '--ca-dir', caDir, ...extra);
  if (provisioned.code !== 0) throw new Error(`gatewayctl provision factory failed: ${provisioned.stderr}`);
}

/** gatewayctl with extra environment (e.g. libfaketime's), as the operator's shell would run it. */
export function gatewayctlWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<CommandResult> {
  return new Promise((resolvePromise, reject) => {
    const [node, ...entry] = gatewayCommand('cli');
    const child = spawn(node as string, [...entry, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk) => {
      stderr += chunk;
    });
    child.on('error', reject);
    child.on('close', (code) => resolvePromise({ code, stdout, stderr }));
  });
}
