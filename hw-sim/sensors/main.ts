#!/usr/bin/env node
/**
 * A sensor fleet against a gateway, as a process: progress on stderr, the summary on stdout (text,
 * or JSON with --json). `--init` only prepares the CA directory: the gateway must trust
 * sensor-root.pem, and import sensor-root.crl.pem when revoked bad actors are to be refused.
 */
import { readFileSync } from 'node:fs';
import { isIPv6 } from 'node:net';
import { parseArgs } from 'node:util';
import { GatewayError } from '../../src/errors/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import { parseBadActorCounts } from './bad-actor-counts.js';
import { fleetSummaryText } from './fleet-summary.js';
import { SensorCa } from './sensor-ca.js';
import { BAD_ACTOR_KINDS, type BadActorCounts } from './sensor-credentials.js';
import { SensorFleet } from './sensor-fleet.js';

const HELP = `usage: node dist/hw-sim/sensors/main.js --gateway HOST:PORT --gateway-ca FILE --ca-dir DIR [options]
       node dist/hw-sim/sensors/main.js --init --ca-dir DIR [--bad-actors LIST]

Simulated CoAP-over-DTLS sensors sending telemetry to a gateway (POST /telemetry), observing
/commands, with bad actors on request.

  --gateway HOST:PORT   the gateway's DTLS endpoint ([::1]:5684 for IPv6)
  --gateway-ca FILE     PEM trust anchor(s) for the gateway's certificate (repeatable)
  --ca-dir DIR          the sensor CA: loaded from DIR, or made there (the gateway trusts DIR/sensor-root.pem)
  --sensors N           honest sensors (default 20)
  --rate R              telemetry messages per second, whole fleet (default 50)
  --duration SECONDS    how long to send (default 10)
  --messages N          stop after N messages (whichever of --duration and --messages comes first)
  --bad-actors LIST     e.g. unknownCa=2,expired=1,revoked=1,unauthorized=1 (or "all": one of each)
  --format F            json (default), cbor or mixed (every other sensor CBOR)
  --non                 telemetry as NON requests (default CON)
  --connect-rate N      handshakes started per second (default 8: under the gateway's per-address limit)
  --drain SECONDS       wait this long for answers after the last message (default 15)
  --json                print the summary as JSON
  --quiet               no progress on stderr
  --check               exit 1 when an honest sensor was not admitted, a bad actor was not refused,
                        or a message was not acknowledged
  --init                only prepare DIR (CA, revoked bad actors, CRL) and print what the gateway needs
  -h, --help            this text

Revoked bad actors are kept in DIR and listed in DIR/sensor-root.crl.pem: import that CRL into the
gateway (gatewayctl trust crl import) before the run, after --init or a first run.
`;

function fail(message: string, status: number): never {
  process.stderr.write(`sensor-fleet: ${message}\n`);
  process.exit(status);
}

function parse() {
  try {
    return parseArgs({
      options: {
        gateway: { type: 'string' },
        'gateway-ca': { type: 'string', multiple: true },
        'ca-dir': { type: 'string' },
        sensors: { type: 'string' },
        rate: { type: 'string' },
        duration: { type: 'string' },
        messages: { type: 'string' },
        'bad-actors': { type: 'string' },
        format: { type: 'string' },
        non: { type: 'boolean' },
        'connect-rate': { type: 'string' },
        drain: { type: 'string' },
        json: { type: 'boolean' },
        quiet: { type: 'boolean' },
        check: { type: 'boolean' },
        init: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (error) {
    return fail(`${(error as Error).message}\nsee --help`, 2);
  }
}

function number(name: string, text: string | undefined, fallback: number, min: number, max: number): number {
  if (text === undefined) return fallback;
  const value = Number(text);
  if (text.trim() === '' || !Number.isFinite(value) || value < min || value > max)
    fail(`--${name} must be a number from ${min} to ${max}, not ${JSON.stringify(text)}`, 2);
  return value;
}

function hostAndPort(text: string): { host: string; port: number } {
  const match = /^\[([^\]]+)\]:(\d+)$/.exec(text) ?? /^([^:]+):(\d+)$/.exec(text);
  const port = Number(match?.[2]);
  if (!match || !(port >= 1 && port <= 65535))
    fail(`--gateway must be HOST:PORT or [IPv6]:PORT, not ${JSON.stringify(text)}`, 2);
  const host = match[1] as string;
  if (host.includes(':') && !isIPv6(host)) fail(`--gateway: ${host} is not an IPv6 address`, 2);
  return { host: host === 'localhost' ? '127.0.0.1' : host, port };
}

async function main(): Promise<void> {
  const args = parse();
  if (args.help) {
    process.stdout.write(HELP);
    return;
  }
  if (!args['ca-dir']) fail('--ca-dir is required\nsee --help', 2);
  let badActors: BadActorCounts = {};
  try {
    badActors = args['bad-actors'] ? parseBadActorCounts(args['bad-actors']) : {};
  } catch (error) {
    fail(`--bad-actors: ${(error as Error).message}`, 2);
  }
  const ca = SensorCa.open(args['ca-dir']);
  if (args.init) {
    for (let i = 1; i <= (badActors.revoked ?? 0); i++) ca.revokedSensor(`bad-revoked-${i}`);
    ca.writeCrl();
    const files = { sensorCaFile: ca.certificateFile, crlFile: ca.crlFile, revoked: ca.revokedSerials };
    process.stdout.write(
      args.json
        ? `${JSON.stringify(files)}\n`
        : `${Object.entries(files)
            .map(([k, v]) => `${k}: ${v}`)
            .join('\n')}\n`,
    );
    return;
  }
  if (!args.gateway) fail('--gateway is required\nsee --help', 2);
  if (!args['gateway-ca']?.length) fail('--gateway-ca is required\nsee --help', 2);
  const gateway = hostAndPort(args.gateway);
  const gatewayCa = args['gateway-ca'].flatMap((file) => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch (error) {
      return fail(`--gateway-ca ${file}: ${(error as Error).message}`, 2);
    }
    const blocks = pemBlocks(text);
    if (blocks.length === 0) fail(`--gateway-ca ${file} holds no PEM CERTIFICATE`, 2);
    return blocks;
  });
  const format = args.format ?? 'json';
  if (format !== 'json' && format !== 'cbor' && format !== 'mixed')
    fail(`--format must be json, cbor or mixed, not ${JSON.stringify(format)}`, 2);
  const sensors = number('sensors', args.sensors, 20, 0, 100_000);
  if (!Number.isInteger(sensors)) fail('--sensors must be a whole number', 2);
  const durationMs = number('duration', args.duration, 10, 0, 86_400) * 1000;
  const messages = args.messages === undefined ? undefined : number('messages', args.messages, 0, 1, 1e9);

  const revokedBefore = ca.revokedSerials.length;
  const fleet = SensorFleet.create({
    ca,
    gateway,
    gatewayCa,
    sensors,
    badActors,
    rate: number('rate', args.rate, 50, 0.01, 1_000_000),
    format,
    connectRate: number('connect-rate', args['connect-rate'], 8, 0.1, 100_000),
    drainTimeoutMs: number('drain', args.drain, 15, 0, 3600) * 1000,
    sensor: { confirmable: !args.non },
  });
  // What makes a run meaningless is said even with --quiet.
  if (ca.created)
    process.stderr.write(
      `sensor-fleet: made a new sensor CA in ${args['ca-dir']}: the gateway must trust ${ca.certificateFile} (else every sensor is refused)\n`,
    );
  if (ca.revokedSerials.length > revokedBefore)
    process.stderr.write(
      `sensor-fleet: revoked bad actors were made now: the gateway refuses them only once it has imported ${ca.crlFile} (run --init first)\n`,
    );
  if (!args.quiet) {
    fleet.on('progress', (p) =>
      process.stderr.write(
        `[${p.phase} ${(p.elapsedMs / 1000).toFixed(1)}s] connected ${p.connected}, refused ${p.refused}, unreachable ${p.unreachable}; ` +
          `messages ${p.generated} generated, ${p.acknowledged} acknowledged (${p.acknowledgedPerSecond}/s)\n`,
      ),
    );
    const bad = BAD_ACTOR_KINDS.reduce((sum, kind) => sum + (badActors[kind] ?? 0), 0);
    process.stderr.write(
      `sensor-fleet: ${sensors} sensors${bad ? ` + ${bad} bad actors` : ''} → ${args.gateway}, ${fleet.sensors.length} certificates issued by ${ca.certificateFile}\n`,
    );
  }
  let interrupted = false;
  const interrupt = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    process.stderr.write('sensor-fleet: interrupted, stopping (again to quit at once)\n');
    void fleet.stop();
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  await fleet.connect();
  if (!interrupted) await fleet.run({ durationMs, ...(messages !== undefined ? { messages } : {}) });
  await fleet.stop();
  const summary = fleet.summary();
  const text = args.json ? `${JSON.stringify(summary, null, 2)}\n` : fleetSummaryText(summary);
  await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  if (args.check) {
    const m = summary.messages;
    const honestAdmitted = summary.perSensor.filter((r) => r.role === 'sensor' && r.admitted).length;
    const findings = [
      honestAdmitted < summary.sensors.honest
        ? `${summary.sensors.honest - honestAdmitted} honest sensors not admitted`
        : '',
      summary.badActors.notRefused.length > 0
        ? `bad actors not refused: ${summary.badActors.notRefused.join(', ')}`
        : '',
      m.acknowledged < m.generated ? `${m.generated - m.acknowledged} messages not acknowledged` : '',
    ].filter(Boolean);
    if (findings.length > 0) fail(`check failed: ${findings.join('; ')}`, 1);
  }
  // Sockets are closed; anything left (a late timer) must not hold the summary back.
  process.exit(0);
}

main().catch((error: unknown) =>
  fail(
    error instanceof GatewayError
      ? `${error.code}: ${error.describe()}`
      : error instanceof Error
        ? (error.stack ?? error.message)
        : String(error),
    1,
  ),
);
