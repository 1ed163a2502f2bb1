#!/usr/bin/env node
// First: refuses an unsupported Node.js before any native addon is loaded.
import './runtime-check.js';
import { Command } from 'commander';
import { VERSION } from '../build-info/index.js';
import { type Config, ConfigError, DEFAULT_CONFIG_PATH, loadConfigFile } from '../config/index.js';
import { GatewayError } from '../errors/index.js';
import { sdNotify } from '../native/systemd/index.js';
import { Daemon } from './daemon.js';
import { EXIT_CONFIG, EXIT_STATE_DATABASE, exitStatusFor } from './exit-status.js';
import { stopAfterFailedStart } from './failed-start.js';
import { StartInterrupted } from './start-interrupted.js';

const program = new Command()
  .name('edge-gatewayd')
  .description(
    'Secure IoT edge gateway daemon. Normally started by systemd (systemd/edge-gatewayd.service); ' +
      'talk to a running instance with gatewayctl.',
  )
  .version(VERSION)
  .option('-c, --config <path>', 'configuration file (TOML)', DEFAULT_CONFIG_PATH)
  .addHelpText(
    'after',
    `
Signals:
  SIGHUP            reload the configuration (log.level applies at once; the rest needs a restart)
  SIGTERM, SIGINT   stop gracefully within daemon.shutdown_timeout_ms; while starting, the start
                    gives up after its step in progress and what had started is stopped (exit 0)

Exit status:
  0   stopped cleanly
  1   failed at start-up or while running (see the log); systemd restarts it. A failed start
      stops what it had started (within daemon.shutdown_timeout_ms), then exits
  ${EXIT_STATE_DATABASE}  the state database cannot be used: corrupt, from a newer version, or a migration
      failed (it was rolled back; systemd does not restart it)
  ${EXIT_CONFIG}  the configuration file is invalid, Node.js is older than 24, or its OpenSSL is not one
      edge-gatewayd supports (systemd does not restart it)

Environment (set by systemd):
  NOTIFY_SOCKET, WATCHDOG_USEC, WATCHDOG_PID   sd_notify(3) readiness and watchdog
  STATE_DIRECTORY, RUNTIME_DIRECTORY           default locations of state.db and control.sock`,
  )
  .parse();

const { config: configPath } = program.opts<{ config: string }>();

let config: Config;
try {
  config = loadConfigFile(configPath);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  process.stderr.write(`edge-gatewayd: ${error.describe()}\n`);
  sdNotify(`STATUS=failed: invalid configuration ${configPath}`);
  process.exit(EXIT_CONFIG);
}

const daemon = new Daemon(configPath, config);

const report = (error: unknown, what: string) => {
  const fields = error instanceof GatewayError ? { code: error.code, hint: error.hint } : {};
  daemon.log.fatal(
    { err: error, ...fields },
    `${what}: ${error instanceof Error ? error.message : String(error)}`,
  );
  daemon.reportFatal(error);
};
const fail = (error: unknown, what: string) => {
  report(error, what);
  process.exit(exitStatusFor(error));
};

process.on('uncaughtException', (error) => fail(error, 'uncaught exception'));
process.on('unhandledRejection', (error) => fail(error, 'unhandled promise rejection'));

const stopOn = (signal: NodeJS.Signals) => {
  // A stop that overruns its budget is a bug; exit anyway so systemd does not have to SIGKILL us.
  setTimeout(() => {
    daemon.log.error({ timeoutMs: config.daemon.shutdown_timeout_ms }, 'graceful stop timed out; exiting');
    process.exit(1);
  }, config.daemon.shutdown_timeout_ms).unref();
  daemon.stop(signal).then(
    () => {
      process.exitCode = 0;
    },
    (error) => fail(error, 'error while stopping'),
  );
};
process.on('SIGTERM', stopOn);
process.on('SIGINT', stopOn);
process.on('SIGHUP', () => daemon.reload());

try {
  await daemon.start();
} catch (error) {
  // SIGTERM during start-up: not a failure; stopOn's stop closes what had started, then exit 0.
  if (error instanceof StartInterrupted) {
    daemon.log.info({ code: error.code }, error.message);
    // The stop stopOn began (its failure is reported there); exits with the status it set.
    await daemon.stop('start-up interrupted').catch(() => undefined);
    process.exit();
  }
  report(error, 'start-up failed');
  // What had started (threads, sockets, the database) is stopped, within a bound, before exiting.
  await stopAfterFailedStart(daemon, config.daemon.shutdown_timeout_ms);
  // The stop said "stopping": the failure is said last, as the failed unit's StatusText.
  daemon.reportFatal(error);
  process.exit(exitStatusFor(error));
}
