#!/usr/bin/env node
import './runtime-check.js';
import { Command } from 'commander';
import { VERSION } from '../build-info/index.js';
import { registerCheckCommand } from './check-command.js';
import { registerClockCommands } from './clock-command.js';
import { registerConfigCommands } from './config-command.js';
import { registerIdentityCommands } from './identity-command.js';
import { registerProvisionCommands } from './provision-command.js';
import { registerSensorsCommands } from './sensors-command.js';
import { registerStatusCommand } from './status-command.js';
import { registerTrustCommands } from './trust-command.js';

const program = new Command()
  .name('gatewayctl')
  .description(
    'Operate and provision edge-gatewayd: query the running daemon, check configuration, provision the identity key and factory certificate.',
  )
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  gatewayctl status                      state of the running daemon
  gatewayctl status --json | jq .state   the same, for scripts
  gatewayctl config check /etc/edge-gatewayd/gateway.toml
  gatewayctl provision factory --ca-dir /srv/factory-ca --yes
  gatewayctl provision verify --ca /srv/factory-ca/root.crt
  gatewayctl identity status --json      operational certificate, expiry, renewal time
  gatewayctl identity renew --now        renew over EST now
  gatewayctl sensors ca add ca.pem       register a sensor CA (prints the proof-of-possession steps)
  gatewayctl sensors list --json         sensor enrollments, for scripts
  gatewayctl trust list                  trust bundles: sensor and upstream CAs
  gatewayctl clock                       the clock floor validity is judged at, and its evidence
  gatewayctl check                       health checklist: pass/warn/fail with the fix, exit = worst

Errors carry a stable code (EGW_…) in --json output; scripts should match on it, not on the text.`,
  );

registerStatusCommand(program);
registerConfigCommands(program);
registerProvisionCommands(program);
registerIdentityCommands(program);
registerTrustCommands(program);
registerSensorsCommands(program);
registerClockCommands(program);
registerCheckCommand(program);

await program.parseAsync();
