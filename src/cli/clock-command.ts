import { userInfo } from 'node:os';
import type { Command } from 'commander';
import { BUILD_TIME_FLOOR } from '../build-info/index.js';
import { loadConfigFile } from '../config/index.js';
import { controlRequest } from '../control/index.js';
import { GatewayError } from '../errors/index.js';
import { Store } from '../store/index.js';
import {
  ClockFloor,
  type ClockFloorReset,
  type ClockFloorStatus,
  clockFloorResets,
  resetClockFloor,
} from '../trust/clock-floor.js';
import { reportFailure } from './cli-failure.js';
import { printJson, type TrustStateOptions, withStateOptions } from './trust-state.js';

const CONTROL_TIMEOUT_MS = 5_000;

/**
 * `gatewayctl clock`: the clock floor validity is judged at (its value, the evidence that set it,
 * the system clock and whether the kernel says it is NTP-synchronised), and `clock reset`, which
 * lowers it (audited) and tells a running daemon.
 */
export function registerClockCommands(program: Command): void {
  const clock = program
    .command('clock')
    .description('the clock floor certificate validity is judged at: show (default), reset');

  withStateOptions(clock.command('show', { isDefault: true }))
    .description('the clock floor: value, evidence, system clock and its NTP synchronisation')
    .addHelpText(
      'after',
      `
The floor only rises on evidence that is hard to fake: the build time, the notBefore of the issued
operational certificate, a verified CRL's thisUpdate, a verified OCSP producedAt, and the system
clock only while the kernel says NTP synchronised it. Validity is judged at the later of the
system clock and the floor. Shows the running daemon's view, else the state database's.`,
    )
    .action((options: TrustStateOptions) => showClock(options));

  withStateOptions(clock.command('reset'))
    .description('lower the clock floor (audited in the log and the state database)')
    .option(
      '--to <time>',
      'ISO 8601 time to set it to (not above the current floor; never below the build time)',
    )
    .option('--to-build-time', `back to this release's build time (${BUILD_TIME_FLOOR.toISOString()})`)
    .addHelpText(
      'after',
      `
Only lowers the floor: raising it needs evidence (NTP synchronisation, a CRL, the gateway's next
certificate), never an operator's word. The evidence still stored (the operational certificate's
notBefore, the stored CRLs' thisUpdate) raises it again at once in a running daemon: the result is
the floor the evidence supports. Who, when, from and to are logged by the daemon (event
clock.reset) and kept in the state database.

Examples:
  gatewayctl clock reset --to-build-time
  gatewayctl clock reset --to 2027-03-01T00:00:00Z`,
    )
    .action((options: TrustStateOptions & { to?: string; toBuildTime?: boolean }) => resetClock(options));
}

async function showClock(options: TrustStateOptions): Promise<void> {
  const json = Boolean(options.json);
  try {
    const config = loadConfigFile(options.config);
    const socket = options.socket ?? config.control.socket;
    let status: ClockFloorStatus;
    let view: 'daemon' | 'database';
    let resets: ClockFloorReset[];
    const store = Store.open(config.store.path);
    try {
      resets = clockFloorResets(store);
      const live = await askDaemon(socket, 'clock.status', undefined);
      view = live ? 'daemon' : 'database';
      status = (live as ClockFloorStatus | undefined) ?? new ClockFloor(store, { advance: false }).status();
    } finally {
      store.close();
    }
    const lastReset = resets.at(-1) ?? null;
    if (json) {
      printJson({ ok: true, view, ...status, lastReset });
      return;
    }
    const rows: [string, string][] = [
      ['floor', `${status.floor} (${status.source}: ${status.detail}; recorded ${status.recordedAt})`],
      ['system clock', `${status.system}${status.behind ? ' — behind the floor' : ''}`],
      ['synchronized', `${status.synchronized ? 'yes' : 'no'} (${status.syncDetail})`],
      ['judged at', status.judgedAt],
      ['build time', status.buildFloor],
      [
        'last reset',
        lastReset ? `${lastReset.at} by ${lastReset.by}: ${lastReset.from} → ${lastReset.to}` : 'never',
      ],
      ['view', view === 'daemon' ? 'running daemon' : 'state database (daemon not running)'],
    ];
    const width = Math.max(...rows.map(([label]) => label.length));
    process.stdout.write(`${rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n')}\n`);
  } catch (error) {
    reportFailure(error, json);
  }
}

async function resetClock(
  options: TrustStateOptions & { to?: string; toBuildTime?: boolean },
): Promise<void> {
  const json = Boolean(options.json);
  try {
    if (Boolean(options.to) === Boolean(options.toBuildTime)) {
      throw new GatewayError(
        'EGW_CLOCK_RESET_INVALID',
        'give exactly one of --to <time> and --to-build-time',
        {
          hint: 'gatewayctl clock reset --to-build-time',
        },
      );
    }
    const to = options.toBuildTime ? BUILD_TIME_FLOOR : new Date(String(options.to));
    if (Number.isNaN(to.getTime()) || !/^\d{4}-\d{2}-\d{2}/.test(options.to ?? '2000-01-01')) {
      throw new GatewayError(
        'EGW_CLOCK_RESET_INVALID',
        `--to ${JSON.stringify(options.to)} is not an ISO 8601 time`,
        {
          hint: 'for example --to 2027-03-01T00:00:00Z',
        },
      );
    }
    const config = loadConfigFile(options.config);
    const store = Store.open(config.store.path);
    let result: ReturnType<typeof resetClockFloor>;
    const by = operator();
    try {
      const current = new ClockFloor(store, { advance: false }).floor;
      if (to.getTime() > current.getTime()) {
        throw new GatewayError(
          'EGW_CLOCK_RESET_RAISES',
          `--to ${to.toISOString()} is above the current floor ${current.toISOString()}: a reset only lowers it`,
          {
            hint: 'the floor rises on evidence only: let NTP synchronise the clock (chrony, systemd-timesyncd), or import a current CRL',
          },
        );
      }
      result = resetClockFloor(store, to, by);
    } finally {
      store.close();
    }
    const socket = options.socket ?? config.control.socket;
    const live = (await askDaemon(socket, 'clock.reload', { by })) as ClockFloorStatus | undefined;
    const body = {
      ok: true,
      by,
      from: result.from.at.toISOString(),
      fromSource: result.from.source,
      to: result.to.at.toISOString(),
      daemon: live ? 'reloaded' : 'not-running',
      ...(live ? { floor: live.floor, source: live.source } : {}),
    };
    if (json) {
      printJson(body);
      return;
    }
    process.stdout.write(
      `clock floor reset from ${body.from} (${body.fromSource}) to ${body.to} by ${by}\n` +
        (live
          ? `the running edge-gatewayd applied it; its floor is now ${live.floor} (${live.source})\n`
          : 'edge-gatewayd is not running: the floor applies at its next start\n'),
    );
  } catch (error) {
    reportFailure(error, json);
  }
}

/** Who ran the reset: the login behind sudo when there is one. */
function operator(): string {
  const user = userInfo();
  const sudo = process.env.SUDO_USER;
  return `${user.username} (uid ${user.uid})${sudo && sudo !== user.username ? ` via sudo from ${sudo}` : ''}`;
}

/** The daemon's answer, or undefined when it is not running. */
async function askDaemon(socket: string, method: string, params: unknown): Promise<unknown> {
  try {
    return await controlRequest(socket, method, params, { timeoutMs: CONTROL_TIMEOUT_MS });
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'EGW_CONTROL_NOT_RUNNING') return undefined;
    throw error;
  }
}
