/**
 * `npm run demo`: the gateway end to end on one machine, every piece of hardware simulated
 * (`--help` for the options).
 *
 * On a temporary state directory with the example config:
 *   1. the key store: the simulated ATECC608A (hw-sim/atecc608, modelled execution times), or with
 *      --tpm a software TPM 2.0 (swtpm, hw-sim/tpm);
 *   2. a factory CA kit (scripts/factory-ca.sh) and a technician's provisioning run: key generated in
 *      the part, CSR, factory certificate (and lock, ATECC608A), then the verify checklist;
 *   3. the provisioning server: hw-sim's EST server (RFC 7030 over HTTPS, its own CA), trusting the
 *      factory CA for enrolment;
 *   4. the broker: mosquitto with TLS (hw-sim/broker), client certificates required, and the backend:
 *      a subscriber on devices/+/telemetry checking order, duplicates and end-to-end latency;
 *   5. edge-gatewayd started the way systemd would (NOTIFY_SOCKET, watchdog), READY=1 awaited; with
 *      nobody touching it, it enrols over EST with its factory identity (zero touch) and connects to
 *      the broker under its operational identity;
 *   6. a sensor (libcoap's coap-client-openssl) POSTs telemetry over CoAP/DTLS (mutual X.509, the
 *      gateway signing with the key in its secure element); then a simulated fleet (hw-sim/sensors)
 *      with bad actors (unknown CA, expired, revoked, unauthorized), with live progress;
 *   7. a SIGHUP reload and a SIGTERM stop as systemctl would send them; then everything else stops
 *      (also on failure or Ctrl-C) and the summary ends the output: text, or JSON with --json.
 */
import { type ChildProcess, execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MosquittoBroker, TelemetrySubscriber } from '../hw-sim/broker/index.js';
import { EstServer } from '../hw-sim/est-server/index.js';
import {
  type FleetProgress,
  fleetSummaryText,
  SENSOR_CA_FILES,
  SensorCa,
  SensorFleet,
} from '../hw-sim/sensors/index.js';
import { ServiceSupervisor } from '../hw-sim/systemd/index.js';
import { SwtpmProcess } from '../hw-sim/tpm/index.js';
import type { DaemonStatus } from '../src/control/index.js';
import type { IdentityStatus } from '../src/identity/index.js';
import { pemBlocks } from '../src/pki/index.js';
import { demoChecks } from './demo/checks.js';
import { CLI_SENSOR_NAME, makeCliSensor } from './demo/demo-sensor.js';
import { readFactoryChecklist } from './demo/factory-checklist.js';
import { type DemoKeyStore, GatewayConfig } from './demo/gateway-config.js';
import { DEMO_HELP, type DemoOptions, parseDemoOptions, UsageError } from './demo/options.js';
import { type DemoSummary, daemonLogFindings, summaryText } from './demo/summary.js';
import { Teardown, type TeardownStep } from './demo/teardown.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const daemonMain = join(root, 'dist/src/daemon/main.js');
const factoryCa = join(root, 'scripts/factory-ca.sh');
const gatewayctl = join(root, 'dist/src/cli/main.js');
const BAD_ACTORS = { unknownCa: 1, expired: 1, revoked: 1, unauthorized: 1 };
const TPM_HANDLE = 0x81000100;
/** systemd's TimeoutStopSec= in the unit: after it, SIGKILL. */
const STOP_TIMEOUT_MS = 20_000;

let options: DemoOptions;
try {
  const parsed = parseDemoOptions(process.argv.slice(2));
  if (parsed === 'help') {
    process.stdout.write(DEMO_HELP);
    process.exit(0);
  }
  options = parsed;
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  process.stderr.write(`demo: ${error.message}\n\n${DEMO_HELP}`);
  process.exit(2);
}

// With --json, stdout carries the summary document alone: the narration goes to stderr.
const narration = options.json ? process.stderr : process.stdout;
/** Set by SIGINT/SIGTERM: the run's own narration stops, the teardown and the summary take over. */
let interrupted: NodeJS.Signals | undefined;
const write = (text: string) => {
  if (!interrupted) narration.write(text);
};
// Bold headings on a terminal only: not as escape codes in a file or a CI log.
const heading = (text: string) => (narration.isTTY ? `\n\x1b[1m==> ${text}\x1b[0m\n` : `\n==> ${text}\n`);
const say = (text: string) => write(heading(text));
const started = performance.now();
const since = (mark: number) => Math.round(performance.now() - mark) / 1000;

const summary: DemoSummary = {
  ok: false,
  error: null,
  checks: [],
  keyStore: null,
  factoryChecklist: null,
  identity: null,
  sensors: null,
  messages: null,
  latency: null,
  daemon: { ready: null, reloaded: false, stopping: null, exit: null, warnings: [], errors: [] },
  timings: {},
  shutdown: [],
  identityKey: null,
  sensorTrust: null,
  upstream: null,
  fleet: null,
};
const teardown = new Teardown();
let service: ServiceSupervisor | undefined;

/** A command whose output the technician sees; returns its exit status. */
function run(command: string, args: string[]): number {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (result.error) throw new Error(`cannot run ${command}: ${result.error.message}`);
  write(result.stdout + result.stderr);
  return result.status ?? 1;
}

/** gatewayctl's output for the technician, or its --json answer parsed. */
function ctl(args: string[]): string {
  return execFileSync(process.execPath, [gatewayctl, ...args], { encoding: 'utf8' });
}
function ctlJson<T>(args: string[]): T {
  return JSON.parse(ctl([...args, '--json'])) as T;
}

/** `gatewayctl trust crl import` (it tells the running daemon). */
function importCrl(file: string, configPath: string): void {
  const status = run(process.execPath, [gatewayctl, 'trust', 'crl', 'import', file, '--config', configPath]);
  if (status !== 0) throw new Error(`gatewayctl trust crl import ${file} failed (exit ${status})`);
}

/** `systemctl stop`: SIGTERM, then SIGKILL after TimeoutStopSec=. */
async function stopService(supervisor: ServiceSupervisor) {
  const killer = setTimeout(() => supervisor.child.kill('SIGKILL'), STOP_TIMEOUT_MS);
  try {
    return await supervisor.stop('SIGTERM');
  } finally {
    clearTimeout(killer);
  }
}

/** The STOPPING=1 notification, or null (the supervisor reads the socket before it reports the exit). */
function stoppingMessage(supervisor: ServiceSupervisor): string | null {
  const stopping = supervisor.notify.messages.find((lines) => lines.includes('STOPPING=1'));
  return stopping ? stopping.join(' ') : null;
}

/** The daemon's output into the narration (stdout or, with --json, stderr), as journald would keep it. */
function echo(child: ChildProcess): void {
  child.stdout?.on('data', (chunk: Buffer) => narration.write(chunk));
  child.stderr?.on('data', (chunk: Buffer) => process.stderr.write(chunk));
}

function progressLine(p: FleetProgress, backend: TelemetrySubscriber): string {
  const sensors = `${p.connected} connected, ${p.refused} refused${p.unreachable > 0 ? `, ${p.unreachable} unreachable` : ''}`;
  const traffic =
    p.phase === 'connect'
      ? ''
      : ` | ${p.generated} generated, ${p.acknowledged} acknowledged (${p.acknowledgedPerSecond}/s) | backend ${backend.received} received`;
  return `  [${p.phase.padEnd(7)} ${(p.elapsedMs / 1000).toFixed(0).padStart(3)} s] sensors ${sensors}${traffic}\n`;
}

async function demo(): Promise<void> {
  const workDir = mkdtempSync(join(tmpdir(), 'edge-gatewayd-demo-'));
  teardown.add('work directory', () => rmSync(workDir, { recursive: true, force: true }));
  mkdirSync(join(workDir, 'state'), { recursive: true });

  let keyStore: DemoKeyStore;
  if (options.keyStore === 'tpm') {
    say('key store: a software TPM 2.0 (swtpm, hw-sim/tpm) stands in for the gateway board’s TPM');
    const swtpm = await SwtpmProcess.start({ stateDir: join(workDir, 'tpm-state') });
    teardown.add('swtpm', () => swtpm.stop());
    keyStore = { kind: 'tpm', tcti: swtpm.tcti, persistentHandle: TPM_HANDLE };
    summary.keyStore = keyStoreSummary(`swtpm, a software TPM 2.0 (TCTI ${swtpm.tcti})`);
    write(`swtpm (pid ${swtpm.pid}) on ${swtpm.tcti}, state in ${swtpm.stateDir}\n`);
  } else {
    say('key store: the simulated ATECC608A (hw-sim/atecc608, modelled execution times; --tpm for swtpm)');
    keyStore = { kind: 'atecc608', simulatorState: join(workDir, 'state/atecc608-simulator.json') };
    summary.keyStore = keyStoreSummary('simulated ATECC608A (hw-sim model, modelled execution times)');
  }

  say('sensor vendors: a demo sensor CA with one sensor (openssl), and a fleet CA (hw-sim/sensors)');
  const cliSensor = makeCliSensor(join(workDir, 'sensors'));
  const fleetCa = SensorCa.open(join(workDir, 'fleet-ca'));
  const config = GatewayConfig.initial(
    join(workDir, 'gateway.toml'),
    readFileSync(join(root, 'config/gateway.example.toml'), 'utf8'),
    {
      workDir,
      keyStore,
      sensorCaFiles: [cliSensor.caFile, join(workDir, 'fleet-ca', SENSOR_CA_FILES.certificate)],
    },
  );
  write(`gateway config: ${config.path} (config/gateway.example.toml with the demo's values)\n`);

  const provisioning = performance.now();
  say('factory line: a factory CA kit (scripts/factory-ca.sh init)');
  if (run(factoryCa, ['init', join(workDir, 'factory-ca')]) !== 0) throw new Error('factory CA kit failed');
  say(
    `technician: gatewayctl provision factory (${options.keyStore === 'tpm' ? 'TPM 2.0 on swtpm' : 'simulated ATECC608A'})`,
  );
  const provisioned = run(process.execPath, [
    gatewayctl,
    'provision',
    'factory',
    '--config',
    config.path,
    '--ca-dir',
    join(workDir, 'factory-ca'),
    '--yes',
  ]);
  if (provisioned !== 0) throw new Error(`gatewayctl provision factory failed (exit ${provisioned})`);
  say(
    options.keyStore === 'tpm'
      ? 'technician: gatewayctl provision verify (swtpm is honest too: a software TPM, its key is in a state file)'
      : 'technician: gatewayctl provision verify (the simulator is honest: what it cannot prove is n/a, not PASS)',
  );
  const verify = spawnSync(
    process.execPath,
    [
      gatewayctl,
      'provision',
      'verify',
      '--config',
      config.path,
      '--ca',
      join(workDir, 'factory-ca/root.crt'),
      '--json',
    ],
    { encoding: 'utf8' },
  );
  const factory = readFactoryChecklist(verify.stdout, verify.stderr, verify.status);
  write(factory.text);
  summary.factoryChecklist = factory.checklist;
  summary.timings.provisioning = since(provisioning);

  say('provisioning server: hw-sim EST server (RFC 7030 over HTTPS), trusting the factory CA for enrolment');
  const factoryRoot = readFileSync(join(workDir, 'factory-ca/root.crt'), 'utf8');
  const est = await EstServer.start({
    stateDir: join(workDir, 'est-server'),
    factoryCaPem: [factoryRoot],
    // The simulated ATECC608A attests at enrolment: the factory kit plays its manufacturer PKI.
    ...(keyStore.kind === 'atecc608' ? { deviceAttestation: { manufacturerCaPem: [factoryRoot] } } : {}),
  });
  if (keyStore.kind === 'atecc608') config.set('# mode = "off"', 'mode = "atecc608"');
  teardown.add('EST server', () => est.stop());
  writeFileSync(join(workDir, 'est-root.pem'), est.rootPem);
  config.est(est.url, join(workDir, 'est-root.pem'));
  write(
    `EST server at ${est.url}; its root (the gateway's explicit trust anchor): ${workDir}/est-root.pem\n`,
  );

  say('broker: mosquitto with TLS (hw-sim/broker), client certificates from the factory or EST CA required');
  const broker = await MosquittoBroker.start({
    dir: join(workDir, 'broker'),
    caFiles: [join(workDir, 'factory-ca/root.crt'), join(workDir, 'est-root.pem')],
  });
  teardown.add('mosquitto', () => broker.stop());
  config.upstream(broker.url, broker.caFile);
  write(`mosquitto (pid ${broker.pid}) at ${broker.url}\n`);
  say('backend: a subscriber on devices/+/telemetry (its own client certificate, CN=backend)');
  const backend = await TelemetrySubscriber.connect(broker);
  teardown.add('backend subscriber', () => backend.close());

  say(`starting edge-gatewayd with ${config.path} (as systemd would: NOTIFY_SOCKET, WatchdogSec=10s)`);
  const daemonStarted = performance.now();
  const supervisor = ServiceSupervisor.start({
    command: [process.execPath, daemonMain, '--config', config.path],
    watchdogUsec: 10_000_000,
  });
  service = supervisor;
  echo(supervisor.child);
  teardown.add('edge-gatewayd', async () => {
    if (supervisor.child.exitCode === null && supervisor.child.signalCode === null) {
      summary.daemon.exit ??= await stopService(supervisor);
      summary.daemon.stopping ??= stoppingMessage(supervisor);
    }
    await supervisor.dispose();
  });
  const ready = await supervisor.waitReady();
  summary.daemon.ready = ready.join(' ');
  summary.timings.ready = since(daemonStarted);
  say(`systemd saw: ${summary.daemon.ready}`);
  await supervisor.notify.waitForLine('WATCHDOG=1');
  say('systemd saw: WATCHDOG=1');

  say('zero touch: waiting for the daemon to enrol over EST with its factory identity');
  const identityArgs = ['identity', 'status', '--config', config.path];
  const deadline = Date.now() + 60_000;
  for (;;) {
    const identity = ctlJson<IdentityStatus>(identityArgs);
    if (identity.state === 'operational') break;
    if (Date.now() > deadline) throw new Error(`no operational identity within 60 s: ${identity.lastError}`);
    await new Promise((done) => setTimeout(done, 200));
  }
  summary.timings.zeroTouch = since(daemonStarted);
  say(`gatewayctl identity status --config ${config.path}`);
  write(ctl(identityArgs));
  summary.identity = ctlJson<IdentityStatus>(identityArgs);
  const issued = est.auditEntries().filter((entry) => entry.issued);
  write(`EST server audit: issued ${issued.map((entry) => entry.issued?.subject).join(', ')}\n`);

  say(`gatewayctl status --config ${config.path}`);
  write(ctl(['status', '--config', config.path]));
  const status = ctlJson<DaemonStatus>(['status', '--config', config.path]);
  noteKeyStore(status);
  const port = Number(status.sensorEndpoint?.listening.split(':').at(-1));
  if (!Number.isInteger(port) || port <= 0) throw new Error('the sensor endpoint is not listening');

  // The daemon put sensor_ca_files in its trust store at start: now the CA's CRL has an issuer.
  say("operator: gatewayctl trust crl import (the demo sensor CA's CRL)");
  importCrl(cliSensor.crlFile, config.path);
  const uri = `coaps://127.0.0.1:${port}/telemetry`;
  say(`sensor ${CLI_SENSOR_NAME}: coap-client-openssl -m post -t json -e '{"t":21.5}' ${uri} (mutual X.509)`);
  const byHand = run('coap-client-openssl', [
    '-m',
    'post',
    '-t',
    'json',
    '-e',
    '{"t":21.5}',
    '-B',
    '10',
    '-c',
    cliSensor.certFile,
    '-j',
    cliSensor.keyFile,
    '-R',
    join(workDir, 'factory-ca/root.crt'),
    uri,
  ]);
  write(`coap-client-openssl exit status ${byHand}\n`);

  say(
    `fleet: ${options.sensors} simulated sensors and ${Object.keys(BAD_ACTORS).length} bad actors, ${options.rate} messages/s for ${options.durationMs / 1000} s`,
  );
  const fleet = SensorFleet.create({
    ca: fleetCa,
    gateway: { host: '127.0.0.1', port },
    gatewayCa: pemBlocks(readFileSync(join(workDir, 'factory-ca/root.crt'), 'utf8')),
    sensors: options.sensors,
    rate: options.rate,
    badActors: BAD_ACTORS,
    format: 'mixed',
  });
  teardown.add('sensor fleet', () => fleet.stop());
  // The revoked bad actor is on the fleet CA's CRL: the operator imports it.
  fleetCa.writeCrl();
  importCrl(join(workDir, 'fleet-ca', SENSOR_CA_FILES.crlPem), config.path);
  fleet.on('progress', (progress) => write(progressLine(progress, backend)));
  await fleet.connect();
  await fleet.run({ durationMs: options.durationMs });
  await fleet.stop();
  const fleetSummary = fleet.summary();
  summary.fleet = fleetSummary;
  summary.timings.fleetConnect = fleetSummary.connectSeconds;
  summary.timings.fleetRun = fleetSummary.runSeconds;
  say('fleet detail (hw-sim/sensors)');
  write(fleetSummaryText(fleetSummary));

  // Acknowledged means stored in the outbox, not yet published: give the gateway a moment to deliver.
  say('backend: waiting for every acknowledged reading to arrive');
  const missing = () =>
    fleetSummary.perSensor.reduce(
      (sum, r) => sum + Math.max(0, r.messages.acknowledged - backend.distinct(r.name).size),
      0,
    );
  await backend.waitFor(() => missing() === 0, 15_000, 'every acknowledged reading').catch(() => undefined);
  const gateway = ctlJson<DaemonStatus>(['status', '--config', config.path]);
  noteKeyStore(gateway);
  summary.identityKey = gateway.identityKey;
  summary.sensorTrust = gateway.sensorTrust;
  summary.upstream = gateway.upstream;
  const totals = backend.totals();
  write(
    `backend: ${totals.received} readings from ${totals.sensors} sensors, ${backend.undecodable} other\n`,
  );

  const perSensor = fleetSummary.perSensor;
  summary.sensors = {
    accepted: [
      ...perSensor.filter((r) => r.role === 'sensor' && r.admitted && !r.refusal).map((r) => r.name),
      ...(byHand === 0 ? [CLI_SENSOR_NAME] : []),
    ],
    refused: perSensor.flatMap((r) =>
      r.refusal
        ? [
            {
              name: r.name,
              role: r.role,
              stage: r.refusal.stage,
              reason: r.refusal.reason,
              code: r.refusal.code,
              request: r.refusal.request ?? null,
            },
          ]
        : [],
    ),
    honestRefused: fleetSummary.honestRefused,
    badActorsNotRefused: fleetSummary.badActors.notRefused,
    gatewayVerdicts: gateway.sensorTrust
      ? {
          accepted: gateway.sensorTrust.accepted,
          refused: gateway.sensorTrust.refused as Record<string, number>,
        }
      : null,
  };
  summary.messages = {
    generated: fleetSummary.messages.generated,
    acknowledged: fleetSummary.messages.acknowledged,
    byHand: byHand === 0 ? 1 : 0,
    forwarded: gateway.upstream?.published ?? null,
    outboxRows: gateway.upstream?.outbox.rows ?? null,
    backend: {
      received: totals.received + backend.undecodable,
      readings: totals.received,
      sensors: totals.sensors,
      distinct: totals.distinct,
      duplicates: totals.duplicates,
      outOfOrder: totals.outOfOrder,
      missing: missing(),
      other: backend.undecodable,
    },
  };
  const offsets = perSensor.flatMap((r) => (r.clockOffsetMs === null ? [] : [r.clockOffsetMs]));
  summary.latency = {
    sensorAckMs: fleetSummary.latencyMs,
    endToEndMs: backend.latency.summary(),
    clock:
      "one machine's clock, whole milliseconds: each reading's ts is its sensor's clock corrected by the gateway's GET /time" +
      (offsets.length > 0 ? ` (offsets ${Math.min(...offsets)}…${Math.max(...offsets)} ms)` : ''),
    sensorClockOffsetMs: offsets.length > 0 ? { min: Math.min(...offsets), max: Math.max(...offsets) } : null,
  };

  say('raising log.level to "debug" and reloading with SIGHUP (systemctl reload)');
  config.set('# level = "info"', 'level = "debug"');
  const readyCount = () => supervisor.notify.messages.filter((message) => message.includes('READY=1')).length;
  const before = readyCount();
  supervisor.child.kill('SIGHUP');
  await supervisor.notify.waitFor(() => readyCount() > before, 30_000, 'READY=1 after the reload');
  summary.daemon.reloaded = true;
  write(ctl(['status', '--config', config.path]));

  say('stopping with SIGTERM (systemctl stop)');
  const stopping = performance.now();
  summary.daemon.exit = await stopService(supervisor);
  summary.timings.stop = since(stopping);
  summary.daemon.stopping = stoppingMessage(supervisor);
  say(
    `systemd saw: ${summary.daemon.stopping ?? '(no STOPPING=1!)'}; exit ${summary.daemon.exit.code ?? summary.daemon.exit.signal}`,
  );
}

function keyStoreSummary(device: string): DemoSummary['keyStore'] {
  return {
    backend: options.keyStore,
    device,
    simulated: true,
    reportedHardwareBacked: null,
    model: null,
    serial: null,
    keyLocation: null,
  };
}

/** What the daemon found at start-up, beside what the demo set up. */
function noteKeyStore(status: DaemonStatus): void {
  const key = status.identityKey;
  if (!summary.keyStore || !key.available) return;
  summary.keyStore.reportedHardwareBacked = key.hardwareBacked;
  summary.keyStore.model = key.model;
  summary.keyStore.serial = key.serial;
  summary.keyStore.keyLocation = key.keyLocation;
}

let finishing: Promise<never> | undefined;
/** Once, whoever comes first: the end of the run, its failure, or a signal. */
function finish(): Promise<never> {
  finishing ??= report();
  return finishing;
}

async function report(): Promise<never> {
  narration.write(heading('stopping everything (in reverse order of start)'));
  summary.shutdown = await teardown.run((step: TeardownStep) =>
    narration.write(
      `  ${step.ok ? 'stopped' : 'NOT stopped cleanly:'} ${step.step} (${step.ms} ms)${step.error ? `: ${step.error}` : ''}\n`,
    ),
  );
  if (service) Object.assign(summary.daemon, daemonLogFindings(service.stdout + service.stderr));
  summary.timings.total = since(started);
  summary.checks = demoChecks(summary, options.sensors, service !== undefined);
  summary.ok = summary.error === null && summary.checks.every((check) => check.ok);
  if (options.json) {
    process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`);
  } else {
    const keyStore = options.keyStore === 'tpm' ? 'TPM 2.0 on swtpm' : 'simulated ATECC608A';
    process.stdout.write(`${heading(`summary (${keyStore})`)}${summaryText(summary)}`);
  }
  // Everything we started is stopped; a stray handle (a socket's linger) must not keep us here.
  process.exit(summary.ok ? 0 : 1);
}

// Ctrl-C (or a kill) mid-run: the same teardown, so no swtpm, mosquitto or daemon is left behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    interrupted = signal;
    summary.error ??= `interrupted by ${signal}`;
    void finish();
  });
}

try {
  await demo();
} catch (error) {
  summary.error ??= error instanceof Error ? error.message : String(error);
  if (!interrupted) process.stderr.write(`demo failed: ${summary.error}\n`);
}
await finish();
