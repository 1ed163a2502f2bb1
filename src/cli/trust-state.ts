import type { Command } from 'commander';
import { type Config, DEFAULT_CONFIG_PATH, loadConfigFile } from '../config/index.js';
import { controlRequest } from '../control/index.js';
import { GatewayError } from '../errors/index.js';
import { Store } from '../store/index.js';
import { reportFailure } from './cli-failure.js';

/*
 * The state-database plumbing of `gatewayctl trust …` and `gatewayctl sensors …`: both edit trust
 * state offline (so they work before the daemon's first start), then tell a running daemon to
 * re-read it (trust.reload), which closes sessions the change refuses.
 */

export interface TrustStateOptions {
  config: string;
  socket?: string;
  json?: boolean;
}

export interface TrustState {
  config: Config;
  store: Store;
}

/** What a command did: the --json body, the text for operators, and whether the daemon must re-read. */
export interface TrustOutcome {
  json: Record<string, unknown>;
  text: string;
  /** True when the change affects which sensors the daemon admits (it is told with trust.reload). */
  changed?: boolean;
  warnings?: string[];
}

export const EXIT_STATUS_HELP =
  '\nExit status: 0 done, 1 error (its stable EGW_… code is in the --json output), 2 usage error.';

const RELOAD_TIMEOUT_MS = 5_000;

/** The options every trust and sensors subcommand takes. */
export function withStateOptions(command: Command): Command {
  return command
    .option('-c, --config <path>', 'config file naming the state database (store.path)', DEFAULT_CONFIG_PATH)
    .option('-s, --socket <path>', 'control socket of the daemon to notify (default: control.socket)')
    .option('--json', 'print the result as JSON on stdout (for scripts)')
    .addHelpText('afterAll', EXIT_STATUS_HELP);
}

/**
 * Commander's usage errors exit with 2 under `command` (set before its subcommands are added: they
 * inherit it), so scripts can tell a mistyped command from a refused operation (1).
 */
export function exitTwoOnUsageError(command: Command): Command {
  return command.exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : 2));
}

/**
 * Runs `work` on the state database named by the config, closes it, notifies a running daemon
 * when the work changed trust state, and prints the outcome (or the failure, with exit status 1).
 */
export async function runOnTrustState(
  options: TrustStateOptions,
  work: (state: TrustState) => TrustOutcome,
): Promise<void> {
  const json = Boolean(options.json);
  try {
    const config = loadConfigFile(options.config);
    const store = Store.open(config.store.path);
    let outcome: TrustOutcome;
    try {
      outcome = work({ config, store });
    } finally {
      store.close();
    }
    const daemon = outcome.changed ? await tellDaemon(options.socket ?? config.control.socket) : undefined;
    const warnings = outcome.warnings ?? [];
    if (json) {
      printJson({
        ok: true,
        ...outcome.json,
        ...(warnings.length > 0 ? { warnings } : {}),
        ...(daemon ? { daemon: daemon.state, daemonMessage: daemon.message } : {}),
      });
    } else {
      for (const warning of warnings) process.stderr.write(`gatewayctl: warning: ${warning}\n`);
      process.stdout.write(outcome.text + (daemon ? `${daemon.message}\n` : ''));
    }
  } catch (error) {
    reportFailure(error, json);
  }
}

interface DaemonNotice {
  state: 'reloaded' | 'not-running' | 'not-told';
  message: string;
}

/** Best effort: the change is already in the database, so a daemon that cannot be told is no error. */
async function tellDaemon(socket: string): Promise<DaemonNotice> {
  try {
    await controlRequest(socket, 'trust.reload', undefined, { timeoutMs: RELOAD_TIMEOUT_MS });
    return { state: 'reloaded', message: 'the running edge-gatewayd applied the change' };
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'EGW_CONTROL_NOT_RUNNING') {
      return {
        state: 'not-running',
        message: 'edge-gatewayd is not running: the change applies at its next start',
      };
    }
    const reason = error instanceof Error ? error.message : String(error);
    return {
      state: 'not-told',
      message: `the change is saved, but edge-gatewayd could not be told (${reason}): restart it to apply the change`,
    };
  }
}

export function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}

/** Columns padded to their widest cell; the first row is the header. */
export function table(rows: readonly (readonly string[])[]): string {
  const widths =
    rows[0]?.map((_, column) => Math.max(...rows.map((row) => (row[column] ?? '').length))) ?? [];
  return rows
    .map((row) =>
      row
        .map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0)))
        .join('  '),
    )
    .join('\n')
    .concat('\n');
}
