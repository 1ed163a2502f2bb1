import { type ChildProcess, spawn } from 'node:child_process';
import { cpus } from 'node:os';
import { createInterface } from 'node:readline';
import { jsonResultOf } from '../json-result-child.js';
import { loadGeneratorBinary } from './build-load-generator.js';

/** Where the load goes and who the client is (PEM files: the C load generator reads them). */
export interface LoadTarget {
  port: number;
  host?: string;
  caFile: string;
  certFile: string;
  keyFile: string;
  /** The server's pid: the load generator reads its CPU time (and RSS) over the measured window. */
  serverPid?: number;
}

export type LoadMode = 'get' | 'post' | 'handshake' | 'resume' | 'idle';

/** Options of dtls-coap-load (see its header): names without "--", values as given. */
export type LoadOptions = Partial<
  Record<
    | 'sessions'
    | 'window'
    | 'concurrency'
    | 'addresses'
    | 'seconds'
    | 'warmup'
    | 'rate'
    | 'mtu'
    | 'timeout-ms'
    | 'min-server-cpu'
    | 'max-seconds'
    | 'identities'
    | 'content-format'
    | 'accept',
    number
  > &
    Record<'path' | 'payload' | 'payload-hex' | 'cipher', string>
>;

/** With two cores or more the server gets core 0 and the load generator core 1. */
export const pinning = cpus().length >= 2;

/** Pins a running process (all its threads) to core 0; no-op on one core. */
export async function pinServer(pid: number | undefined): Promise<void> {
  if (!pinning || !pid) return;
  await new Promise<void>((resolve) => {
    const child = spawn('taskset', ['-a', '-p', '-c', '0', String(pid)], { stdio: 'ignore' });
    child.once('error', () => resolve());
    child.once('exit', () => resolve());
  });
}

function argv(mode: LoadMode, target: LoadTarget, options: LoadOptions): string[] {
  const args = [
    mode,
    '--host',
    target.host ?? '127.0.0.1',
    '--port',
    String(target.port),
    '--ca',
    target.caFile,
    '--cert',
    target.certFile,
    '--key',
    target.keyFile,
  ];
  if (target.serverPid) args.push('--server-pid', String(target.serverPid));
  for (const [name, value] of Object.entries(options))
    if (value !== undefined) args.push(`--${name}`, String(value));
  return args;
}

function spawnLoad(mode: LoadMode, target: LoadTarget, options: LoadOptions): ChildProcess {
  const binary = loadGeneratorBinary();
  const args = argv(mode, target, options);
  return pinning
    ? spawn('taskset', ['-c', '1', binary, ...args], { stdio: ['pipe', 'pipe', 'inherit'] })
    : spawn(binary, args, { stdio: ['pipe', 'pipe', 'inherit'] });
}

/** One run of the load generator (get, post, handshake, resume): its JSON result line. */
export async function runLoad(
  mode: Exclude<LoadMode, 'idle'>,
  target: LoadTarget,
  options: LoadOptions = {},
): Promise<Record<string, unknown>> {
  const child = spawnLoad(mode, target, options);
  child.stdin?.end();
  return jsonResultOf(child, `dtls-coap-load ${mode}`);
}

/** Idle sessions held open: `ready` is the load generator's report once they are all up. */
export interface IdleSessions {
  ready: Record<string, unknown>;
  /** Closes the sessions (close_notify) and waits for the load generator to exit. */
  close(): Promise<void>;
}

export async function holdIdleSessions(
  target: LoadTarget,
  options: LoadOptions & { sessions: number },
): Promise<IdleSessions> {
  const child = spawnLoad('idle', target, options);
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  const ready = await new Promise<Record<string, unknown>>((resolve, reject) => {
    lines.once('line', (line) => resolve(JSON.parse(line) as Record<string, unknown>));
    child.once('exit', (code) => reject(new Error(`dtls-coap-load idle exited with ${code}`)));
  });
  return {
    ready,
    close: async () => {
      child.stdin?.end();
      const killer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(killer);
    },
  };
}
