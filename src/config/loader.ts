import { readFileSync } from 'node:fs';
import { parse as parseToml, TomlError } from 'smol-toml';
import type { z } from 'zod';
import { ConfigError, type ConfigProblem } from './config-error.js';
import { describeValue, valueAt } from './describe-value.js';
import { type Config, type ConfigDefaults, configSchema, defaultsFromEnvironment } from './schema.js';
import { suggestKey } from './suggest-key.js';

export const DEFAULT_CONFIG_PATH = '/etc/edge-gatewayd/gateway.toml';

/** Reads and validates a config file. Throws ConfigError naming the file and every bad key. */
export function loadConfigFile(file: string, defaults: ConfigDefaults = defaultsFromEnvironment()): Config {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    const reason = (cause as NodeJS.ErrnoException).code ?? String(cause);
    throw new ConfigError(
      'EGW_CONFIG_UNREADABLE',
      file,
      [{ path: '', message: `cannot read the file (${reason})` }],
      {
        cause,
      },
    );
  }
  return parseConfigText(text, file, defaults);
}

/** Validates config text; `file` only names the source in errors. */
export function parseConfigText(
  text: string,
  file: string,
  defaults: ConfigDefaults = defaultsFromEnvironment(),
): Config {
  let raw: unknown;
  try {
    raw = parseToml(text);
  } catch (cause) {
    if (!(cause instanceof TomlError)) throw cause;
    const reason = (cause.message.split('\n')[0] ?? '').replace(/^Invalid TOML document: /, '');
    throw new ConfigError(
      'EGW_CONFIG_SYNTAX',
      file,
      [{ path: '', message: `TOML syntax error at line ${cause.line}, column ${cause.column}: ${reason}` }],
      { cause },
    );
  }
  const schema = configSchema(defaults);
  const result = schema.safeParse(raw);
  if (result.success) return result.data;
  const complete = schema.parse({});
  const problems = result.error.issues.flatMap((issue) => describeIssue(issue, raw, complete));
  throw new ConfigError('EGW_CONFIG_INVALID', file, problems);
}

function describeIssue(issue: z.core.$ZodIssue, raw: unknown, complete: Config): ConfigProblem[] {
  const path = issue.path.map(String).join('.');
  const found = describeValue(valueAt(raw, issue.path));
  switch (issue.code) {
    case 'unrecognized_keys': {
      const table = valueAt(complete, issue.path);
      const known = table && typeof table === 'object' ? Object.keys(table) : [];
      return issue.keys.map((key) => {
        const suggestion = suggestKey(key, known);
        const where = path ? `[${path}]` : 'the top level';
        const advice = suggestion
          ? `did you mean "${suggestion}"?`
          : `known keys in ${where}: ${known.join(', ')}`;
        return { path: path ? `${path}.${key}` : key, message: `unknown key; ${advice}` };
      });
    }
    case 'invalid_type':
      return [{ path, message: `expected ${typeName(issue.expected)}, found ${found}` }];
    case 'invalid_value':
      return [
        {
          path,
          message: `expected one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}; found ${found}`,
        },
      ];
    case 'too_small':
    case 'too_big': {
      const bound = issue.code === 'too_small' ? issue.minimum : issue.maximum;
      const relation = issue.code === 'too_small' ? 'at least' : 'at most';
      if (issue.origin === 'array') {
        const items = `${String(bound)} item${bound === 1 ? '' : 's'}`;
        return [{ path, message: `expected a list of ${relation} ${items}, found ${found}` }];
      }
      const unit = issue.origin === 'string' ? ' characters long' : '';
      const what = issue.origin === 'string' ? 'a string' : 'a number';
      return [{ path, message: `expected ${what} ${relation} ${String(bound)}${unit}, found ${found}` }];
    }
    default:
      // Format checks carry their expectation as their message (see schema.ts).
      return [{ path, message: `expected ${issue.message}, found ${found}` }];
  }
}

function typeName(expected: string): string {
  const names: Record<string, string> = {
    int: 'an integer',
    number: 'a number',
    string: 'a string',
    boolean: 'true or false',
    object: 'a table',
    array: 'an array',
  };
  return names[expected] ?? expected;
}
