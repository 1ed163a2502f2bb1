#!/usr/bin/env node
import { Command } from 'commander';
import { VERSION } from '../build-info/index.js';
import { registerConfigCommands } from './config-command.js';
import { registerStatusCommand } from './status-command.js';

const program = new Command()
  .name('gatewayctl')
  .description('Operate and provision edge-gatewayd: query the running daemon, check configuration.')
  .version(VERSION)
  .showHelpAfterError('(run with --help for usage)')
  .addHelpText(
    'after',
    `
Examples:
  gatewayctl status                      state of the running daemon
  gatewayctl status --json | jq .state   the same, for scripts
  gatewayctl config check /etc/edge-gatewayd/gateway.toml

Errors carry a stable code (EGW_…) in --json output; scripts should match on it, not on the text.`,
  );

registerStatusCommand(program);
registerConfigCommands(program);

await program.parseAsync();
