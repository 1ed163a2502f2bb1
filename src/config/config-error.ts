import { GatewayError } from '../errors/index.js';

/** One thing wrong with a config file: the dotted key path and what is wrong with its value. */
export interface ConfigProblem {
  path: string;
  message: string;
}

/**
 * The config file could not be read or is not valid. `problems` lists every bad key at once so an
 * operator can fix the file in one pass.
 */
export class ConfigError extends GatewayError {
  readonly file: string;
  readonly problems: readonly ConfigProblem[];

  constructor(
    code: ConfigErrorCode,
    file: string,
    problems: ConfigProblem[],
    options: { cause?: unknown } = {},
  ) {
    const lines = problems.map((p) => (p.path ? `  - ${p.path}: ${p.message}` : `  - ${p.message}`));
    super(code, `invalid config ${file}:\n${lines.join('\n')}`, {
      hint: `fix ${file} (every key is documented in config/gateway.example.toml), then check it with \`gatewayctl config check ${file}\``,
      cause: options.cause,
    });
    this.file = file;
    this.problems = problems;
  }
}

export type ConfigErrorCode = 'EGW_CONFIG_UNREADABLE' | 'EGW_CONFIG_SYNTAX' | 'EGW_CONFIG_INVALID';
