import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import coap from 'coap';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  decodeCbor,
  decodeTelemetry,
  encodeCbor,
  type FleetSummary,
  parseBadActorCounts,
  SENSOR_CA_FILES,
  SensorCa,
  SensorFleet,
  type SensorFleetOptions,
} from '../../hw-sim/sensors/index.js';
import {
  CoapDtlsSocket,
  type DtlsHandshakeFailedEvent,
  DtlsServer,
  type PeerVerdict,
  X509_V_ERR,
} from '../../src/tls/index.js';
import { Crl } from '../../src/trust/revocation/index.js';
import type { SensorIdentity } from '../../src/trust/sensor-identity.js';
import { AnchorIndex, CertificateFacts, PathValidator } from '../../src/trust/validation/index.js';
import { type DtlsPki, makeDtlsPki, run, until } from '../helpers/dtls-pki.js';

/**
 * The sensor fleet simulator (hw-sim/sensors) against a stand-in for the gateway: our real
 * DtlsServer and node-coap answering /telemetry, /commands (Observe), /time and /.well-known/core
 * the way the gateway's routes are specified, since those routes are not merged yet. The stand-in
 * judges revocation with the gateway's own CRL reader on the CRL the sensor CA signs.
 */

const mainJs = fileURLToPath(new URL('../../dist/hw-sim/sensors/main.js', import.meta.url));
const DEVICE_TYPE_OID = '1.3.6.1.4.1.12345.1.1';

/** Content-Format names as node-coap's server gives them, to numbers. */
const FORMAT_NUMBERS: Record<string, number> = { 'application/json': 50, 'application/cbor': 60 };

type ObserveWriteStream = coap.OutgoingMessage & { write(data: Buffer): boolean };

/** The TLS alert per refusal, through the X509_V_ERR the gateway's sensor verifier sends for it. */
const VERIFY_ERRORS: Record<string, number> = {
  revoked: X509_V_ERR.CERT_REVOKED,
  expired: X509_V_ERR.CERT_HAS_EXPIRED,
  'unknown-issuer': X509_V_ERR.UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
};

/**
 * A stand-in for the gateway's sensor endpoint: mutual-certificate DTLS whose chains are judged as
 * the gateway judges them (its PathValidator, against the sensor CA; a CRL of the sensor CA, once
 * loaded, refuses revoked serials; the alert says why), and the CoAP resources of the gateway's
 * contract with an authorization rule like the gateway's example (anything else is 4.03 with a
 * diagnostic payload).
 */
class GatewayStandIn {
  readonly server: DtlsServer;
  readonly port: number;
  /** Telemetry sequence numbers per CN, in arrival order. */
  readonly telemetry = new Map<string, number[]>();
  readonly contentFormats = new Set<number>();
  readonly handshakeFailures: DtlsHandshakeFailedEvent[] = [];
  readonly forbidden: string[] = [];
  /** Device types (from the certificates, as the gateway reads them) of the sensors that made requests. */
  readonly deviceTypes = new Set<string>();
  serviceUnavailableSent = 0;
  readonly #coap: ReturnType<typeof coap.createServer>;
  readonly #socket: CoapDtlsSocket;
  readonly #observers = new Map<string, ObserveWriteStream>();
  readonly #anchors: AnchorIndex;
  readonly #validator = new PathValidator({
    policy: { allowedCurves: ['P-256', 'P-384'], allowEd25519: false, minRsaBits: 2048 },
    maxChainDepth: 2,
    deviceTypeOid: DEVICE_TYPE_OID,
  });
  #revoked = new Set<string>();
  #unavailable = { remaining: 0, maxAgeSeconds: 0 };

  private constructor(server: DtlsServer, port: number, socket: CoapDtlsSocket, sensorCa: SensorCa) {
    this.server = server;
    this.port = port;
    this.#socket = socket;
    this.#anchors = new AnchorIndex([sensorCa.certificateDer]);
    this.#coap = coap.createServer((request, response) => this.#handle(request, response));
    server.on('handshakeFailed', (failure) => this.handshakeFailures.push(failure));
  }

  static async start(pki: DtlsPki, sensorCa: SensorCa): Promise<GatewayStandIn> {
    let standIn: GatewayStandIn | undefined;
    const server = new DtlsServer({
      certificateChain: [pki.der('server')],
      privateKey: pki.key('server'),
      ca: [],
      chainVerification: 'application',
      verifyPeer: (chain) => standIn?.verify(chain) ?? { ok: false, reason: 'starting' },
      // Every sensor of the fleet comes from 127.0.0.1.
      handshakeRate: { perAddress: { ratePerSecond: 100_000, burst: 100_000 } },
      halfOpen: { perAddress: 100_000 },
    });
    const { port } = await server.listen({ port: 0, host: '127.0.0.1' });
    const socket = new CoapDtlsSocket(server);
    const created = new GatewayStandIn(server, port, socket, sensorCa);
    standIn = created;
    await new Promise<void>((resolve, reject) =>
      created.#coap.listen(socket as never, (error?: Error) => (error ? reject(error) : resolve())),
    );
    return created;
  }

  /** Refuses the serials of `crl` from now on, as the gateway does once a CRL is imported. */
  loadCrl(crlDer: Uint8Array, caDer: Uint8Array): void {
    const crl = Crl.parse(crlDer, 'sensor CA');
    if (!crl.isSignedBy(caDer)) throw new Error('the CRL is not signed by the sensor CA');
    this.#revoked = new Set([...crl.entries()].map((entry) => Buffer.from(entry.serial).toString('hex')));
  }

  verify(chain: Uint8Array[]): PeerVerdict {
    const verdict = this.#validator.validate(chain, this.#anchors, new Date(), (certificate) => {
      const serial = Buffer.from(certificate.serial).toString('hex');
      return this.#revoked.has(serial)
        ? { reason: 'revoked', detail: `serial ${serial}`, depth: 0 }
        : undefined;
    });
    if (verdict.ok) return { ok: true, attributes: verdict.identity };
    const { reason, detail } = verdict.refusal;
    return {
      ok: false,
      reason: `${reason}: ${detail}`,
      verifyError: VERIFY_ERRORS[reason] ?? X509_V_ERR.APPLICATION_VERIFICATION,
    };
  }

  /** The next `count` telemetry requests get 5.03 with Max-Age `maxAgeSeconds` (an outbox that is full). */
  refuseAsFull(count: number, maxAgeSeconds: number): void {
    this.#unavailable = { remaining: count, maxAgeSeconds };
  }

  /** Sends a JSON command to `commonName`'s /commands observation; false when it observes nothing. */
  sendCommand(commonName: string, command: object): boolean {
    const observer = this.#observers.get(commonName);
    if (!observer) return false;
    observer.setOption('Content-Format', 'application/json');
    observer.write(Buffer.from(JSON.stringify(command)));
    return true;
  }

  observing(commonName: string): boolean {
    return this.#observers.has(commonName);
  }

  /** Ends a sensor's DTLS session with close_notify (as the gateway does when it reverifies). */
  endSessionOf(commonName: string): boolean {
    const peer = this.server
      .peers()
      .find((candidate) => (candidate.identity.attributes as SensorIdentity).commonName === commonName);
    return peer ? this.server.endSession(peer.address, peer.port) : false;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#coap.close(() => resolve()));
    this.#socket.close();
    await this.server.close();
  }

  #handle(request: coap.IncomingMessage, response: coap.OutgoingMessage): void {
    const identity = (request.rsinfo as unknown as { identity?: { attributes: SensorIdentity } }).identity;
    const commonName = identity?.attributes.commonName ?? '';
    this.deviceTypes.add(identity?.attributes.deviceType ?? '');
    const path = request.url.split('?')[0] ?? '';
    const allowed =
      ['/telemetry', '/commands', '/time', '/.well-known/core'].includes(path) &&
      ['GET', 'POST'].includes(request.method);
    if (!allowed) {
      this.forbidden.push(`${request.method} ${path} ${commonName}`);
      response.code = '4.03';
      response.end(`no rule allows ${request.method} ${path} for CN=${commonName}`);
      return;
    }
    if (path === '/telemetry' && request.method === 'POST') {
      if (this.#unavailable.remaining > 0) {
        this.#unavailable.remaining--;
        this.serviceUnavailableSent++;
        response.code = '5.03';
        response.setOption('Max-Age', this.#unavailable.maxAgeSeconds);
        response.end('outbox full');
        return;
      }
      const format = FORMAT_NUMBERS[String(request.headers['Content-Format'])] ?? -1;
      try {
        const reading = decodeTelemetry(request.payload, format);
        if (reading.sensor !== commonName) throw new Error(`${commonName} sent as ${reading.sensor}`);
        this.contentFormats.add(format);
        const seqs = this.telemetry.get(commonName) ?? [];
        seqs.push(reading.seq);
        this.telemetry.set(commonName, seqs);
        response.code = '2.04';
        response.end();
      } catch (error) {
        response.code = '4.00';
        response.end(String(error));
      }
      return;
    }
    if (path === '/commands' && request.headers.Observe === 0) {
      this.#observers.set(commonName, response as ObserveWriteStream);
      response.on('finish', () => {
        if (this.#observers.get(commonName) === response) this.#observers.delete(commonName);
      });
      // The registration's answer carries no command.
      (response as ObserveWriteStream).write(Buffer.alloc(0));
      return;
    }
    if (path === '/time') {
      response.setOption('Content-Format', 'application/json');
      // As the gateway's TimeResource answers.
      response.end(JSON.stringify({ unix_ms: Date.now(), iso: new Date().toISOString() }));
      return;
    }
    if (path === '/.well-known/core') {
      response.setOption('Content-Format', 'application/link-format');
      response.end('</telemetry>;ct="50 60",</commands>;obs,</time>;ct=50');
      return;
    }
    response.code = '4.05';
    response.end();
  }
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** The counters of `summary` add up, per sensor and for the fleet. */
function expectCountsAddUp(summary: FleetSummary): void {
  for (const result of summary.perSensor) {
    const m = result.messages;
    expect(m.generated, result.name).toBe(m.sent + m.unsent + m.dropped);
    expect(m.sent, result.name).toBe(m.acknowledged + m.rejected + m.lost + m.unanswered);
    expect(result.latencyMs.count, result.name).toBe(m.acknowledged);
  }
  for (const key of Object.keys(summary.messages) as (keyof FleetSummary['messages'])[]) {
    const total = summary.perSensor.reduce((sum, result) => sum + result.messages[key], 0);
    expect(summary.messages[key], key).toBe(total);
  }
  expect(summary.latencyMs.count).toBe(summary.messages.acknowledged);
  expect(summary.sensors.total).toBe(summary.perSensor.length);
  expect(summary.sensors.refused).toBe(summary.perSensor.filter((r) => r.state === 'refused').length);
  const commands = summary.perSensor.reduce((sum, result) => sum + result.commands.length, 0);
  expect(summary.commandsReceived).toBe(commands);
}

let pki: DtlsPki;
let sensorCa: SensorCa;
let standIn: GatewayStandIn;
let fleet: SensorFleet | undefined;
const scratch: string[] = [];

function newFleet(options: Partial<SensorFleetOptions>): SensorFleet {
  fleet = SensorFleet.create({
    ca: sensorCa,
    gateway: { host: '127.0.0.1', port: standIn.port },
    gatewayCa: [pki.der('ca')],
    sensors: 4,
    rate: 500,
    connectRate: 1000,
    ...options,
  });
  return fleet;
}

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'egw-sensor-fleet-'));
  scratch.push(dir);
  return dir;
}

beforeAll(async () => {
  pki = makeDtlsPki();
  sensorCa = SensorCa.create();
  standIn = await GatewayStandIn.start(pki, sensorCa);
});

afterEach(async () => {
  await fleet?.stop();
  fleet = undefined;
});

afterAll(async () => {
  await standIn?.close();
  pki?.remove();
  for (const dir of scratch) rmSync(dir, { recursive: true, force: true });
});

describe('SensorCa', () => {
  it('issues sensor certificates that openssl verifies for sslclient, with CN, serialNumber, EKU and device type', () => {
    const dir = tempDir();
    const sensor = sensorCa.issue({ commonName: 'sensor-cert-check', deviceType: 'hygrometer' });
    writeFileSync(join(dir, 'ca.pem'), sensorCa.certificatePem);
    writeFileSync(join(dir, 'sensor.der'), sensor.certificateDer);
    spawnSync('openssl', [
      'x509',
      '-inform',
      'DER',
      '-in',
      join(dir, 'sensor.der'),
      '-out',
      join(dir, 'sensor.pem'),
    ]);
    const verify = spawnSync(
      'openssl',
      [
        'verify',
        '-x509_strict',
        '-purpose',
        'sslclient',
        '-CAfile',
        join(dir, 'ca.pem'),
        join(dir, 'sensor.pem'),
      ],
      { encoding: 'utf8' },
    );
    expect(verify.stdout + verify.stderr).toMatch(/: OK\s*$/);
    const text = spawnSync('openssl', ['x509', '-in', join(dir, 'sensor.pem'), '-noout', '-text'], {
      encoding: 'utf8',
    }).stdout;
    expect(text).toMatch(/Subject: CN ?= ?sensor-cert-check, serialNumber ?= ?SIM-sensor-cert-check/);
    expect(text).toContain('TLS Web Client Authentication');
    expect(text).toContain(DEVICE_TYPE_OID);
    expect(text).toMatch(/ASN1 OID: prime256v1/);
    // The gateway's strict certificate reader takes it, with the serial the credentials report.
    const facts = CertificateFacts.parse(sensor.certificateDer);
    expect(Buffer.from(facts.serial).toString('hex')).toBe(sensor.certificateSerial);
  });

  it('writes a CRL distribution point when asked, and none by default', () => {
    const withCdp = SensorCa.create({ crlDistributionPoint: 'http://crl.example.test/sensors.crl' });
    const dir = tempDir();
    const dump = (der: Uint8Array) => {
      writeFileSync(join(dir, 'c.der'), der);
      return spawnSync('openssl', ['x509', '-inform', 'DER', '-in', join(dir, 'c.der'), '-noout', '-text'], {
        encoding: 'utf8',
      }).stdout;
    };
    expect(dump(withCdp.issue({ commonName: 'a' }).certificateDer)).toContain(
      'URI:http://crl.example.test/sensors.crl',
    );
    expect(dump(sensorCa.issue({ commonName: 'b' }).certificateDer)).not.toContain('CRL Distribution');
  });

  it('signs a CRL that openssl and the gateway CRL reader accept, listing the revoked sensor', () => {
    const ca = SensorCa.create();
    const revoked = ca.revokedSensor('bad-revoked-x');
    const good = ca.issue({ commonName: 'good-x' });
    const crl = ca.crl();
    const parsed = Crl.parse(crl, 'test');
    expect(parsed.isSignedBy(ca.certificateDer)).toBe(true);
    expect([...parsed.entries()].map((entry) => Buffer.from(entry.serial).toString('hex'))).toEqual([
      revoked.certificateSerial,
    ]);
    const dir = tempDir();
    writeFileSync(join(dir, 'ca.pem'), ca.certificatePem);
    writeFileSync(join(dir, 'crl.der'), crl);
    spawnSync('openssl', [
      'crl',
      '-inform',
      'DER',
      '-in',
      join(dir, 'crl.der'),
      '-out',
      join(dir, 'crl.pem'),
    ]);
    const verdict = (credentials: { certificateDer: Uint8Array }) => {
      writeFileSync(join(dir, 'leaf.der'), credentials.certificateDer);
      spawnSync('openssl', [
        'x509',
        '-inform',
        'DER',
        '-in',
        join(dir, 'leaf.der'),
        '-out',
        join(dir, 'leaf.pem'),
      ]);
      const result = spawnSync(
        'openssl',
        [
          'verify',
          '-crl_check',
          '-CRLfile',
          join(dir, 'crl.pem'),
          '-CAfile',
          join(dir, 'ca.pem'),
          join(dir, 'leaf.pem'),
        ],
        { encoding: 'utf8' },
      );
      return result.stdout + result.stderr;
    };
    expect(verdict(revoked)).toContain('certificate revoked');
    expect(verdict(good)).toMatch(/: OK\s*$/);
  });

  it('keeps its root and its revoked sensors in a directory, and loads them again', () => {
    const dir = tempDir();
    const first = SensorCa.open(dir);
    const revoked = first.revokedSensor('bad-revoked-1');
    expect(existsSync(join(dir, SENSOR_CA_FILES.crlPem))).toBe(true);
    const again = SensorCa.open(dir);
    expect(Buffer.from(again.certificateDer)).toEqual(Buffer.from(first.certificateDer));
    const reloaded = again.revokedSensor('bad-revoked-1');
    expect(reloaded.certificateSerial).toBe(revoked.certificateSerial);
    expect(Buffer.from(reloaded.privateKeyPkcs8)).toEqual(Buffer.from(revoked.privateKeyPkcs8));
    expect(reloaded.notAfter.getTime()).toBe(Math.floor(revoked.notAfter.getTime() / 1000) * 1000);
    expect(again.revokedSerials).toEqual([revoked.certificateSerial]);
    // The CRL on disk (what a gateway imports) lists it.
    const onDisk = Crl.parse(readFileSync(join(dir, SENSOR_CA_FILES.crlDer)), 'disk');
    expect([...onDisk.entries()].map((entry) => Buffer.from(entry.serial).toString('hex'))).toEqual([
      revoked.certificateSerial,
    ]);
  });

  it('refuses a directory with a certificate but no key', () => {
    const dir = tempDir();
    SensorCa.open(dir);
    rmSync(join(dir, SENSOR_CA_FILES.key));
    expect(() => SensorCa.open(dir)).toThrow(/incomplete/);
  });
});

describe('telemetry encodings and CLI arguments', () => {
  it('CBOR round-trips a reading and reads other encoders’ half floats and tags', () => {
    const reading = { sensor: 's', seq: 70000, ts: 1_700_000_000_123, temperature: 21.53, humidity: -4.5 };
    expect(decodeCbor(encodeCbor(reading))).toEqual(reading);
    expect(decodeTelemetry(encodeCbor(reading), 60)).toEqual(reading);
    // 0xf93e00 is 1.5 as a half float; 0xc11a… is tag 1 (epoch time) around an integer.
    expect(decodeCbor(Uint8Array.from([0xf9, 0x3e, 0x00]))).toBe(1.5);
    expect(decodeCbor(Uint8Array.from([0xc1, 0x1a, 0x65, 0x53, 0xf1, 0x00]))).toBe(1_700_000_000);
    expect(() => decodeTelemetry(Buffer.from('{"seq":1}'), 50)).toThrow(/sensor, seq and ts/);
  });

  it('parses bad-actor lists', () => {
    expect(parseBadActorCounts('unknownCa=2,expired=1,revoked:1,unauthorized')).toEqual({
      unknownCa: 2,
      expired: 1,
      revoked: 1,
      unauthorized: 1,
    });
    expect(parseBadActorCounts('unknown-ca=3')).toEqual({ unknownCa: 3 });
    expect(() => parseBadActorCounts('sneaky=1')).toThrow(/unknownCa, expired, revoked, unauthorized/);
  });
});

describe('a sensor fleet against the gateway stand-in', () => {
  it('20 sensors: telemetry arrives complete and in order per sensor, JSON and CBOR; the summary adds up', async () => {
    const sensors = newFleet({ sensors: 20, rate: 800, format: 'mixed', namePrefix: 'order-' });
    await sensors.connect();
    expect(sensors.sensors.every((sensor) => sensor.state === 'connected')).toBe(true);
    await sensors.run({ messages: 400 });
    await sensors.stop();
    const summary = sensors.summary();

    expect(summary.messages).toMatchObject({ generated: 400, sent: 400, acknowledged: 400, lost: 0 });
    for (const sensor of sensors.sensors) {
      const result = sensor.result();
      expect(result.messages.generated, sensor.name).toBe(20);
      expect(standIn.telemetry.get(sensor.name), sensor.name).toEqual(range(1, 20));
      expect(result.discoveredResources).toEqual(['/telemetry', '/commands', '/time']);
      expect(result.clockOffsetMs).toBeTypeOf('number');
    }
    expect([...standIn.contentFormats].sort()).toEqual([50, 60]);
    expect(standIn.deviceTypes).toEqual(new Set(['thermometer']));
    expect(summary.sensors).toMatchObject({
      total: 20,
      honest: 20,
      admitted: 20,
      refused: 0,
      unreachable: 0,
    });
    expect(summary.sessions).toMatchObject({ established: 20, resumed: 0, lost: 0 });
    expect(summary.latencyMs.count).toBe(400);
    expect(summary.latencyMs.p50).toBeLessThanOrEqual(summary.latencyMs.p99 as number);
    expect(summary.latencyMs.p99).toBeLessThanOrEqual(summary.latencyMs.max as number);
    expect(summary.rates.targetPerSecond).toBe(800);
    expect(summary.honestRefused).toEqual([]);
    expectCountsAddUp(summary);
    expect(JSON.parse(JSON.stringify(summary))).toEqual(summary);
  });

  it('refuses the bad actors: unknown CA, expired and revoked at the handshake, the unauthorized one with 4.03', async () => {
    const sensors = newFleet({
      sensors: 3,
      namePrefix: 'honest-',
      badActors: { unknownCa: 2, expired: 1, revoked: 1, unauthorized: 1 },
    });
    // The operator imports the sensor CA's CRL (it lists the revoked actor the fleet just made).
    standIn.loadCrl(sensorCa.crl(), sensorCa.certificateDer);
    const failuresBefore = standIn.handshakeFailures.length;
    await sensors.connect();
    await sensors.run({ messages: 30 });
    await sensors.stop();
    const summary = sensors.summary();
    const refusal = (name: string) => sensors.sensor(name)?.result().refusal;

    expect(refusal('bad-unknown-ca-1')).toMatchObject({ stage: 'handshake', reason: 'unknown CA' });
    expect(refusal('bad-unknown-ca-2')).toMatchObject({ stage: 'handshake', reason: 'unknown CA' });
    expect(refusal('bad-expired-1')).toMatchObject({ stage: 'handshake', reason: 'certificate expired' });
    expect(refusal('bad-revoked-1')).toMatchObject({ stage: 'handshake', reason: 'certificate revoked' });
    expect(refusal('bad-unauthorized-1')).toMatchObject({
      stage: 'request',
      code: '4.03',
      request: 'POST /firmware',
      reason: 'no rule allows POST /firmware for CN=bad-unauthorized-1',
    });
    expect(standIn.forbidden).toContain('POST /firmware bad-unauthorized-1');
    // The gateway side logs the validator's reason for each refused handshake.
    const serverSide = standIn.handshakeFailures
      .slice(failuresBefore)
      .map((failure) => /: (revoked|expired|unknown-issuer):/.exec(failure.error.message)?.[1]);
    expect(serverSide.sort()).toEqual(['expired', 'revoked', 'unknown-issuer', 'unknown-issuer']);
    for (const name of standIn.telemetry.keys()) expect(name).not.toMatch(/^bad-/);

    expect(summary.badActors).toEqual({
      requested: { unknownCa: 2, expired: 1, revoked: 1, unauthorized: 1 },
      refused: 5,
      notRefused: [],
    });
    expect(summary.refusalsByReason).toEqual({
      'handshake: unknown CA': 2,
      'handshake: certificate expired': 1,
      'handshake: certificate revoked': 1,
      'request 4.03 POST /firmware': 1,
    });
    expect(summary.sensors).toMatchObject({ total: 8, honest: 3, admitted: 4, refused: 5 });
    // Refused sensors get no share of the rate: the honest ones carry all 30 messages.
    expect(summary.messages).toMatchObject({ generated: 30, acknowledged: 30 });
    for (const name of ['honest-0001', 'honest-0002', 'honest-0003'])
      expect(standIn.telemetry.get(name)).toEqual(range(1, 10));
    expectCountsAddUp(summary);
  });

  it('refuses a gateway whose certificate does not chain to the sensors’ trust anchors', async () => {
    const sensors = newFleet({
      sensors: 1,
      namePrefix: 'wrong-anchor-',
      gatewayCa: [sensorCa.certificateDer],
    });
    await sensors.connect();
    const result = sensors.sensors[0]?.result();
    expect(result?.state).toBe('refused');
    expect(result?.refusal).toMatchObject({ stage: 'handshake', code: 'EGW_TLS_BAD_CERT' });
    expect(result?.refusal?.reason).toMatch(/^gateway certificate: /);
    expect(sensors.summary().honestRefused).toEqual(['wrong-anchor-0001']);
  });

  it('gives up as unreachable when nothing answers, saying why', async () => {
    const silent = await new Promise<Socket>((resolve) => {
      const socket = createSocket('udp4');
      socket.bind(0, '127.0.0.1', () => resolve(socket));
    });
    try {
      const sensors = newFleet({
        sensors: 2,
        namePrefix: 'silent-',
        gateway: { host: '127.0.0.1', port: silent.address().port },
        sensor: { handshakeTimeoutMs: 200, connectAttempts: 2, reconnectDelay: { initialMs: 10, maxMs: 20 } },
      });
      await sensors.connect();
      await sensors.run({ messages: 4 });
      await sensors.stop();
      const summary = sensors.summary();
      expect(summary.sensors).toMatchObject({ total: 2, admitted: 0, unreachable: 2 });
      expect(summary.perSensor[0]?.lastConnectError).toMatch(/timeout|failed/i);
      // Nobody could send: no message was made for them.
      expect(summary.messages.generated).toBe(0);
      expectCountsAddUp(summary);
    } finally {
      silent.close();
    }
  });

  it('waits out 5.03 + Max-Age and sends the same message again: nothing lost, order kept', async () => {
    const sensors = newFleet({ sensors: 4, namePrefix: 'full-' });
    await sensors.connect();
    standIn.refuseAsFull(6, 1);
    const before = standIn.serviceUnavailableSent;
    await sensors.run({ messages: 40 });
    await sensors.stop();
    const summary = sensors.summary();

    expect(standIn.serviceUnavailableSent - before).toBe(6);
    expect(summary.messages).toMatchObject({
      generated: 40,
      acknowledged: 40,
      serviceUnavailable: 6,
      rejected: 0,
      lost: 0,
    });
    for (const sensor of sensors.sensors) expect(standIn.telemetry.get(sensor.name)).toEqual(range(1, 10));
    expectCountsAddUp(summary);
  });

  it('delivers a command by Observe to the sensor it is for, and to no other', async () => {
    const sensors = newFleet({ sensors: 5, namePrefix: 'cmd-' });
    await sensors.connect();
    const command = { id: 'c-1', action: 'set-interval', seconds: 30 };
    expect(standIn.sendCommand('cmd-0003', command)).toBe(true);
    const target = sensors.sensor('cmd-0003');
    await until(() => (target?.commands.length ?? 0) === 1);
    expect(standIn.sendCommand('cmd-0005', { id: 'c-2', action: 'reboot' })).toBe(true);
    await until(() => (sensors.sensor('cmd-0005')?.commands.length ?? 0) === 1);
    await sensors.run({ messages: 10 });
    await sensors.stop();
    const summary = sensors.summary();

    expect(JSON.parse(target?.commands[0]?.payload ?? '')).toEqual(command);
    expect(target?.commands[0]?.contentFormat).toBe('application/json');
    const counts = Object.fromEntries(
      summary.perSensor.map((result) => [result.name, result.commands.length]),
    );
    expect(counts).toEqual({ 'cmd-0001': 0, 'cmd-0002': 0, 'cmd-0003': 1, 'cmd-0004': 0, 'cmd-0005': 1 });
    expect(summary.commandsReceived).toBe(2);
    expectCountsAddUp(summary);
  });

  it('reconnects with a resumed session when the gateway closes it, observes again and keeps the sequence', async () => {
    const sensors = newFleet({
      sensors: 2,
      namePrefix: 'resume-',
      sensor: { reconnectDelay: { initialMs: 20, maxMs: 200 } },
    });
    await sensors.connect();
    await sensors.run({ messages: 6 });
    const sensor = sensors.sensor('resume-0001');
    const portBefore = sensor?.result().localPort;
    expect(standIn.endSessionOf('resume-0001')).toBe(true);
    await until(() => sensor?.result().sessions === 2 && sensor.state === 'connected');
    expect(sensor?.resumed).toBe(true);
    expect(sensor?.result().localPort).toBe(portBefore);
    await until(() => standIn.observing('resume-0001'));
    expect(standIn.sendCommand('resume-0001', { id: 'after-reconnect' })).toBe(true);
    await until(() => (sensor?.commands.length ?? 0) === 1);
    await sensors.run({ messages: 6 });
    await sensors.stop();
    const summary = sensors.summary();

    expect(sensor?.result()).toMatchObject({ sessions: 2, resumedSessions: 1, sessionsLost: 1 });
    expect(standIn.telemetry.get('resume-0001')).toEqual(range(1, 6));
    expect(standIn.telemetry.get('resume-0002')).toEqual(range(1, 6));
    expect(summary.sessions).toEqual({ established: 3, resumed: 1, lost: 1 });
    expectCountsAddUp(summary);
  });

  it('holds a message through its Max-Age (no retry before it), and counts what is queued or waiting at stop', async () => {
    const sensors = newFleet({ sensors: 2, namePrefix: 'stop-', drainTimeoutMs: 0 });
    await sensors.connect();
    // A Max-Age longer than the test: both sensors are left waiting with messages queued behind. A
    // sensor that retried early would find the stand-in accepting again and get acknowledgements.
    standIn.refuseAsFull(2, 600);
    await sensors.run({ messages: 8 });
    await sensors.stop();
    const summary = sensors.summary();

    expect(summary.messages).toMatchObject({
      generated: 8,
      sent: 2,
      acknowledged: 0,
      unanswered: 2,
      unsent: 6,
      serviceUnavailable: 2,
    });
    expectCountsAddUp(summary);
  });
});

describe('the CLI', () => {
  let cliStandIn: GatewayStandIn;
  let caDir: string;

  beforeAll(async () => {
    if (!existsSync(mainJs)) throw new Error(`${mainJs} is missing: run npm run build first`);
    caDir = tempDir();
    // --init makes the CA the stand-in (the gateway) is then configured to trust, and the CRL it imports.
    const init = await run(process.execPath, [
      mainJs,
      '--init',
      '--ca-dir',
      caDir,
      '--bad-actors',
      'revoked=1',
      '--json',
    ]);
    expect(init.code, init.stderr).toBe(0);
    const files = JSON.parse(init.stdout) as { sensorCaFile: string; crlFile: string; revoked: string[] };
    expect(files.revoked).toHaveLength(1);
    const ca = SensorCa.open(caDir);
    cliStandIn = await GatewayStandIn.start(pki, ca);
    cliStandIn.loadCrl(readFileSync(join(caDir, SENSOR_CA_FILES.crlDer)), ca.certificateDer);
  });

  afterAll(async () => {
    await cliStandIn?.close();
  });

  it('runs a fleet with bad actors and prints a JSON summary; --check passes', async () => {
    const result = await run(
      process.execPath,
      [
        mainJs,
        '--gateway',
        `127.0.0.1:${cliStandIn.port}`,
        '--gateway-ca',
        pki.file('ca.pem'),
        '--ca-dir',
        caDir,
        '--sensors',
        '5',
        '--rate',
        '200',
        '--messages',
        '50',
        '--duration',
        '60',
        '--connect-rate',
        '100',
        '--bad-actors',
        'unknownCa=1,revoked=1,unauthorized=1',
        '--format',
        'cbor',
        '--json',
        '--check',
      ],
      { timeoutMs: 60_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain('5 sensors + 3 bad actors');
    const summary = JSON.parse(result.stdout) as FleetSummary;
    expect(summary.messages).toMatchObject({ generated: 50, acknowledged: 50 });
    expect(summary.badActors).toMatchObject({ refused: 3, notRefused: [] });
    expect(summary.format).toBe('cbor');
    expect(cliStandIn.contentFormats).toEqual(new Set([60]));
    expect(summary.refusalsByReason['handshake: certificate revoked']).toBe(1);
    expectCountsAddUp(summary);
  });

  it('prints a text summary, and --check fails when a bad actor gets through', async () => {
    // A stand-in without the CRL: the revoked sensor is admitted, which --check reports.
    const lenient = await GatewayStandIn.start(pki, SensorCa.open(caDir));
    try {
      const result = await run(
        process.execPath,
        [
          mainJs,
          '--gateway',
          `127.0.0.1:${lenient.port}`,
          '--gateway-ca',
          pki.file('ca.pem'),
          '--ca-dir',
          caDir,
          '--sensors',
          '2',
          '--messages',
          '4',
          '--connect-rate',
          '100',
          '--bad-actors',
          'revoked=1',
          '--check',
          '--quiet',
        ],
        { timeoutMs: 60_000 },
      );
      expect(result.code).toBe(1);
      expect(result.stdout).toMatch(/messages +\d+ generated, \d+ sent, \d+ acknowledged/);
      expect(result.stdout).toContain('NOT refused: bad-revoked-1');
      expect(result.stderr).toContain('check failed: bad actors not refused: bad-revoked-1');
    } finally {
      await lenient.close();
    }
  });

  it('says so when it had to make a new CA, whose sensors the gateway then refuses', async () => {
    const freshDir = tempDir();
    const result = await run(
      process.execPath,
      [
        mainJs,
        '--gateway',
        `127.0.0.1:${cliStandIn.port}`,
        '--gateway-ca',
        pki.file('ca.pem'),
        '--ca-dir',
        freshDir,
        '--sensors',
        '1',
        '--messages',
        '1',
        '--connect-rate',
        '100',
        '--quiet',
        '--json',
      ],
      { timeoutMs: 60_000 },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toContain(`made a new sensor CA in ${freshDir}`);
    const summary = JSON.parse(result.stdout) as FleetSummary;
    expect(summary.refusalsByReason).toEqual({ 'handshake: unknown CA': 1 });
    expect(summary.honestRefused).toEqual(['sensor-0001']);
  });

  it('refuses bad arguments with exit status 2', async () => {
    const result = await run(process.execPath, [mainJs, '--ca-dir', caDir, '--bad-actors', 'sneaky=1']);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain('--bad-actors');
  });
});
