import type { FleetSummary, LatencySummary, SensorRole } from '../../hw-sim/sensors/index.js';
import type { DaemonStatus } from '../../src/control/index.js';
import type { IdentityStatus } from '../../src/identity/index.js';
import type { SensorTrustStatus } from '../../src/trust/index.js';
import type { UpstreamStatus } from '../../src/upstream/index.js';
import type { FactoryChecklist } from './factory-checklist.js';
import type { KeyStoreKind } from './options.js';
import type { TeardownStep } from './teardown.js';

/** The gateway's key store as the demo set it up and as the daemon found it. */
export interface KeyStoreSummary {
  backend: KeyStoreKind;
  /** What stands in for the secure element in this demo. */
  device: string;
  /** Always true here: the demo runs on simulators (the daemon's own flag can say otherwise, see below). */
  simulated: true;
  /** `hardwareBacked` as the daemon reports it (false for the ATECC608A model and for swtpm). */
  reportedHardwareBacked: boolean | null;
  model: string | null;
  serial: string | null;
  keyLocation: string | null;
}

export interface RefusedSensor {
  name: string;
  role: SensorRole;
  stage: 'handshake' | 'request';
  reason: string;
  code: string;
  request: string | null;
}

export interface LogFinding {
  message: string;
  count: number;
}

export interface Check {
  name: string;
  ok: boolean;
  detail: string;
}

/** Everything the demo reports at the end; `--json` prints it as is. Sections are null when the demo failed before them. */
export interface DemoSummary {
  ok: boolean;
  /** What stopped the demo early, if something did. */
  error: string | null;
  checks: Check[];
  keyStore: KeyStoreSummary | null;
  /** `gatewayctl provision verify`: the technician's checklist on the factory identity. */
  factoryChecklist: FactoryChecklist | null;
  /** The operational identity (`gatewayctl identity status --json`) once zero touch enrolment finished. */
  identity: IdentityStatus | null;
  sensors: {
    accepted: string[];
    refused: RefusedSensor[];
    honestRefused: string[];
    badActorsNotRefused: string[];
    /** The gateway's own count of trust verdicts (handshakes and re-checks). */
    gatewayVerdicts: { accepted: number; refused: Record<string, number> } | null;
  } | null;
  messages: {
    generated: number;
    acknowledged: number;
    /** POSTs by the coap-client sensor, answered 2.04. */
    byHand: number;
    /** PUBACKed by the broker (`gatewayctl status`: upstream.published). */
    forwarded: number | null;
    outboxRows: number | null;
    backend: {
      /** Every message on devices/+/telemetry: readings + other. */
      received: number;
      /** Fleet readings received, duplicates included. */
      readings: number;
      sensors: number;
      distinct: number;
      duplicates: number;
      outOfOrder: number;
      /** Acknowledged to a fleet sensor but never seen by the backend. */
      missing: number;
      /** Messages that are not fleet readings (the coap-client's {"t":21.5}). */
      other: number;
    } | null;
  } | null;
  latency: {
    /** Sensor side: CoAP request sent → 2.04 (stored in the gateway's outbox). */
    sensorAckMs: LatencySummary;
    /** Sensor measured (`ts`) → backend subscriber received. */
    endToEndMs: LatencySummary | null;
    clock: string;
    /** Gateway clock minus sensor clock as GET /time measured it, over the fleet. */
    sensorClockOffsetMs: { min: number; max: number } | null;
  } | null;
  daemon: {
    ready: string | null;
    reloaded: boolean;
    stopping: string | null;
    exit: { code: number | null; signal: string | null } | null;
    warnings: LogFinding[];
    errors: LogFinding[];
  };
  /** Seconds. */
  timings: Record<string, number>;
  shutdown: TeardownStep[];
  /** As `gatewayctl status --json` showed them after the fleet. */
  identityKey: DaemonStatus['identityKey'] | null;
  sensorTrust: SensorTrustStatus | null;
  upstream: UpstreamStatus | null;
  /** The fleet simulator's own summary (per sensor too). */
  fleet: FleetSummary | null;
}

const ms = (value: number | null) => (value === null ? '–' : `${value} ms`);
const latencyLine = (l: LatencySummary) =>
  `p50 ${ms(l.p50)}, p99 ${ms(l.p99)}, max ${ms(l.max)} (${l.count} messages)`;
const seconds = (value: number | undefined) => (value === undefined ? '–' : `${value.toFixed(1)} s`);

/** The summary for a person at the bench: what the gateway is, who it let in, what reached the backend. */
export function summaryText(s: DemoSummary): string {
  const out: string[] = [];
  const line = (label: string, text: string) => out.push(`  ${label.padEnd(14)} ${text}`);
  const more = (text: string) => out.push(`  ${''.padEnd(14)} ${text}`);

  out.push('identity');
  if (s.keyStore) {
    const k = s.keyStore;
    line('key store', `${k.device}${k.keyLocation ? `, ${k.keyLocation}` : ''}`);
    if (k.reportedHardwareBacked === true)
      more('SIMULATED, yet the daemon reports it hardware-backed: that is a bug, please report it');
    else
      more('SIMULATED: NOT hardware-backed, as the daemon reports (the simulator keeps its key in a file)');
    if (k.model) line('device', `${k.model}, serial ${k.serial}`);
  }
  if (s.factoryChecklist) {
    const { result, failed, notApplicable } = s.factoryChecklist;
    line(
      'factory check',
      `${result ?? 'FAIL'} (gatewayctl provision verify)${failed.length > 0 ? `: failed ${failed.join('; ')}` : ''}`,
    );
    // What a simulator cannot prove is n/a with its reason, never a FAIL a person learns to ignore.
    for (const item of notApplicable)
      more(`n/a${item.simulated ? ' (simulated)' : ''}: ${item.name}: ${item.reason}`);
  }
  if (s.identity) {
    const i = s.identity;
    line(
      'certificate',
      i.state === 'operational' && i.presenting === 'operational'
        ? `operational, enrolled over EST with zero touch ${seconds(s.timings.zeroTouch)} after the daemon started`
        : `${i.state}, presenting the ${i.presenting} certificate`,
    );
    line('  subject', i.subject ?? '–');
    line('  issuer', i.issuer ?? '–');
    line('  expires', `${i.notAfter ?? '–'}${i.renewAt ? ` (renews at ${i.renewAt})` : ''}`);
  } else {
    line('certificate', 'no operational certificate');
  }

  if (s.sensors) {
    const v = s.sensors;
    out.push('sensors');
    line('accepted', `${v.accepted.length}: ${compactNames(v.accepted)}`);
    line('refused', `${v.refused.length}${v.refused.length > 0 ? ':' : ''}`);
    const width = Math.max(0, ...v.refused.map((r) => r.name.length));
    for (const r of v.refused) {
      const why =
        r.stage === 'handshake'
          ? `DTLS handshake refused: ${r.reason}`
          : `${r.code} on ${r.request ?? 'a request'}: ${r.reason || '(no diagnostic)'} (trusted, not authorized)`;
      more(`${r.name.padEnd(width)}  ${why}`);
    }
    if (v.honestRefused.length > 0) line('HONEST REFUSED', v.honestRefused.join(', '));
    if (v.badActorsNotRefused.length > 0) line('BAD LET IN', v.badActorsNotRefused.join(', '));
    if (v.gatewayVerdicts) {
      const refused = Object.entries(v.gatewayVerdicts.refused).map(([reason, n]) => `${reason} ${n}`);
      line(
        'gateway says',
        `${v.gatewayVerdicts.accepted} certificates accepted${refused.length > 0 ? `, refused: ${refused.join(', ')}` : ''}`,
      );
    }
  }

  if (s.messages) {
    const m = s.messages;
    out.push('messages');
    line(
      'sensors',
      `${m.generated} generated, ${m.acknowledged} acknowledged by the gateway (stored in its outbox)${m.byHand > 0 ? `, +${m.byHand} by hand (coap-client)` : ''}`,
    );
    line(
      'forwarded',
      `${m.forwarded ?? '–'} published to the broker (MQTT 5, QoS 1, acknowledged), outbox now ${m.outboxRows ?? '–'}`,
    );
    const b = m.backend;
    if (b) {
      line(
        'backend',
        `${b.received} received: ${b.distinct} fleet readings from ${b.sensors} sensors${b.other > 0 ? ` + ${b.other} other (the coap-client POST)` : ''}`,
      );
      more(
        `${b.missing} missing, ${b.duplicates} duplicates, ${b.outOfOrder} out of order (per sensor, by seq)`,
      );
    }
  }

  if (s.latency) {
    const l = s.latency;
    out.push('latency');
    line('sensor ack', `${latencyLine(l.sensorAckMs)}: CoAP POST → 2.04`);
    if (l.endToEndMs) line('end to end', `${latencyLine(l.endToEndMs)}: sensor measured → backend received`);
    more(l.clock);
  }

  const d = s.daemon;
  out.push('daemon');
  line(
    'systemd saw',
    [
      d.ready ? 'READY=1' : 'no READY=1',
      d.reloaded ? 'READY=1 again after SIGHUP' : null,
      d.stopping ? 'STOPPING=1' : 'no STOPPING=1',
      d.exit ? `exit ${d.exit.code ?? d.exit.signal}` : 'no exit seen',
    ]
      .filter((part) => part !== null)
      .join(', '),
  );
  line('log', `${plural(count(d.warnings), 'warning')}, ${plural(count(d.errors), 'error')}`);
  for (const finding of d.errors) more(`ERROR ${finding.count} × ${finding.message}`);
  for (const finding of d.warnings) more(`warn  ${finding.count} × ${finding.message}`);

  const stopped = s.shutdown.filter((step) => step.ok).map((step) => step.step);
  const notStopped = s.shutdown.filter((step) => !step.ok);
  out.push('stopped');
  line('cleanly', stopped.length > 0 ? stopped.join(', ') : '–');
  for (const step of notStopped) line('NOT CLEANLY', `${step.step}: ${step.error}`);

  const t = s.timings;
  out.push('timings');
  line(
    'seconds',
    [
      `provisioning ${seconds(t.provisioning)}`,
      `start to READY=1 ${seconds(t.ready)}`,
      `zero touch ${seconds(t.zeroTouch)}`,
      `fleet connect ${seconds(t.fleetConnect)}`,
      `fleet run ${seconds(t.fleetRun)}`,
      `stop ${seconds(t.stop)}`,
      `total ${seconds(t.total)}`,
    ].join(', '),
  );

  out.push('checks');
  for (const check of s.checks) out.push(`  [${check.ok ? 'PASS' : 'FAIL'}] ${check.name}: ${check.detail}`);
  out.push(`result: ${s.ok ? 'PASS' : 'FAIL'}`);
  return `${out.join('\n')}\n`;
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`;

function count(findings: LogFinding[]): number {
  return findings.reduce((sum, finding) => sum + finding.count, 0);
}

/** "sensor-0001…sensor-0020 (20), coap-client-0001": runs of numbered names folded. */
function compactNames(names: string[]): string {
  const groups = new Map<string, string[]>();
  for (const name of names) {
    const prefix = name.replace(/\d+$/, '');
    groups.set(prefix, [...(groups.get(prefix) ?? []), name]);
  }
  return [...groups.values()]
    .map((group) => (group.length > 2 ? `${group[0]}…${group.at(-1)} (${group.length})` : group.join(', ')))
    .join(', ');
}

const PRETTY_LINE = /^\[[\d:.]+\] (WARN|ERROR|FATAL) \(\d+\): (.*)$/;

/**
 * Warnings and errors in the daemon's log (log.format = "pretty": `[hh:mm:ss.mmm] LEVEL (pid): msg`),
 * counted by message: what a technician would look for in `journalctl -u edge-gatewayd`.
 */
export function daemonLogFindings(log: string): { warnings: LogFinding[]; errors: LogFinding[] } {
  const warnings = new Map<string, number>();
  const errors = new Map<string, number>();
  // biome-ignore lint/suspicious/noControlCharactersInRegex: pino-pretty's colours, when it adds them
  for (const raw of log.replace(/\x1b\[[0-9;]*m/g, '').split('\n')) {
    const match = PRETTY_LINE.exec(raw);
    if (!match) continue;
    const into = match[1] === 'WARN' ? warnings : errors;
    const message = match[2] as string;
    into.set(message, (into.get(message) ?? 0) + 1);
  }
  const list = (map: Map<string, number>) => [...map].map(([message, n]) => ({ message, count: n }));
  return { warnings: list(warnings), errors: list(errors) };
}
