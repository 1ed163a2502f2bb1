import type { Command } from 'commander';
import { controlRequest, type DaemonStatus } from '../control/index.js';
import { reportFailure } from './cli-failure.js';
import { resolveSocketPath, type SocketOptions } from './socket-path.js';

export function registerStatusCommand(program: Command): void {
  program
    .command('status')
    .description('show the state of the running daemon')
    .option('--json', 'print the status as JSON (for scripts)')
    .option('-s, --socket <path>', 'control socket of the daemon (default: from the config file)')
    .option('-c, --config <path>', 'read the control socket path from this config file')
    .addHelpText(
      'after',
      '\nExit status: 0 running, 3 not running, 1 any other error.\n' +
        'The --json form is stable: fields are only ever added.',
    )
    .action(async (options: SocketOptions & { json?: boolean }) => {
      try {
        const status = (await controlRequest(resolveSocketPath(options), 'status')) as DaemonStatus;
        process.stdout.write(options.json ? `${JSON.stringify(status, null, 2)}\n` : formatStatus(status));
      } catch (error) {
        reportFailure(error, Boolean(options.json));
      }
    });
}

export function formatStatus(status: DaemonStatus): string {
  const rows: [string, string][] = [
    ['state', status.state],
    ['version', status.version],
    ['pid', String(status.pid)],
    ['uptime', formatDuration(status.uptimeSeconds)],
    ['config', status.configPath],
    ['database', `${status.database.path} (schema ${status.database.schemaVersion})`],
    ['log level', status.logLevel],
    ['supervisor', supervisorLine(status.supervisor)],
    ['identity key', identityKeyLine(status.identityKey)],
    ['sensors', sensorLine(status.sensorEndpoint)],
    ...(status.sensorEndpoint?.handshakes
      ? [['handshakes', handshakesLine(status.sensorEndpoint.handshakes)] as [string, string]]
      : []),
    ...(status.sensorEndpoint?.workers
      ? [['sensor workers', workersLine(status.sensorEndpoint.workers)] as [string, string]]
      : []),
    ['sensor trust', sensorTrustLine(status.sensorTrust)],
    ...revocationRows(status.sensorTrust),
    ['upstream', upstreamLine(status.upstream)],
    ['identity', identityLine(status.identity)],
  ];
  if (status.lastReload) {
    rows.push([
      'last reload',
      `${status.lastReload.at} ${status.lastReload.ok ? 'ok' : 'FAILED'}: ${status.lastReload.message.split('\n')[0]}`,
    ]);
  }
  if (status.restartRequiredFor.length > 0)
    rows.push(['restart needed', status.restartRequiredFor.join(', ')]);
  const width = Math.max(...rows.map(([label]) => label.length));
  return `edge-gatewayd ${status.state}\n${rows.map(([label, value]) => `  ${label.padEnd(width)}  ${value}`).join('\n')}\n`;
}

function sensorLine(endpoint: DaemonStatus['sensorEndpoint']): string {
  if (!endpoint) return 'endpoint disabled (downstream.dtls.enabled = false)';
  const { listening, sessionsEstablished, handshakesCompleted, handshakesResumed, handshakesFailed } =
    endpoint;
  return `coaps on ${listening}, ${sessionsEstablished} sessions, ${handshakesCompleted} handshakes (${handshakesResumed} resumed, ${handshakesFailed} refused)${recordsText(endpoint)}${deadlinesText(endpoint.deadlines)}; key: ${endpoint.serverKey}`;
}

/** Each sensor worker thread (downstream.dtls.workers ≥ 2): its share of the sessions and of the work. */
function workersLine(workers: NonNullable<NonNullable<DaemonStatus['sensorEndpoint']>['workers']>): string {
  return workers
    .map(
      (w) =>
        `#${w.index}: ${w.sessionsEstablished} sessions, ${w.requests} requests, ${w.cpuSeconds.toFixed(1)} s CPU` +
        (w.restarts > 0 ? `, replaced ${w.restarts}×` : ''),
    )
    .join('; ');
}

/** Records of established sessions dropped by the record layer (forged, replayed, another version), when any were. */
function recordsText(endpoint: NonNullable<DaemonStatus['sensorEndpoint']>): string {
  if (!endpoint.recordsRejected) return '';
  const by = Object.entries(endpoint.recordsRejectedByReason ?? {})
    .map(([reason, count]) => `${reason} ${count}`)
    .join(', ');
  return `; ${endpoint.recordsRejected} records dropped${by ? ` (${by})` : ''}`;
}

/** The handshake budget: signatures against their budget, what it refused, half-open handshakes. */
function handshakesLine(handshakes: NonNullable<DaemonStatus['sensorEndpoint']>['handshakes']): string {
  const { signer, limits } = handshakes;
  const refused = handshakes.signaturesRefusedPerAddress + handshakes.signaturesRefusedGlobal;
  const halfOpenRefused = handshakes.halfOpenRefusedPerAddress + handshakes.halfOpenRefusedGlobal;
  return (
    `${handshakes.signatures} signatures (budget ${limits.global.ratePerSecond}/s, ` +
    `${limits.perAddress.ratePerSecond}/s per address; signer ${signer.perSecond}/s ${signer.source}), ` +
    `${refused} refused; ${handshakes.halfOpen} half-open (max ${limits.halfOpenGlobal}, ${limits.halfOpenResumptions} resuming, ` +
    `${limits.halfOpenPerAddress} per address), ${halfOpenRefused} refused; ${handshakes.cookiesSent} cookies sent, ` +
    `${handshakes.cookiesInvalid} invalid, ${handshakes.cookiesReplayed} replayed`
  );
}

/** Sessions closed by time (certificate expiry, revocation information no longer acceptable), and the next such deadline. */
function deadlinesText(deadlines: NonNullable<DaemonStatus['sensorEndpoint']>['deadlines']): string {
  if (!deadlines) return '';
  const by = Object.entries(deadlines.closedBy)
    .map(([reason, count]) => `${reason} ${count}`)
    .join(', ');
  const next = deadlines.nextDeadline ? `, next ${deadlines.nextDeadline}` : '';
  return `; ${deadlines.closed} closed by time${by ? ` (${by})` : ''}${next}`;
}

function upstreamLine(upstream: DaemonStatus['upstream']): string {
  if (!upstream) return 'off (upstream.enabled = false)';
  const link = upstream.connected ? `connected to ${upstream.broker}` : `NOT connected to ${upstream.broker}`;
  const trouble = upstream.lastError
    ? `; last error: ${upstream.lastError.code} ${upstream.lastError.message}`
    : '';
  return (
    `${link}; ${upstream.published} published, outbox ${upstream.outbox.rows} messages` +
    `${upstream.dropped ? `, ${upstream.dropped} dropped` : ''}${upstream.refused ? `, ${upstream.refused} refused` : ''}${trouble}`
  );
}

function sensorTrustLine(trust: DaemonStatus['sensorTrust']): string {
  if (!trust) return 'not loaded';
  const stale = trust.crls.filter((crl) => crl.stale).length;
  const refused = Object.entries(trust.refused)
    .map(([reason, count]) => `${reason} ${count}`)
    .join(', ');
  return (
    `${trust.anchors} anchors, ${trust.intermediates} intermediates, ${trust.crls.length} CRLs` +
    `${stale ? ` (${stale} STALE)` : ''}, ${trust.enrollments.individual + trust.enrollments.group} enrollments, ` +
    `${trust.denied} blocked; verdicts: ${trust.accepted} accepted${refused ? `, refused: ${refused}` : ''}` +
    `${trust.clockBehindFloor ? '; system clock behind the floor' : ''}`
  );
}

/** Per CA: its CRL's age, and a WARNING where sensors were admitted without revocation information. */
function revocationRows(trust: DaemonStatus['sensorTrust']): [string, string][] {
  const cas = trust?.revocation?.cas ?? [];
  return cas.map((ca) => {
    const crl = ca.crl
      ? `CRL ${formatDuration(ca.crl.ageSeconds)} old${ca.crl.stale ? ' (STALE)' : ''}`
      : 'no CRL';
    const gap = ca.admittedWithoutRevocationInfo
      ? `; WARNING: ${ca.admittedWithoutRevocationInfo} sensor certificate(s) admitted without revocation information (${ca.lastWarning})`
      : '';
    return ['revocation', `${ca.subject}${ca.ski ? ` (SKI ${ca.ski})` : ''}: ${crl}${gap}`];
  });
}

function identityLine(identity: DaemonStatus['identity']): string {
  if (!identity) return 'factory certificate only (identity.est.url not set)';
  const certificate = identity.subject
    ? `${identity.subject}, issuer ${identity.issuer}, expires ${identity.notAfter}${identity.expired ? ' (EXPIRED)' : ''}`
    : 'no operational certificate yet';
  const trouble = identity.lastError ? `; last error: ${identity.lastError}` : '';
  return `${identity.state}: ${certificate}; key ${identity.keyBackend}${trouble}`;
}

function identityKeyLine(key: DaemonStatus['identityKey']): string {
  if (!key.available) return `${key.backend}: UNAVAILABLE (${key.error.code}: ${key.error.message})`;
  const warning = key.hardwareBacked ? '' : ' — NOT hardware-backed (development only)';
  return `${key.model}, serial ${key.serial}, ${key.keyLocation}${warning}`;
}

function supervisorLine(supervisor: DaemonStatus['supervisor']): string {
  if (!supervisor.notifySocket) return 'none (not started by systemd)';
  return supervisor.watchdogUsec
    ? `systemd, watchdog ${supervisor.watchdogUsec / 1e6} s`
    : 'systemd, no watchdog';
}

export function formatDuration(totalSeconds: number): string {
  const days = Math.floor(totalSeconds / 86_400);
  const hours = Math.floor((totalSeconds % 86_400) / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const parts = [days && `${days}d`, hours && `${hours}h`, minutes && `${minutes}m`, `${seconds}s`].filter(
    Boolean,
  );
  return parts.slice(0, 3).join(' ');
}
