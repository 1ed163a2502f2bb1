import { type Command, InvalidArgumentError } from 'commander';
import { DEFAULT_CONFIG_PATH } from '../config/index.js';
import { type CheckReport, runChecks } from '../gateway-check/index.js';
import { verdictLine } from '../verdicts/index.js';
import { reportFailure } from './cli-failure.js';

/** Exit status of `gatewayctl check`: the worst result. */
export const CHECK_EXIT = { pass: 0, warn: 1, fail: 2 } as const;
/** check itself could not run, or was called wrongly: not 1-3, which mean warn, fail, not running elsewhere. */
export const CHECK_EXIT_ERROR = 4;

export function registerCheckCommand(program: Command): void {
  program
    .command('check')
    .description(
      'health checklist of this gateway: each check PASS, WARN, FAIL (with the fix) or n/a (with why)',
    )
    .option('-c, --config <path>', 'configuration file', DEFAULT_CONFIG_PATH)
    .option('-s, --socket <path>', 'control socket of the daemon (default: control.socket from the config)')
    .option('--expiry-warn-days <days>', 'warn when the certificate has fewer days left', parseDays, 14)
    .option(
      '--allow-simulated',
      'a simulated identity key (simulator, swtpm, software file) passes instead of warning: for HIL rigs and development boxes only, never on a field gateway; its line still says SIMULATED',
    )
    .option('--json', 'print the report as JSON (for scripts and fleet tooling)')
    .exitOverride((error) => process.exit(error.exitCode === 0 ? 0 : CHECK_EXIT_ERROR))
    .addHelpText(
      'after',
      `
Checks, in order:
  config                        the file parses and every key is valid (as gatewayctl config check)
  daemon                        edge-gatewayd answers on its control socket
  identity key                  reachable, and what it is: hardware, or SIMULATED (simulator, swtpm,
                                software file: a warning, since a production gateway needs the part;
                                with --allow-simulated it passes, still marked SIMULATED)
  operational certificate       valid now, days left (warn under --expiry-warn-days)
  broker reachable (mutual TLS) the daemon's MQTT connection; without the daemon a TLS handshake
                                verifying the broker only (the gateway's certificate is not presented)
  EST server reachable          GET /cacerts verified against identity.est.trust_anchor_file
  sensor CRLs fresh             every stored CRL before its nextUpdate
  clock vs floor                the system clock not behind the clock floor (gatewayctl clock)
  NTP synchronisation           as the kernel says (adjtimex), and systemd-timesyncd where present
  state database integrity      PRAGMA quick_check on a read-only connection
  free disk (state)             where the state database and its outbox live
  systemd unit                  edge-gatewayd.service active, with its watchdog; n/a without systemd

Runs with or without the daemon. With it, the key, certificate, broker, CRL and clock checks use
its view (the daemon holds the key device; check does not open it beside it). Without it, check
opens the key store and the state database itself, as gatewayctl provision verify and gatewayctl
clock do. "n/a" is not a finding: it says why the check does not apply here.

The state database is opened read-only: check never creates, migrates or changes it. SQLite may
leave two files beside it: a read-only reader of a WAL database creates its -wal and -shm
when absent (the daemon stopped) and cannot remove them; they get the database file's owner (under
root) and its mode, and the daemon uses them at its next start. A database the user cannot reach
(the unit's StateDirectory is 0700) is a permissions failure, not "the daemon has not run".

--json prints {status: "pass"|"warn"|"fail", view: "daemon"|"offline"|"none", configPath,
allowSimulated: true|false, checks: [{name, status: "pass"|"warn"|"fail"|"n/a", detail, fix?, reason?, simulated?}]};
the identity key's verdict has simulated: true whenever the key is a stand-in, passing or not.

Exit status: the worst result: 0 all pass (n/a counts as pass), 1 a warning, 2 a failure;
4 check itself could not run or was called wrongly (an unexpected error: its EGW_ code is in
the --json output; a usage error).

Examples:
  gatewayctl check
  gatewayctl check --allow-simulated     # a HIL rig or development box on a simulated key
  gatewayctl check --json | jq -r '.checks[] | select(.status != "pass") | .name'`,
    )
    .action(
      async (options: {
        config: string;
        socket?: string;
        expiryWarnDays: number;
        allowSimulated?: boolean;
        json?: boolean;
      }) => {
        try {
          const report = await runChecks({
            configPath: options.config,
            socket: options.socket,
            expiryWarnDays: options.expiryWarnDays,
            allowSimulated: Boolean(options.allowSimulated),
          });
          process.stdout.write(
            options.json ? `${JSON.stringify(report, null, 2)}\n` : checkReportText(report),
          );
          process.exitCode = CHECK_EXIT[report.status];
        } catch (error) {
          reportFailure(error, Boolean(options.json));
          process.exitCode = CHECK_EXIT_ERROR;
        }
      },
    );
}

export function checkReportText(report: CheckReport): string {
  const view = {
    daemon: 'as the running daemon sees it',
    offline: 'daemon not running: read by check itself',
    none: 'stopped early',
  }[report.view];
  const count = (status: string) => report.checks.filter((check) => check.status === status).length;
  const counts = ['pass', 'warn', 'fail', 'n/a'].map((status) => `${count(status)} ${status}`).join(', ');
  return (
    `edge-gatewayd check (${view})\n${report.checks.map(verdictLine).join('\n')}\n` +
    `result: ${report.status.toUpperCase()} (${counts})\n`
  );
}

function parseDays(value: string): number {
  const days = Number(value);
  if (!Number.isFinite(days) || days < 0)
    throw new InvalidArgumentError(`--expiry-warn-days ${value}: give a number of days ≥ 0`);
  return days;
}
