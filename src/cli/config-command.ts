import type { Command } from 'commander';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from '../config/index.js';
import { reportFailure } from './cli-failure.js';

export function registerConfigCommands(program: Command): void {
  const config = program.command('config').description('work with configuration files');
  config
    .command('check')
    .description('validate a configuration file without starting anything')
    .argument('[path]', 'configuration file', DEFAULT_CONFIG_PATH)
    .option('--json', 'print the result (and the effective config, defaults filled in) as JSON')
    .addHelpText(
      'after',
      '\nExit status: 0 valid, 1 invalid or unreadable. Every problem is listed with its key path.',
    )
    .action((path: string, options: { json?: boolean }) => {
      try {
        const effective = loadConfigFile(path);
        // Secrets stay out of terminals and scripts' logs: say whether one is set, not what it is.
        if (effective.identity.est.password !== '') effective.identity.est.password = '(set, not shown)';
        process.stdout.write(
          options.json
            ? `${JSON.stringify({ ok: true, path, config: effective }, null, 2)}\n`
            : `${path}: valid\n`,
        );
      } catch (error) {
        reportFailure(error, Boolean(options.json));
      }
    });
}
