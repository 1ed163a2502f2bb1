/**
 * `npm run demo`: the gateway on its embedded default (simulated everything), end to end.
 *
 * At this stage, on a temporary state directory with the example config:
 *   1. a factory CA kit (scripts/factory-ca.sh) and a simulated ATECC608A (hw-sim/atecc608, modelled
 *      execution times) stand in for the factory line and the secure element;
 *   2. a technician's provisioning run: key generated in the part, CSR, factory certificate, lock,
 *      then the verify checklist;
 *   3. the provisioning server: hw-sim's EST server (RFC 7030 over HTTPS, its own CA made on first
 *      start), trusting the factory CA for enrolment;
 *   4. edge-gatewayd started the way systemd would (NOTIFY_SOCKET, watchdog), READY=1 awaited; with
 *      nobody touching it, it enrols over EST with its factory identity (zero touch) and shows the
 *      operational certificate in `gatewayctl identity status` and `gatewayctl status`;
 *   5. the broker: mosquitto with TLS (hw-sim/broker), client certificates required; the gateway
 *      connects under its operational identity and forwards telemetry there;
 *   6. a sensor (libcoap's coap-client-openssl, its certificate from a demo sensor CA) POSTs telemetry
 *      over CoAP/DTLS (mutual X.509, the gateway signing with the key in the simulated part); then a
 *      simulated fleet (hw-sim/sensors) with bad actors (unknown CA, expired, revoked, unauthorized);
 *   7. a summary (identity, sensors accepted and refused with reasons, messages forwarded, latency),
 *      as text, or as JSON with --json; then a SIGHUP reload and a clean SIGTERM stop.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MosquittoBroker } from '../hw-sim/broker/index.js';
import { EstServer } from '../hw-sim/est-server/index.js';
import { fleetSummaryText, SENSOR_CA_FILES, SensorCa, SensorFleet } from '../hw-sim/sensors/index.js';
import { ServiceSupervisor } from '../hw-sim/systemd/index.js';
import { pemBlocks } from '../src/pki/index.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const daemonMain = join(root, 'dist/src/daemon/main.js');
const factoryCa = join(root, 'scripts/factory-ca.sh');
const gatewayctl = join(root, 'dist/src/cli/main.js');

const say = (text: string) => process.stdout.write(`\n\x1b[1m==> ${text}\x1b[0m\n`);
const readyCount = (service: ServiceSupervisor) =>
  service.notify.messages.filter((message) => message.includes('READY=1')).length;
const showStatus = (configPath: string) =>
  process.stdout.write(
    execFileSync(process.execPath, [gatewayctl, 'status', '--config', configPath], { encoding: 'utf8' }),
  );

const jsonSummary = process.argv.includes('--json');
const FLEET = { sensors: 20, rate: 40, durationMs: 10_000 };
const workDir = mkdtempSync(join(tmpdir(), 'edge-gatewayd-demo-'));
mkdirSync(join(workDir, 'state'), { recursive: true });
const configPath = join(workDir, 'gateway.toml');
const example = readFileSync(join(root, 'config/gateway.example.toml'), 'utf8');
writeFileSync(
  configPath,
  example
    .replace('# path = "/var/lib/edge-gatewayd/state.db"', `path = "${workDir}/state/state.db"`)
    .replace('# socket = "/run/edge-gatewayd/control.sock"', `socket = "${workDir}/run/control.sock"`)
    .replace('# format = "json"', 'format = "pretty"')
    .replace('# backend = "tpm"', 'backend = "atecc608"')
    .replace('# simulator_state = ""', `simulator_state = "${workDir}/state/atecc608-simulator.json"`)
    .replace('# enabled = false', 'enabled = true')
    .replace('# host = "::"', 'host = "127.0.0.1"')
    .replace('# port = 5684', 'port = 0')
    .replace(
      '# sensor_ca_files = []',
      `sensor_ca_files = ["${workDir}/sensors/ca.pem", "${workDir}/fleet-ca/${SENSOR_CA_FILES.certificate}"]`,
    )
    // Fleet sensors all come from 127.0.0.1: let their handshakes through.
    .replace('# handshakes_per_second_per_address = 10', 'handshakes_per_second_per_address = 200')
    .replace('# handshake_burst_per_address = 20', 'handshake_burst_per_address = 200'),
);
/** A sensor vendor's CA and one sensor certificate, as a fleet operator would receive them. */
function makeDemoSensor(dir: string): void {
  mkdirSync(dir, { recursive: true });
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  openssl(
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'ca.key',
    '-subj',
    '/CN=Demo Sensor CA',
    '-days',
    '2',
    '-out',
    'ca.pem',
  );
  openssl(
    'req',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    'sensor.key',
    '-subj',
    '/CN=sensor-0001',
    '-out',
    'sensor.csr',
  );
  writeFileSync(join(dir, 'sensor.ext'), 'extendedKeyUsage=clientAuth\nbasicConstraints=CA:FALSE\n');
  openssl(
    'x509',
    '-req',
    '-in',
    'sensor.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-days',
    '2',
    '-extfile',
    'sensor.ext',
    '-out',
    'sensor.pem',
  );
}

const run = (command: string, args: string[]) => {
  const result = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  process.stdout.write(result.stdout + result.stderr);
  return result.status ?? 1;
};

say('sensor vendor: a demo sensor CA and one sensor certificate (openssl, ECDSA P-256, EKU clientAuth)');
makeDemoSensor(join(workDir, 'sensors'));
say('factory line: a factory CA kit (scripts/factory-ca.sh init)');
run(factoryCa, ['init', join(workDir, 'factory-ca')]);
say('technician: gatewayctl provision factory (simulated ATECC608A, modelled timing)');
if (
  run(process.execPath, [
    gatewayctl,
    'provision',
    'factory',
    '--config',
    configPath,
    '--ca-dir',
    join(workDir, 'factory-ca'),
    '--yes',
  ]) !== 0
) {
  throw new Error('provisioning failed');
}
say('technician: gatewayctl provision verify (the simulator is honest: its key is in a file, not hardware)');
run(process.execPath, [
  gatewayctl,
  'provision',
  'verify',
  '--config',
  configPath,
  '--ca',
  join(workDir, 'factory-ca/root.crt'),
]);

say('provisioning server: hw-sim EST server (RFC 7030 over HTTPS), trusting the factory CA for enrolment');
const est = await EstServer.start({
  stateDir: join(workDir, 'est-server'),
  factoryCaPem: [readFileSync(join(workDir, 'factory-ca/root.crt'), 'utf8')],
});
writeFileSync(join(workDir, 'est-root.pem'), est.rootPem);
writeFileSync(
  configPath,
  readFileSync(configPath, 'utf8')
    .replace('# url = ""', `url = "${est.url}"`)
    .replace('# trust_anchor_file = ""', `trust_anchor_file = "${workDir}/est-root.pem"`),
);
process.stdout.write(
  `EST server at ${est.url}; its root (the gateway's explicit trust anchor): ${workDir}/est-root.pem\n`,
);

say('broker: mosquitto with TLS (hw-sim/broker), client certificates from the factory or EST CA required');
const broker = await MosquittoBroker.start({
  dir: join(workDir, 'broker'),
  caFiles: [join(workDir, 'factory-ca/root.crt'), join(workDir, 'est-root.pem')],
});
writeFileSync(
  configPath,
  readFileSync(configPath, 'utf8')
    .replace('# broker_url = ""', `enabled = true\nbroker_url = "${broker.url}"`)
    .replace(
      `# PEM of the broker's CA; "" = the upstream trust bundle (from the EST server's /cacerts).\n# trust_anchor_file = ""`,
      `trust_anchor_file = "${broker.caFile}"`,
    ),
);
process.stdout.write(`mosquitto at ${broker.url}\n`);

say('sensor vendor 2: a fleet CA (hw-sim/sensors) whose sensors the gateway trusts');
const fleetCa = SensorCa.open(join(workDir, 'fleet-ca'));

say(`starting edge-gatewayd with ${configPath} (as systemd would: NOTIFY_SOCKET, WatchdogSec=10s)`);
const service = ServiceSupervisor.start({
  command: [process.execPath, daemonMain, '--config', configPath],
  watchdogUsec: 10_000_000,
  echo: true,
});
let failed = false;
try {
  const ready = await service.waitReady();
  say(`systemd saw: ${ready.join(' ')}`);
  await service.notify.waitForLine('WATCHDOG=1');
  say('systemd saw: WATCHDOG=1');

  say('zero touch: waiting for the daemon to enrol over EST with its factory identity');
  const identity = () =>
    JSON.parse(
      execFileSync(process.execPath, [gatewayctl, 'identity', 'status', '--json', '--config', configPath], {
        encoding: 'utf8',
      }),
    ) as { state: string; lastError: string | null };
  const deadline = Date.now() + 60_000;
  while (identity().state !== 'operational') {
    if (Date.now() > deadline) throw new Error(`no operational identity: ${identity().lastError}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  say(`gatewayctl identity status --config ${configPath}`);
  process.stdout.write(
    execFileSync(process.execPath, [gatewayctl, 'identity', 'status', '--config', configPath], {
      encoding: 'utf8',
    }),
  );
  const issued = est.auditEntries().filter((entry) => entry.issued);
  process.stdout.write(
    `EST server audit: issued ${issued.map((entry) => entry.issued?.subject).join(', ')}\n`,
  );

  say(`gatewayctl status --config ${configPath}`);
  showStatus(configPath);

  const status = JSON.parse(
    execFileSync(process.execPath, [gatewayctl, 'status', '--json', '--config', configPath], {
      encoding: 'utf8',
    }),
  ) as { sensorEndpoint: { listening: string } | null };
  const port = status.sensorEndpoint?.listening.split(':').at(-1);
  const uri = `coaps://127.0.0.1:${port}/telemetry`;
  say(`sensor: coap-client-openssl -m post -t json -e '{"t":21.5}' ${uri} (mutual X.509)`);
  const sensor = join(workDir, 'sensors');
  run('coap-client-openssl', [
    '-m',
    'post',
    '-t',
    'json',
    '-e',
    '{"t":21.5}',
    '-B',
    '10',
    '-c',
    `${sensor}/sensor.pem`,
    '-j',
    `${sensor}/sensor.key`,
    '-R',
    join(workDir, 'factory-ca/root.crt'),
    uri,
  ]);

  say(
    `fleet: ${FLEET.sensors} simulated sensors, ${FLEET.rate} messages/s for ${FLEET.durationMs / 1000} s, and bad actors`,
  );
  const fleet = SensorFleet.create({
    ca: fleetCa,
    gateway: { host: '127.0.0.1', port: Number(port) },
    gatewayCa: pemBlocks(readFileSync(join(workDir, 'factory-ca/root.crt'), 'utf8')),
    sensors: FLEET.sensors,
    rate: FLEET.rate,
    badActors: { unknownCa: 1, expired: 1, revoked: 1, unauthorized: 1 },
    format: 'mixed',
  });
  // The revoked bad actor is on the fleet CA's CRL: the operator imports it.
  fleetCa.writeCrl();
  run(process.execPath, [
    gatewayctl,
    'trust',
    'crl',
    'import',
    join(workDir, 'fleet-ca', SENSOR_CA_FILES.crlPem),
    '--config',
    configPath,
  ]);
  fleet.on('progress', (progress) => process.stderr.write(`  ${JSON.stringify(progress)}\n`));
  await fleet.connect();
  await fleet.run({ durationMs: FLEET.durationMs });
  await fleet.stop();
  const summary = fleet.summary();
  const gatewayStatus = JSON.parse(
    execFileSync(process.execPath, [gatewayctl, 'status', '--json', '--config', configPath], {
      encoding: 'utf8',
    }),
  ) as {
    upstream: { published: number; outbox: { rows: number } } | null;
    sensorTrust: unknown;
    identity: unknown;
  };
  say('summary');
  if (jsonSummary) {
    process.stdout.write(
      `${JSON.stringify({ identity: gatewayStatus.identity, sensorTrust: gatewayStatus.sensorTrust, upstream: gatewayStatus.upstream, fleet: summary }, null, 2)}\n`,
    );
  } else {
    process.stdout.write(fleetSummaryText(summary));
    process.stdout.write(
      `\nforwarded to the broker: ${gatewayStatus.upstream?.published ?? 0} messages (outbox now ${gatewayStatus.upstream?.outbox.rows ?? 0})\n`,
    );
    showStatus(configPath);
  }

  say('raising log.level to "debug" and reloading with SIGHUP (systemctl reload)');
  writeFileSync(configPath, readFileSync(configPath, 'utf8').replace('# level = "info"', 'level = "debug"'));
  const before = readyCount(service);
  service.child.kill('SIGHUP');
  await service.notify.waitFor(() => readyCount(service) > before, 30_000, 'READY=1 after the reload');
  showStatus(configPath);

  say('stopping with SIGTERM (systemctl stop)');
  const exit = await service.stop('SIGTERM');
  const stopping = service.notify.messages.find((message) => message.includes('STOPPING=1'));
  say(`systemd saw: ${stopping?.join(' ') ?? '(no STOPPING=1!)'}; exit code ${exit.code}`);
  failed = exit.code !== 0 || !stopping;
} catch (error) {
  failed = true;
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
} finally {
  await service.dispose();
  await broker.stop();
  await est.stop();
  rmSync(workDir, { recursive: true, force: true });
}
say(
  failed
    ? 'demo FAILED'
    : 'demo finished: provisioned, enrolled over EST with zero touch, forwarded a sensor fleet to the broker (bad actors refused), reloaded and stopped cleanly',
);
process.exitCode = failed ? 1 : 0;
