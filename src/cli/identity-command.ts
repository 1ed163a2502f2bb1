import type { Command } from 'commander';
import { controlRequest } from '../control/index.js';
import type { IdentityStatus } from '../identity/index.js';
import { reportFailure } from './cli-failure.js';
import { resolveSocketPath, type SocketOptions } from './socket-path.js';

type Options = SocketOptions & { json?: boolean };

/** Enrolment and renewal can wait on a slow EST server, several retries and a hardware signature. */
const LONG_CALL_MS = 300_000;

export function registerIdentityCommands(program: Command): void {
  const identity = program
    .command('identity')
    .description("the gateway's operational identity (EST enrolment, renewal, rollback)");

  const withSocket = (command: Command) =>
    command
      .option('--json', 'print the result as JSON (for scripts)')
      .option('-s, --socket <path>', 'control socket of the daemon (default: from the config file)')
      .option('-c, --config <path>', 'read the control socket path from this config file');

  withSocket(identity.command('status').description('state, certificate, expiry, renewal time, key backend'))
    .addHelpText('after', '\nExit status: 0 ok, 3 daemon not running, 1 any other error.')
    .action((options: Options) => call('identity.status', options));

  withSocket(
    identity
      .command('enroll')
      .description('enrol now over EST /simpleenroll with the factory identity (also re-bootstraps)'),
  ).action((options: Options) => call('identity.enroll', options, LONG_CALL_MS));

  withSocket(
    identity
      .command('renew')
      .description('renew now over EST /simplereenroll with the operational identity')
      .requiredOption('--now', 'renew now instead of at the scheduled time (required: renewal is automatic)'),
  ).action((options: Options) => call('identity.renew', options, LONG_CALL_MS));

  withSocket(
    identity
      .command('rollback')
      .description('drop a pending certificate, or return to the previous still-valid one'),
  ).action((options: Options) => call('identity.rollback', options));
}

async function call(method: string, options: Options, timeoutMs?: number): Promise<void> {
  try {
    const status = (await controlRequest(
      resolveSocketPath(options),
      method,
      undefined,
      timeoutMs ? { timeoutMs } : {},
    )) as IdentityStatus;
    process.stdout.write(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatIdentity(status));
  } catch (error) {
    reportFailure(error, Boolean(options.json));
  }
}

export function formatIdentity(status: IdentityStatus): string {
  const rows: [string, string][] = [
    ['state', `${status.state} since ${status.since}`],
    ['presenting', status.presenting],
    ['subject', status.subject ?? '-'],
    ['issuer', status.issuer ?? '-'],
    ['serial', status.serial ?? '-'],
    ['expires', status.notAfter ? `${status.notAfter}${status.expired ? ' (EXPIRED)' : ''}` : '-'],
    ['renews at', status.renewAt ?? '-'],
    ['key', `${status.keyBackend}${status.hardwareBacked ? '' : ' (NOT hardware-backed)'}`],
    ['EST server', status.est ?? '-'],
  ];
  if (status.pending) rows.push(['pending', `${status.pending.subject} serial ${status.pending.serial}`]);
  const request = status.request;
  if (request) {
    const what = request.operation === 'simplereenroll' ? 'renewal' : 'enrolment';
    rows.push(['owed request', `${what} (${request.operation}, ${request.origin}) since ${request.since}`]);
    if (request.csr) {
      rows.push([
        'same CSR',
        `for ${request.csr.key}, made ${request.csr.createdAt}, sent ${request.csr.sent} time(s)`,
      ]);
    }
    if (request.lastAnswer) {
      const said = request.lastAnswer.status === null ? 'no answer' : String(request.lastAnswer.status);
      rows.push(['server answered', `${said}: ${request.lastAnswer.text} (${request.lastAnswer.at})`]);
    }
  }
  if (status.attempts > 0) rows.push(['failed attempts', String(status.attempts)]);
  if (status.nextAttemptAt) rows.push(['next attempt', status.nextAttemptAt]);
  if (status.lastError) rows.push(['last error', status.lastError]);
  if (status.clockBehindFloor)
    rows.push(['clock', `system clock behind the floor: validity judged at ${status.clockUsed}`]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return `${rows.map(([label, value]) => `${label.padEnd(width)}  ${value}`).join('\n')}\n`;
}
