import { type Config, ConfigError, loadConfigFile } from '../config/index.js';
import { controlRequest, type DaemonStatus } from '../control/index.js';
import { GatewayError } from '../errors/index.js';
import { ClockFloor, type ClockFloorStatus } from '../trust/clock-floor.js';
import { type Verdict, worstStatus } from '../verdicts/index.js';
import { brokerCheck } from './broker-check.js';
import { certificateCheck } from './certificate-check.js';
import type { CheckContext } from './check-context.js';
import { clockChecks } from './clock-check.js';
import { crlCheck } from './crl-check.js';
import { databaseCheck, diskCheck } from './database-check.js';
import { estCheck } from './est-check.js';
import { keyCheck } from './key-check.js';
import { systemdCheck } from './systemd-check.js';

const CONTROL_TIMEOUT_MS = 5_000;

export interface CheckOptions {
  configPath: string;
  /** Control socket; default control.socket from the config. */
  socket?: string | undefined;
  /** A certificate with fewer days left warns (default 14). */
  expiryWarnDays?: number;
  /** A simulated identity key passes instead of warning (HIL rigs, development boxes; default false). */
  allowSimulated?: boolean | undefined;
}

export interface CheckReport {
  status: 'pass' | 'warn' | 'fail';
  /** 'daemon': the running daemon answered; 'offline': check read the config, database and key store itself. */
  view: 'daemon' | 'offline' | 'none';
  configPath: string;
  /** --allow-simulated: a simulated identity key passed instead of warning. */
  allowSimulated: boolean;
  checks: Verdict[];
}

/**
 * Every check of `gatewayctl check`, in order of what breaks a gateway most: config, the daemon,
 * identity key, certificate, broker, EST, CRLs, clock, state database and disk, systemd.
 */
export async function runChecks(options: CheckOptions): Promise<CheckReport> {
  const checks: Verdict[] = [];
  const report = (view: CheckReport['view']): CheckReport => ({
    status: worstStatus(checks),
    view,
    configPath: options.configPath,
    allowSimulated: options.allowSimulated ?? false,
    checks,
  });
  let config: Config;
  try {
    config = loadConfigFile(options.configPath);
    checks.push({ name: 'config', status: 'pass', detail: `${options.configPath}: valid` });
  } catch (error) {
    const problems =
      error instanceof ConfigError
        ? error.problems.map((p) => (p.path ? `${p.path}: ${p.message}` : p.message))
        : [];
    checks.push({
      name: 'config',
      status: 'fail',
      detail: `${options.configPath}: ${problems.length > 0 ? problems.join('; ') : error instanceof Error ? error.message : String(error)}`,
      fix: `correct the file (gatewayctl config check ${options.configPath} lists every problem), or pass the right one with --config; nothing else is checked without a valid config`,
    });
    return report('none');
  }

  const socket = options.socket ?? config.control.socket;
  let daemon: DaemonStatus | undefined;
  try {
    daemon = (await askDaemon(socket, 'status')) as DaemonStatus | undefined;
  } catch (error) {
    // Something may be running there: opening its key store and database ourselves could fight it.
    checks.push({
      name: 'daemon',
      status: 'fail',
      detail: `control socket ${socket}: ${error instanceof GatewayError ? error.describe() : String(error)}`,
      fix: 'run check as root or as a member of the edge-gatewayd group, or give the right socket with --socket; nothing else is checked until the daemon answers',
    });
    return report('none');
  }
  checks.push(daemonVerdict(daemon, socket));

  // Read-only: check never creates, migrates or writes the state database, daemon or not.
  const database = databaseCheck(config.store.path);
  if (daemon) database.store?.close();
  const store = daemon ? undefined : database.store;
  try {
    const clock = daemon
      ? ((await askDaemon(socket, 'clock.status')) as ClockFloorStatus | undefined)
      : store
        ? new ClockFloor(store, { advance: false }).status()
        : undefined;
    const context: CheckContext = {
      config,
      configPath: options.configPath,
      daemon,
      store,
      clock,
      now: new Date(),
      stateUnreadable: database.unreadable ?? 'the state database could not be read (see its check)',
      expiryWarnDays: options.expiryWarnDays ?? 14,
      allowSimulated: options.allowSimulated ?? false,
    };
    checks.push(await keyCheck(context));
    checks.push(certificateCheck(context));
    checks.push(await brokerCheck(context));
    checks.push(await estCheck(config));
    checks.push(crlCheck(context));
    checks.push(...clockChecks(context));
    checks.push(database.verdict);
    checks.push(diskCheck(config.store.path));
    checks.push(systemdCheck(context));
  } finally {
    store?.close();
  }
  return report(daemon ? 'daemon' : 'offline');
}

function daemonVerdict(daemon: DaemonStatus | undefined, socket: string): Verdict {
  if (!daemon) {
    return {
      name: 'daemon',
      status: 'warn',
      detail: `not running (no answer on ${socket}): the checks below read the config, state database and key store themselves`,
      fix: 'start it: systemctl start edge-gatewayd (journalctl -u edge-gatewayd -e says why it stopped)',
    };
  }
  const detail = `${daemon.state}, pid ${daemon.pid}, version ${daemon.version}, up ${Math.round(daemon.uptimeSeconds)} s, config ${daemon.configPath}`;
  if (daemon.state !== 'running') {
    return { name: 'daemon', status: 'warn', detail, fix: 'run check again in a minute' };
  }
  if (daemon.lastReload && !daemon.lastReload.ok) {
    return {
      name: 'daemon',
      status: 'warn',
      detail: `${detail}; last reload FAILED: ${daemon.lastReload.message.split('\n')[0]}`,
      fix: 'the previous config is still in use: fix the file (gatewayctl config check), then systemctl reload edge-gatewayd',
    };
  }
  return { name: 'daemon', status: 'pass', detail };
}

/** The daemon's answer, or undefined when it is not running. */
async function askDaemon(socket: string, method: string): Promise<unknown> {
  try {
    return await controlRequest(socket, method, undefined, { timeoutMs: CONTROL_TIMEOUT_MS });
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'EGW_CONTROL_NOT_RUNNING') return undefined;
    throw error;
  }
}
