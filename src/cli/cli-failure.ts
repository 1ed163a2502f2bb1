import { ConfigError } from '../config/index.js';
import { ControlError } from '../control/index.js';
import { GatewayError } from '../errors/index.js';

/** Exit status 3, as `systemctl status` uses for a unit that is not running. */
export const EXIT_NOT_RUNNING = 3;

/**
 * Prints an error the way an operator (or, with --json, a script) wants it and sets the exit status.
 */
export function reportFailure(error: unknown, json: boolean): void {
  const known = error instanceof GatewayError;
  const code = known ? error.code : 'EGW_INTERNAL';
  if (json) {
    const body: Record<string, unknown> = { ok: false, code, message: known ? error.message : String(error) };
    if (known && error.hint) body.hint = error.hint;
    if (error instanceof ConfigError) body.problems = error.problems;
    process.stdout.write(`${JSON.stringify(body, null, 2)}\n`);
  } else {
    process.stderr.write(`gatewayctl: ${known ? error.describe() : String(error)}\n`);
  }
  process.exitCode =
    error instanceof ControlError && code === 'EGW_CONTROL_NOT_RUNNING' ? EXIT_NOT_RUNNING : 1;
}
