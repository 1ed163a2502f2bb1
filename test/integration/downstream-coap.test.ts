import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import {
  type CommandMessage,
  type CommandSource,
  MAX_COMMAND_PAYLOAD_BYTES,
  type OutboxFull,
  SensorEndpoint,
  type TelemetryMessage,
  type TelemetrySink,
} from '../../src/downstream/index.js';
import { Store } from '../../src/store/index.js';
import type { DtlsClient } from '../../src/tls/index.js';
import { Enrollments, sha256Hex } from '../../src/trust/enrollment/index.js';
import { ClockFloor, SensorTrust } from '../../src/trust/index.js';
import {
  connectSensor,
  type DtlsPki,
  makeDtlsPki,
  type ProcessResult,
  run,
  selfSignedSensor,
  until,
} from '../helpers/dtls-pki.js';

/**
 * The sensor endpoint's CoAP routes end to end: our DTLS server with node-coap, a real SensorTrust
 * (over a temporary state database) judging every handshake and authorizing every request, driven by
 * libcoap's coap-client-openssl as an independent sensor stack, and by our DtlsClient sending
 * hand-made CoAP for what libcoap cannot be told to do (duplicates, NON, bad options, RST).
 *
 * The upstream side is played by two test doubles over arrays: ArrayTelemetrySink and
 * ArrayCommandSource (the real ones live in src/upstream).
 */

/** Test double for the upstream TelemetrySink: keeps what it accepts; can hold, refuse or fail. */
class ArrayTelemetrySink implements TelemetrySink {
  readonly accepted: TelemetryMessage[] = [];
  calls = 0;
  mode: 'durable' | 'full' | 'share' | 'fail' = 'durable';
  #held: (() => void)[] | undefined;

  /** Later accepts wait for release(), as a slow disk would make them. */
  hold(): void {
    this.#held = [];
  }

  release(): void {
    const waiting = this.#held ?? [];
    this.#held = undefined;
    for (const resume of waiting) resume();
  }

  async accept(message: TelemetryMessage): Promise<undefined | OutboxFull> {
    this.calls++;
    const held = this.#held;
    if (held) await new Promise<void>((resume) => held.push(resume));
    if (this.mode === 'full') return { full: true, retryAfterSeconds: 7 };
    if (this.mode === 'share') return { full: true, retryAfterSeconds: 3, reason: 'sensor-share' };
    if (this.mode === 'fail') throw new Error('disk on fire');
    this.accepted.push(message);
    return undefined;
  }
}

/** Test double for the upstream CommandSource: pending commands in an array, as the inbox keeps them. */
class ArrayCommandSource implements CommandSource {
  readonly commands: CommandMessage[] = [];
  readonly deliveredIds: string[] = [];
  readonly #subscribers = new Map<string, Set<(command: CommandMessage) => void>>();

  add(command: CommandMessage): void {
    this.commands.push(command);
    for (const deliver of this.#subscribers.get(command.sensorId) ?? []) deliver(command);
  }

  subscribers(sensorId: string): number {
    return this.#subscribers.get(sensorId)?.size ?? 0;
  }

  subscribe(sensorId: string, deliver: (command: CommandMessage) => void): () => void {
    const entry = (command: CommandMessage) => deliver(command);
    const set = this.#subscribers.get(sensorId) ?? new Set();
    this.#subscribers.set(sensorId, set);
    set.add(entry);
    for (const command of this.commands) {
      if (command.sensorId === sensorId && !this.deliveredIds.includes(command.id)) entry(command);
    }
    return () => set.delete(entry);
  }

  delivered(_sensorId: string, commandId: string): void {
    this.deliveredIds.push(commandId);
  }
}

/** The gateway's clock as the endpoint is given it (GET /time, receivedAt, command expiry). */
const GATEWAY_TIME = new Date('2031-05-06T07:08:09.123Z');
const MAX_PAYLOAD = 1024;

const AUTHORIZATION = `
[[trust.authorization]]
name = "sensors"
cn_pattern = "^sensor$"
resources = ["/telemetry", "/commands", "/time", "/.well-known/core", "/sensors/*"]
methods = ["GET", "POST"]

[[trust.authorization]]
name = "clock-only"
cn_pattern = "^sensor2$"
resources = ["/time", "/.well-known/core"]
methods = ["GET"]
`;

let pki: DtlsPki;
let dir: string;
let store: Store;
let endpoint: SensorEndpoint;
let trust: SensorTrust;
let port: number;
const sink = new ArrayTelemetrySink();
const source = new ArrayCommandSource();
const warnings: string[] = [];
const debugged: { fields: Record<string, unknown>; message: string }[] = [];
const clients: DtlsClient[] = [];
const log = {
  info() {},
  debug(fields: Record<string, unknown>, message: string) {
    debugged.push({ fields, message });
  },
  warn(_fields: object, message: string) {
    warnings.push(message);
  },
};
const observationsEnded = () =>
  debugged
    .filter((entry) => entry.message === 'command observation ended')
    .map((entry) => entry.fields.reason);

function config(extra = '') {
  return parseConfigText(
    '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\nserver_key = "file"\n' +
      `key_file = "${pki.file('server.key')}"\ncertificate_file = "${pki.file('server.pem')}"\n${extra}` +
      `[downstream.coap]\nmax_payload_bytes = ${MAX_PAYLOAD}\n${AUTHORIZATION}`,
    'downstream-coap.toml',
  );
}

beforeAll(async () => {
  pki = makeDtlsPki();
  dir = mkdtempSync(join(tmpdir(), 'egw-downstream-coap-'));
  store = Store.open(join(dir, 'state.db'));
  const settings = config();
  trust = new SensorTrust({
    store,
    settings: settings.trust,
    clock: new ClockFloor(store),
    log,
    fileAnchors: [pki.der('ca')],
  });
  endpoint = await SensorEndpoint.start(settings.downstream.dtls, undefined, log, {
    trust,
    telemetry: sink,
    commands: source,
    limits: settings.downstream.coap,
    now: () => GATEWAY_TIME,
  });
  port = Number(endpoint.status().listening.split(':').at(-1));
});

afterEach(() => {
  for (const client of clients.splice(0)) client.destroy();
  sink.mode = 'durable';
  sink.release();
});

afterAll(async () => {
  await endpoint?.close();
  store?.close();
  pki?.remove();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const coapStatus = () => {
  const status = endpoint.status().coap;
  if (!status) throw new Error('the CoAP routes are not installed');
  return status;
};

function coapClient(uri: string, extra: string[], sensor = 'sensor'): Promise<ProcessResult> {
  return run(
    'coap-client-openssl',
    [
      '-v',
      '6',
      '-B',
      '20',
      ...extra,
      '-c',
      pki.file(`${sensor}.pem`),
      '-j',
      pki.file(`${sensor}.key`),
      '-R',
      pki.file('ca.pem'),
      `coaps://127.0.0.1:${port}${uri}`,
    ],
    { timeoutMs: 40_000 },
  );
}

function command(id: string, payload: string, overrides: Partial<CommandMessage> = {}): CommandMessage {
  return {
    id,
    sensorId: 'sensor',
    contentFormat: 50,
    payload: Buffer.from(payload),
    receivedAt: GATEWAY_TIME,
    expiresAt: new Date(GATEWAY_TIME.getTime() + 3_600_000),
    ...overrides,
  };
}

describe('CoAP routes with libcoap coap-client-openssl', () => {
  it('POST /telemetry with JSON (-t 50 and -t json): 2.04 once the sink holds it', async () => {
    const before = sink.accepted.length;
    const numeric = await coapClient('/telemetry', ['-m', 'post', '-t', '50', '-e', '{"t":21.5}']);
    expect(numeric.stdout).toMatch(/t:ACK c:2\.04/);
    const named = await coapClient('/telemetry', ['-m', 'post', '-t', 'json', '-e', '{"rh":40}']);
    expect(named.stdout).toMatch(/t:ACK c:2\.04/);
    const received = sink.accepted.slice(before);
    expect(received.map((message) => Buffer.from(message.payload).toString())).toEqual([
      '{"t":21.5}',
      '{"rh":40}',
    ]);
    expect(received[0]).toMatchObject({
      sensorId: 'sensor',
      contentFormat: 50,
      receivedAt: GATEWAY_TIME,
      sensor: { commonName: 'sensor', subject: 'CN=sensor' },
    });
  });

  it('POST /telemetry with CBOR (-t cbor): well-formed is stored, ill-formed is 4.00 with the reason', async () => {
    const good = join(dir, 'reading.cbor');
    writeFileSync(good, Buffer.from('a26174f94d6062726818 28'.replace(/\s/g, ''), 'hex')); // {"t": 21.5, "rh": 40}
    const before = sink.accepted.length;
    const stored = await coapClient('/telemetry', ['-m', 'post', '-t', 'cbor', '-f', good]);
    expect(stored.stdout).toMatch(/c:2\.04/);
    expect(sink.accepted.slice(before)).toHaveLength(1);
    expect(sink.accepted.at(-1)?.contentFormat).toBe(60);
    expect(Buffer.from(sink.accepted.at(-1)?.payload ?? []).toString('hex')).toBe(
      'a26174f94d6062726818' + '28',
    );

    const bad = join(dir, 'truncated.cbor');
    writeFileSync(bad, Buffer.from('a2617401', 'hex'));
    const refused = await coapClient('/telemetry', ['-m', 'post', '-t', '60', '-f', bad]);
    expect(refused.stdout).toMatch(/c:4\.00 .*'the body is not CBOR: truncated/);
    expect(sink.accepted.slice(before)).toHaveLength(1);
  });

  it('reassembles a block-wise body (-b 64) whatever token libcoap puts on each block', async () => {
    const body = JSON.stringify({ samples: Array.from({ length: 120 }, (_, i) => i) });
    expect(body.length).toBeGreaterThan(64 * 5);
    expect(body.length).toBeLessThanOrEqual(MAX_PAYLOAD);
    const file = join(dir, 'large.json');
    writeFileSync(file, body);
    const before = sink.accepted.length;
    const result = await coapClient('/telemetry', ['-m', 'post', '-t', 'json', '-b', '64', '-f', file]);
    // libcoap (-v 6) shows the first block and the answer to the last one, which echoes its number.
    expect(result.stdout).toMatch(/t:CON c:POST .*Block1:0\/M\/64, Size1:\d+, Request-Tag:0x/);
    expect(result.stdout).toContain(`c:2.04 i:`);
    expect(result.stdout).toContain(`[ Block1:${Math.ceil(body.length / 64) - 1}/_/64 ]`);
    const received = sink.accepted.slice(before);
    expect(received).toHaveLength(1);
    expect(Buffer.from(received[0]?.payload ?? []).toString()).toBe(body);
    expect(coapStatus().blockwiseInProgress).toBe(0);
  });

  it('answers 4.13 with Size1 to a block-wise body over max_payload_bytes, at its first block', async () => {
    const file = join(dir, 'too-large.json');
    writeFileSync(file, JSON.stringify({ blob: 'x'.repeat(MAX_PAYLOAD) }));
    const before = { calls: sink.calls, refused: coapStatus().refused['4.13'] ?? 0 };
    const result = await coapClient('/telemetry', ['-m', 'post', '-t', 'json', '-b', '64', '-f', file]);
    expect(result.stdout).toMatch(new RegExp(`c:4\\.13 .*Size1:${MAX_PAYLOAD}`));
    expect(result.stdout).not.toMatch(/c:2\.31/);
    expect(sink.calls).toBe(before.calls);
    expect(coapStatus().refused['4.13']).toBe(before.refused + 1);
  });

  it('GET /.well-known/core lists the resources the sensor may use, in link format', async () => {
    const all = await coapClient('/.well-known/core', ['-m', 'get']);
    expect(all.stdout).toContain(
      '</telemetry>;rt="gateway.telemetry";ct="50 60",' +
        '</commands>;rt="gateway.commands";ct="0 42 50 60";obs,' +
        '</time>;rt="gateway.time";ct="50 60"',
    );
    expect(all.stdout).toMatch(/Content-Format:application\/link-format/);
    const clockOnly = await coapClient('/.well-known/core', ['-m', 'get'], 'sensor2');
    expect(clockOnly.stdout).toMatch(/:: '<\/time>;rt="gateway.time";ct="50 60"'/);
    const filtered = await coapClient('/.well-known/core?rt=gateway.commands', ['-m', 'get']);
    expect(filtered.stdout).toMatch(/:: '<\/commands>;rt="gateway.commands";ct="0 42 50 60";obs'/);
  });

  it('GET /time answers the gateway clock as JSON by default and as CBOR for Accept: cbor', async () => {
    const json = await coapClient('/time', ['-m', 'get']);
    expect(json.stdout).toContain(
      `'{"unix_ms":${GATEWAY_TIME.getTime()},"iso":"${GATEWAY_TIME.toISOString()}"}'`,
    );
    expect(json.stdout).toMatch(/Content-Format:application\/json, Max-Age:0/);
    const output = join(dir, 'time.cbor');
    const cbor = await coapClient('/time', ['-m', 'get', '-A', 'cbor', '-o', output]);
    expect(cbor.stdout).toMatch(/Content-Format:application\/cbor/);
    const iso = Buffer.from(GATEWAY_TIME.toISOString());
    const unixMs = Buffer.alloc(8);
    unixMs.writeBigUInt64BE(BigInt(GATEWAY_TIME.getTime()));
    expect(readFileSync(output).toString('hex')).toBe(
      Buffer.concat([
        Buffer.from('a2', 'hex'),
        Buffer.from('67756e69785f6d731b', 'hex'), // "unix_ms", then an 8-byte unsigned integer
        unixMs,
        Buffer.from('6369736f', 'hex'), // "iso"
        Buffer.from([0x78, iso.length]),
        iso,
      ]).toString('hex'),
    );
  });

  it('refuses what the authorization rules do not allow: 4.03 with the reason as text/plain', async () => {
    const before = { calls: sink.calls, refused: coapStatus().refused['4.03'] ?? 0 };
    const result = await coapClient('/telemetry', ['-m', 'post', '-t', 'json', '-e', '{}'], 'sensor2');
    expect(result.stdout).toMatch(
      /c:4\.03 .*Content-Format:text\/plain.*'no rule allows POST \/telemetry for CN=sensor2 \(no device type\)'/,
    );
    expect(sink.calls).toBe(before.calls);
    expect(coapStatus().refused['4.03']).toBe(before.refused + 1);
  });

  it('observes /commands (-s 5): pending commands, then new ones, each delivered on its ACK', async () => {
    source.add(
      command('cmd-expired', '{"expired":true}', { expiresAt: new Date(GATEWAY_TIME.getTime() - 1) }),
    );
    source.add(command('cmd-1', '{"set":"interval","s":60}'));
    source.add(command('cmd-2', 'reboot', { contentFormat: 0 }));
    source.add(command('cmd-other', '{"not":"yours"}', { sensorId: 'sensor2' }));
    const before = coapStatus();
    const observing = coapClient('/commands', ['-m', 'get', '-s', '5']);
    await until(() => source.deliveredIds.includes('cmd-2'));
    expect(coapStatus().observers).toBe(1);
    source.add(command('cmd-3', '{"led":"on"}'));
    await until(() => source.deliveredIds.includes('cmd-3'));
    const result = await observing;
    expect(source.deliveredIds).toEqual(['cmd-1', 'cmd-2', 'cmd-3']);
    expect(result.stdout).toMatch(/t:ACK c:2\.05 .*\[ Observe:\d+ \]/);
    expect(result.stdout).toMatch(
      /t:CON c:2\.05 .*\[ ETag:0x[0-9a-f]{16}, Observe:\d+, Content-Format:application\/json \] :: '\{"set":"interval","s":60\}'/,
    );
    expect(result.stdout).toMatch(/t:CON c:2\.05 .*Content-Format:text\/plain.*'reboot'/);
    expect(result.stdout).toContain('{"led":"on"}');
    expect(result.stdout).not.toContain('expired');
    expect(result.stdout).not.toContain('yours');
    // libcoap deregisters at the end (GET with Observe: 1): the subscription is gone.
    await until(() => source.subscribers('sensor') === 0);
    expect(observationsEnded()).toEqual(['deregistered (Observe: 1)']);
    const after = coapStatus();
    expect(after.observers).toBe(0);
    expect(after.commandsSent - before.commandsSent).toBe(3);
    expect(after.commandsDelivered - before.commandsDelivered).toBe(3);
  });
});

/** A CoAP message as the tests write and read it (RFC 7252 §3). */
interface CoapMessage {
  type: 'CON' | 'NON' | 'ACK' | 'RST';
  code: string;
  messageId: number;
  token: Buffer;
  options: [number, Buffer][];
  payload: Buffer;
}

const TYPES = ['CON', 'NON', 'ACK', 'RST'] as const;
const OPTION = {
  observe: 6,
  uriPath: 11,
  contentFormat: 12,
  maxAge: 14,
  uriQuery: 15,
  accept: 17,
  block1: 27,
  block2: 23,
  size1: 60,
  size2: 28,
  etag: 4,
} as const;

const uint = (value: number) => {
  const bytes: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) bytes.unshift(rest % 256);
  return Buffer.from(bytes);
};

function encode(message: Partial<CoapMessage> & { code: string; messageId: number }): Buffer {
  const [cls, detail] = message.code.split('.').map(Number) as [number, number];
  const token = message.token ?? Buffer.alloc(0);
  const type = TYPES.indexOf(message.type ?? 'CON');
  const parts = [
    Buffer.from([
      0x40 | (type << 4) | token.length,
      (cls << 5) | detail,
      message.messageId >> 8,
      message.messageId & 0xff,
    ]),
    token,
  ];
  let previous = 0;
  const nibble = (value: number) =>
    (value < 13
      ? [value, []]
      : value < 269
        ? [13, [value - 13]]
        : [14, [(value - 269) >> 8, (value - 269) & 0xff]]) as [number, number[]];
  for (const [number, value] of [...(message.options ?? [])].sort((a, b) => a[0] - b[0])) {
    const [delta, deltaExtra] = nibble(number - previous);
    const [length, lengthExtra] = nibble(value.length);
    parts.push(Buffer.from([(delta << 4) | length, ...deltaExtra, ...lengthExtra]), value);
    previous = number;
  }
  if (message.payload?.length) parts.push(Buffer.from([0xff]), message.payload);
  return Buffer.concat(parts);
}

function decode(datagram: Buffer): CoapMessage {
  const tokenLength = (datagram[0] as number) & 0x0f;
  const code = datagram[1] as number;
  const message: CoapMessage = {
    type: TYPES[((datagram[0] as number) >> 4) & 0x03] as CoapMessage['type'],
    code: `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`,
    messageId: datagram.readUInt16BE(2),
    token: datagram.subarray(4, 4 + tokenLength),
    options: [],
    payload: Buffer.alloc(0),
  };
  let at = 4 + tokenLength;
  let number = 0;
  const extended = (nibble: number) => {
    if (nibble === 13) return 13 + (datagram[at++] as number);
    if (nibble === 14) {
      const value = 269 + datagram.readUInt16BE(at);
      at += 2;
      return value;
    }
    return nibble;
  };
  while (at < datagram.length) {
    const head = datagram[at++] as number;
    if (head === 0xff) {
      message.payload = datagram.subarray(at);
      break;
    }
    number += extended(head >> 4);
    const length = extended(head & 0x0f);
    message.options.push([number, datagram.subarray(at, at + length)]);
    at += length;
  }
  return message;
}

const option = (message: CoapMessage, number: number) => message.options.find(([n]) => n === number)?.[1];
const optionUint = (message: CoapMessage, number: number) => {
  const value = option(message, number);
  return value === undefined ? undefined : value.reduce((sum, byte) => sum * 256 + byte, 0);
};

/** A sensor speaking hand-made CoAP over our DtlsClient: every datagram it receives is kept in order. */
class RawSensor {
  readonly received: CoapMessage[] = [];
  readonly #client: DtlsClient;
  #nextId = 0x1000;
  #read = 0;

  private constructor(client: DtlsClient) {
    this.#client = client;
    client.on('message', (datagram) => this.received.push(decode(datagram)));
  }

  static async connect(sensor = 'sensor', localPort?: number): Promise<RawSensor> {
    const client = await connectSensor(pki, port, sensor, localPort ? { localPort } : {});
    clients.push(client);
    return new RawSensor(client);
  }

  get client(): DtlsClient {
    return this.#client;
  }

  messageId(): number {
    return this.#nextId++;
  }

  send(message: Partial<CoapMessage> & { code: string; messageId: number }): void {
    this.#client.send(encode(message));
  }

  /** The next received message (in arrival order) that `match` accepts; earlier ones are skipped. */
  async next(match: (message: CoapMessage) => boolean = () => true): Promise<CoapMessage> {
    for (;;) {
      await until(() => this.received.length > this.#read);
      const message = this.received[this.#read++] as CoapMessage;
      if (match(message)) return message;
    }
  }

  /** Sends a request and resolves with its response (piggybacked, or separate after an empty ACK). */
  async request(message: Partial<CoapMessage> & { code: string }): Promise<CoapMessage> {
    const messageId = this.messageId();
    const token = message.token ?? Buffer.from(messageId.toString(16).padStart(4, '0'), 'hex');
    this.send({ ...message, messageId, token });
    const response = await this.next((reply) => reply.token.equals(token) && reply.code !== '0.00');
    if (response.type === 'CON') this.send({ type: 'ACK', code: '0.00', messageId: response.messageId });
    return response;
  }
}

const path = (...segments: string[]): [number, Buffer][] =>
  segments.map((segment) => [OPTION.uriPath, Buffer.from(segment)]);
const json = (value: unknown) => Buffer.from(JSON.stringify(value));
const postTelemetry = (payload: Buffer, format: number | null = 50) => ({
  code: '0.02',
  options: [
    ...path('telemetry'),
    ...(format === null ? [] : ([[OPTION.contentFormat, uint(format)]] as [number, Buffer][])),
  ],
  payload,
});

describe('CoAP routes with hand-made requests (DtlsClient)', () => {
  it('processes a CON retransmitted while the sink is still writing once; the sensor gets 2.04', async () => {
    const sensor = await RawSensor.connect();
    const before = {
      accepted: sink.accepted.length,
      calls: sink.calls,
      duplicates: coapStatus().duplicatesIgnored,
    };
    sink.hold();
    const messageId = sensor.messageId();
    const request = { ...postTelemetry(json({ once: true })), messageId, token: Buffer.from('d1', 'hex') };
    sensor.send(request);
    // The sink is slow: node-coap sends an empty ACK and answers later, separately (CON).
    const ack = await sensor.next();
    expect(ack).toMatchObject({ type: 'ACK', code: '0.00', messageId });
    sensor.send(request); // a retransmission, as if that ACK were lost
    await until(() => coapStatus().duplicatesIgnored === before.duplicates + 1);
    sink.release();
    const response = await sensor.next((message) => message.code === '2.04');
    expect(response.type).toBe('CON');
    expect(response.token.toString('hex')).toBe('d1');
    sensor.send({ type: 'ACK', code: '0.00', messageId: response.messageId });
    expect(sink.calls - before.calls).toBe(1);
    expect(sink.accepted.length - before.accepted).toBe(1);
  });

  it('answers telemetry retransmitted over a new DTLS session 2.04 again without storing it twice', async () => {
    const before = { accepted: sink.accepted.length, again: coapStatus().telemetryAlreadyStored };
    const first = await RawSensor.connect();
    const request = {
      ...postTelemetry(json({ reading: 'across sessions' })),
      messageId: 0x4242,
      token: Buffer.from('e1', 'hex'),
    };
    first.send(request);
    expect(await first.next()).toMatchObject({ type: 'ACK', code: '2.04' });
    // The sensor missed that 2.04, reconnected (a new session, another port) and sends it again.
    first.client.destroy();
    const second = await RawSensor.connect();
    second.send(request);
    expect(await second.next()).toMatchObject({ type: 'ACK', code: '2.04', messageId: 0x4242 });
    expect(sink.accepted.length - before.accepted).toBe(1);
    expect(coapStatus().telemetryAlreadyStored - before.again).toBe(1);
    // After a reboot (another session), the same message id with another body is a new message: a
    // rebooted sensor's message ids may start over.
    second.client.destroy();
    const rebooted = await RawSensor.connect();
    rebooted.send({
      ...request,
      payload: json({ reading: 'new after reboot' }),
      token: Buffer.from('e2', 'hex'),
    });
    expect(await rebooted.next()).toMatchObject({ type: 'ACK', code: '2.04', messageId: 0x4242 });
    expect(sink.accepted.length - before.accepted).toBe(2);
    expect(coapStatus().telemetryAlreadyStored - before.again).toBe(1);
  });

  it('answers a CON retransmitted after its piggybacked 2.04 from the cache, without the sink', async () => {
    const sensor = await RawSensor.connect();
    const before = sink.accepted.length;
    const request = {
      ...postTelemetry(json({ twice: false })),
      messageId: sensor.messageId(),
      token: Buffer.from('d2', 'hex'),
    };
    sensor.send(request);
    const first = await sensor.next();
    sensor.send(request);
    const second = await sensor.next();
    expect(first).toMatchObject({ type: 'ACK', code: '2.04' });
    expect(second).toEqual(first);
    expect(sink.accepted.length - before).toBe(1);
  });

  it('takes NON telemetry (answering NON) and processes a duplicated NON once', async () => {
    const sensor = await RawSensor.connect();
    const before = {
      accepted: sink.accepted.length,
      calls: sink.calls,
      duplicates: coapStatus().duplicatesIgnored,
    };
    const request = {
      ...postTelemetry(json({ non: 1 })),
      type: 'NON' as const,
      messageId: sensor.messageId(),
      token: Buffer.from('e1', 'hex'),
    };
    sink.hold();
    sensor.send(request);
    await until(() => sink.calls === before.calls + 1);
    // A duplicate while the first is with the sink: node-coap has no answer cached yet; it is dropped.
    sensor.send(request);
    await until(() => coapStatus().duplicatesIgnored === before.duplicates + 1);
    sink.release();
    const answer = await sensor.next((message) => message.token.toString('hex') === 'e1');
    expect(answer).toMatchObject({ type: 'NON', code: '2.04', messageId: request.messageId });
    // A duplicate after the answer gets that answer again from node-coap's cache.
    sensor.send(request);
    expect(await sensor.next((message) => message.token.toString('hex') === 'e1')).toEqual(answer);
    expect(sink.calls - before.calls).toBe(1);
    expect(sink.accepted.length - before.accepted).toBe(1);
  });

  it('answers 4.15 for a Content-Format other than JSON or CBOR, or none', async () => {
    const sensor = await RawSensor.connect();
    for (const format of [0, 42, 110, null]) {
      const response = await sensor.request(postTelemetry(json({}), format));
      expect(response.code, String(format)).toBe('4.15');
      expect(response.payload.toString()).toMatch(/Content-Format 50 \(application\/json\) or 60/);
    }
  });

  it('answers 4.00 with the parser message to a JSON body that does not parse', async () => {
    const sensor = await RawSensor.connect();
    const response = await sensor.request(postTelemetry(Buffer.from('{"t":')));
    expect(response.code).toBe('4.00');
    expect(response.payload.toString()).toMatch(/^the body is not JSON: /);
    expect(optionUint(response, OPTION.contentFormat)).toBe(0);
  });

  it('answers 4.13 with Size1 to a body over max_payload_bytes in one datagram', async () => {
    const sensor = await RawSensor.connect();
    const calls = sink.calls;
    const response = await sensor.request(postTelemetry(json({ blob: 'x'.repeat(MAX_PAYLOAD) })));
    expect(response.code).toBe('4.13');
    expect(optionUint(response, OPTION.size1)).toBe(MAX_PAYLOAD);
    expect(sink.calls).toBe(calls);
  });

  it('answers 4.08 to a block that does not continue a transfer, 4.02 to Block1 elsewhere', async () => {
    const sensor = await RawSensor.connect();
    const orphan = await sensor.request({
      ...postTelemetry(json({ part: 2 })),
      options: [...postTelemetry(Buffer.alloc(0)).options, [OPTION.block1, uint((3 << 4) | 2)]],
    });
    expect(orphan.code).toBe('4.08');
    expect(orphan.payload.toString()).toMatch(/block 0 missing/);
    const time = await sensor.request({ code: '0.01', options: [...path('time'), [OPTION.block1, uint(2)]] });
    expect(time.code).toBe('4.02');
  });

  it('drops a request with a token over 8 bytes (RFC 8974 extended length): nothing answered, the session goes on', async () => {
    // A 1,100-byte token: any answer echoing it is larger than one CoAP message, which node-coap could
    // not encode — it threw out of the socket handler and ended the daemon (npm run fuzz, seed 20261206).
    const sensor = await RawSensor.connect();
    const before = coapStatus().requestsDropped;
    const token = Buffer.alloc(1100, 0x5a);
    const request = encode({ code: '0.01', messageId: sensor.messageId(), options: path('time') });
    // TKL 14: the token's length is in the two bytes after the header, minus 269 (RFC 8974 §2.1).
    const header = Buffer.from([
      (request[0] as number) | 14,
      request[1] as number,
      request[2] as number,
      request[3] as number,
    ]);
    const extended = Buffer.from([(token.length - 269) >> 8, (token.length - 269) & 0xff]);
    sensor.client.send(Buffer.concat([header, extended, token, request.subarray(4)]));
    await until(() => coapStatus().requestsDropped === before + 1);
    const time = await sensor.request({ code: '0.01', options: path('time') });
    expect(time.code).toBe('2.05');
    expect(sensor.received.filter((message) => message.code !== '2.05' && message.code !== '0.00')).toEqual(
      [],
    );
  });

  it('answers 5.03 with Max-Age when the outbox is full, 5.00 when the sink fails', async () => {
    const sensor = await RawSensor.connect();
    sink.mode = 'full';
    const full = await sensor.request(postTelemetry(json({ t: 1 })));
    expect(full.code).toBe('5.03');
    expect(optionUint(full, OPTION.maxAge)).toBe(7);
    expect(full.payload.toString()).toBe("the gateway's outbox is full: retry in 7 s");
    sink.mode = 'share';
    const share = await sensor.request(postTelemetry(json({ t: 1.5 })));
    expect([share.code, optionUint(share, OPTION.maxAge)]).toEqual(['5.03', 3]);
    expect(share.payload.toString()).toBe(
      "this sensor's share of the gateway's outbox is full: retry in 3 s",
    );
    sink.mode = 'fail';
    const failed = await sensor.request(postTelemetry(json({ t: 2 })));
    expect(failed.code).toBe('5.00');
    expect(failed.payload.toString()).toBe('the gateway could not store the telemetry');
    expect(warnings).toContain('telemetry refused: the sink failed');
  });

  it('answers 4.03 with the reason to a refused request, 4.04 and 4.05 to allowed ones it has no route for', async () => {
    const clockOnly = await RawSensor.connect('sensor2');
    const refused = await clockOnly.request({
      code: '0.01',
      options: [[OPTION.observe, Buffer.alloc(0)], ...path('commands')],
    });
    expect(refused.code).toBe('4.03');
    expect(optionUint(refused, OPTION.contentFormat)).toBe(0);
    expect(option(refused, OPTION.observe)).toBeUndefined(); // a refused registration (RFC 7641 §4.2)
    expect(refused.payload.toString()).toBe('no rule allows GET /commands for CN=sensor2 (no device type)');
    const sensor = await RawSensor.connect();
    expect((await sensor.request({ code: '0.03', options: path('telemetry') })).code).toBe('4.03'); // PUT
    expect((await sensor.request({ code: '0.01', options: path('sensors', 'x') })).code).toBe('4.04');
    const wrongMethod = await sensor.request({ code: '0.01', options: path('telemetry') });
    expect(wrongMethod.code).toBe('4.05');
    expect(wrongMethod.payload.toString()).toBe('/telemetry answers POST');
    // ".." would let a prefix rule reach elsewhere: the policy refuses it outright.
    expect((await sensor.request({ code: '0.01', options: path('sensors', '..', 'time') })).code).toBe(
      '4.03',
    );
  });

  it('answers a GET /time with Observe plainly (no Observe option: /time is not observable)', async () => {
    const sensor = await RawSensor.connect();
    const response = await sensor.request({
      code: '0.01',
      options: [[OPTION.observe, Buffer.alloc(0)], ...path('time')],
    });
    expect(response.code).toBe('2.05');
    expect(option(response, OPTION.observe)).toBeUndefined();
    expect(JSON.parse(response.payload.toString())).toEqual({
      unix_ms: GATEWAY_TIME.getTime(),
      iso: GATEWAY_TIME.toISOString(),
    });
    const notAcceptable = await sensor.request({
      code: '0.01',
      options: [...path('time'), [OPTION.accept, uint(0)]],
    });
    expect(notAcceptable.code).toBe('4.06');
  });

  it('a RST of a command notification ends the observation; the command is sent again on re-registration', async () => {
    const sensor = await RawSensor.connect();
    const observe = {
      code: '0.01',
      options: [[OPTION.observe, Buffer.alloc(0)], ...path('commands')] as [number, Buffer][],
      token: Buffer.from('0b5e', 'hex'),
    };
    const registered = await sensor.request(observe);
    expect(registered).toMatchObject({ type: 'ACK', code: '2.05' });
    expect(option(registered, OPTION.observe)).toBeDefined();
    expect(source.subscribers('sensor')).toBe(1);

    source.add(command('cmd-rst', '{"x":1}'));
    const notification = await sensor.next((message) => message.payload.toString() === '{"x":1}');
    expect(notification).toMatchObject({ type: 'CON', code: '2.05' });
    expect(notification.token.toString('hex')).toBe('0b5e');
    expect(optionUint(notification, OPTION.contentFormat)).toBe(50);
    sensor.send({ type: 'RST', code: '0.00', messageId: notification.messageId });
    await until(() => source.subscribers('sensor') === 0);
    expect(observationsEnded().at(-1)).toBe('the sensor reset a notification');
    expect(source.deliveredIds).not.toContain('cmd-rst');

    await sensor.request(observe);
    const again = await sensor.next((message) => message.payload.toString() === '{"x":1}');
    expect(option(again, OPTION.etag)).toEqual(option(notification, OPTION.etag)); // the same command
    sensor.send({ type: 'ACK', code: '0.00', messageId: again.messageId });
    await until(() => source.deliveredIds.includes('cmd-rst'));

    // Deregistration: GET with Observe: 1 and the registration's token.
    const deregistered = await sensor.request({
      ...observe,
      options: [[OPTION.observe, uint(1)], ...path('commands')],
    });
    expect(deregistered.code).toBe('2.05');
    expect(source.subscribers('sensor')).toBe(0);
  });

  it('sends confirmable notifications to a NON registration, and deregisters when the session ends', async () => {
    const sensor = await RawSensor.connect();
    const token = Buffer.from('c0de', 'hex');
    sensor.send({
      type: 'NON',
      code: '0.01',
      messageId: sensor.messageId(),
      token,
      options: [[OPTION.observe, Buffer.alloc(0)], ...path('commands')],
    });
    const registered = await sensor.next((message) => message.token.equals(token));
    expect(registered).toMatchObject({ type: 'NON', code: '2.05' });
    source.add(command('cmd-non', '{"non":true}'));
    const notification = await sensor.next((message) => message.payload.toString() === '{"non":true}');
    expect(notification.type).toBe('CON');
    sensor.send({ type: 'ACK', code: '0.00', messageId: notification.messageId });
    await until(() => source.deliveredIds.includes('cmd-non'));
    sensor.client.close();
    await until(() => source.subscribers('sensor') === 0);
    expect(observationsEnded().at(-1)).toBe('the DTLS session ended');
    expect(coapStatus().observers).toBe(0);
  });
});

describe('sensor identity: one name, one enrollment', () => {
  it('a thumbprint-enrolled certificate with the CN of a CA-issued sensor is refused (identity-conflict): it cannot take over its /commands observation nor acknowledge its commands', async () => {
    const victim = await RawSensor.connect();
    const observe = {
      code: '0.01',
      options: [[OPTION.observe, Buffer.alloc(0)], ...path('commands')] as [number, Buffer][],
      token: Buffer.from('71c7', 'hex'),
    };
    expect(await victim.request(observe)).toMatchObject({ code: '2.05' });
    expect(source.subscribers('sensor')).toBe(1);

    const forged = selfSignedSensor(pki.dir, 'forged-sensor', 'sensor');
    new Enrollments(store).addIndividual(sha256Hex(forged), { label: 'forged' });
    const refusedBefore = trust.status().refused['identity-conflict'] ?? 0;
    await expect(connectSensor(pki, port, 'forged-sensor')).rejects.toThrow();
    expect(trust.status().refused['identity-conflict']).toBe(refusedBefore + 1);

    // The victim's observation is still its own: the command reaches it, and only it acknowledges it.
    expect(source.subscribers('sensor')).toBe(1);
    expect(observationsEnded()).not.toContain('replaced by a new registration');
    source.add(command('cmd-victim', '{"victim":true}'));
    const notification = await victim.next((message) => message.payload.toString() === '{"victim":true}');
    victim.send({ type: 'ACK', code: '0.00', messageId: notification.messageId });
    await until(() => source.deliveredIds.includes('cmd-victim'));
    await victim.request({ ...observe, options: [[OPTION.observe, uint(1)], ...path('commands')] });
  });
});

describe('CoAP state belongs to the DTLS session', () => {
  /** Ends `sensor`'s session (close_notify) and waits until the endpoint has let it go. */
  async function endSession(sensor: RawSensor, how: 'close' | 'destroy' = 'close'): Promise<number> {
    const localPort = sensor.client.localPort;
    const before = endpoint.status().sessionsEstablished;
    if (how === 'close') {
      sensor.client.close();
      await until(() => endpoint.status().sessionsEstablished === before - 1);
    } else sensor.client.destroy();
    return localPort;
  }

  it("a new session from the same address and port reusing a message id and token is processed afresh, not answered from the old session's cache", async () => {
    const request = {
      ...postTelemetry(json({ cached: 'for the first session only' })),
      messageId: 0x5151,
      token: Buffer.from('a151', 'hex'),
    };
    const first = await RawSensor.connect('sensor');
    first.send(request);
    expect(await first.next()).toMatchObject({ type: 'ACK', code: '2.04', messageId: 0x5151 });
    const localPort = await endSession(first);
    const callsBefore = sink.calls;
    // Another sensor, which may not POST /telemetry, from the same address and port.
    const second = await RawSensor.connect('sensor2', localPort);
    expect(second.client.localPort).toBe(localPort);
    second.send(request);
    const answer = await second.next();
    expect(answer).toMatchObject({ type: 'ACK', code: '4.03', messageId: 0x5151 });
    expect(answer.payload.toString()).toBe('no rule allows POST /telemetry for CN=sensor2 (no device type)');
    expect(sink.calls).toBe(callsBefore);
  });

  it('an unacknowledged command notification of an ended session is not retransmitted into the next session at that address', async () => {
    const first = await RawSensor.connect('sensor');
    const registered = await first.request({
      code: '0.01',
      options: [[OPTION.observe, Buffer.alloc(0)], ...path('commands')],
      token: Buffer.from('1eac', 'hex'),
    });
    expect(registered.code).toBe('2.05');
    source.add(command('cmd-not-yours', '{"for":"the first session"}'));
    const notification = await first.next(
      (message) => message.payload.toString() === '{"for":"the first session"}',
    );
    expect(notification.type).toBe('CON'); // not acknowledged: node-coap would retransmit it
    // The sensor vanishes; another takes its address and port (the old session is replaced).
    const localPort = await endSession(first, 'destroy');
    const second = await RawSensor.connect('sensor2', localPort);
    await until(() => source.subscribers('sensor') === 0);
    // node-coap's first retransmission is due within ACK_TIMEOUT × ACK_RANDOM_FACTOR (3 s).
    await new Promise((resolve) => setTimeout(resolve, 3_500));
    const time = await second.request({ code: '0.01', options: path('time') });
    expect(time.code).toBe('2.05');
    expect(second.received.map((message) => message.payload.toString())).not.toContain(
      '{"for":"the first session"}',
    );
    expect(source.deliveredIds).not.toContain('cmd-not-yours');
    source.deliveredIds.push('cmd-not-yours'); // (so that later registrations of "sensor" do not get it)
  });

  it('a block-wise transfer of an ended session does not continue in the next session at that address', async () => {
    const body = json({ block: 'x'.repeat(40) });
    const blockOf = (num: number, more: boolean) => ({
      code: '0.02',
      options: [
        ...path('telemetry'),
        [OPTION.contentFormat, uint(50)],
        [OPTION.block1, uint((num << 4) | (more ? 0x08 : 0) | 0)], // 16-byte blocks
      ] as [number, Buffer][],
      payload: body.subarray(num * 16, (num + 1) * 16),
    });
    const first = await RawSensor.connect('sensor');
    expect((await first.request(blockOf(0, true))).code).toBe('2.31');
    const localPort = await endSession(first);
    const second = await RawSensor.connect('sensor', localPort);
    const continued = await second.request(blockOf(1, true));
    expect(continued.code).toBe('4.08');
  });
});

describe('commands larger than one datagram', () => {
  const big = (id: string, bytes: number) =>
    command(id, JSON.stringify({ blob: 'b'.repeat(bytes - 11) }), { contentFormat: 50 });

  it('goes block-wise (Block2: the notification carries block 0, the sensor GETs the rest); the command queued behind it follows', async () => {
    const large = big('cmd-large', 3_000);
    expect(large.payload.length).toBe(3_000);
    const sensor = await RawSensor.connect();
    const before = coapStatus();
    const observe = {
      code: '0.01',
      options: [[OPTION.observe, Buffer.alloc(0)], ...path('commands')] as [number, Buffer][],
      token: Buffer.from('b10c', 'hex'),
    };
    expect((await sensor.request(observe)).code).toBe('2.05');
    source.add(large);
    source.add(command('cmd-small-behind', '{"small":true}'));
    const first = await sensor.next(
      (message) => message.token.equals(observe.token) && message.code === '2.05' && message.type === 'CON',
    );
    expect(optionUint(first, OPTION.block2)).toBe((0 << 4) | 0x08 | 6); // block 0, more, 1,024 bytes
    expect(optionUint(first, OPTION.size2)).toBe(3_000);
    expect(first.payload.length).toBe(1_024);
    const etag = option(first, OPTION.etag);
    expect(etag?.length).toBe(8);
    sensor.send({ type: 'ACK', code: '0.00', messageId: first.messageId });
    const parts = [first.payload];
    for (const num of [1, 2]) {
      const block = await sensor.request({
        code: '0.01',
        options: [...path('commands'), [OPTION.block2, uint((num << 4) | 6)]],
      });
      expect(block.code).toBe('2.05');
      expect(option(block, OPTION.etag)).toEqual(etag);
      expect(optionUint(block, OPTION.block2)).toBe((num << 4) | (num < 2 ? 0x08 : 0) | 6);
      parts.push(block.payload);
    }
    expect(Buffer.concat(parts).equals(Buffer.from(large.payload))).toBe(true);
    const small = await sensor.next((message) => message.payload.toString() === '{"small":true}');
    expect(option(small, OPTION.block2)).toBeUndefined();
    sensor.send({ type: 'ACK', code: '0.00', messageId: small.messageId });
    await until(() => source.deliveredIds.includes('cmd-small-behind'));
    expect(source.deliveredIds.slice(-2)).toEqual(['cmd-large', 'cmd-small-behind']);
    const after = coapStatus();
    expect(after.commandsSentBlockwise - before.commandsSentBlockwise).toBe(1);
    expect(after.commandsDelivered - before.commandsDelivered).toBe(2);
    await sensor.request({ ...observe, options: [[OPTION.observe, uint(1)], ...path('commands')] });
  });

  it('libcoap observing /commands receives a block-wise command whole, then the next one', async () => {
    source.add(big('cmd-large-libcoap', 2_500));
    source.add(command('cmd-after-large', '{"after":"large"}'));
    const observing = coapClient('/commands', ['-m', 'get', '-s', '5']);
    await until(() => source.deliveredIds.includes('cmd-after-large'));
    const result = await observing;
    expect(source.deliveredIds).toContain('cmd-large-libcoap');
    expect(result.stdout).toContain('{"after":"large"}');
  });

  it(`passes over a command larger than MAX_COMMAND_PAYLOAD_BYTES (${MAX_COMMAND_PAYLOAD_BYTES}), so that the one behind it is delivered`, async () => {
    const sensor = await RawSensor.connect();
    const before = coapStatus();
    const observe = {
      code: '0.01',
      options: [[OPTION.observe, Buffer.alloc(0)], ...path('commands')] as [number, Buffer][],
      token: Buffer.from('b1b1', 'hex'),
    };
    expect((await sensor.request(observe)).code).toBe('2.05');
    source.add(big('cmd-too-large', MAX_COMMAND_PAYLOAD_BYTES + 1));
    source.add(command('cmd-behind-too-large', '{"behind":true}'));
    const next = await sensor.next((message) => message.type === 'CON' && message.code === '2.05');
    expect(next.payload.toString()).toBe('{"behind":true}');
    sensor.send({ type: 'ACK', code: '0.00', messageId: next.messageId });
    await until(() => source.deliveredIds.includes('cmd-behind-too-large'));
    expect(source.deliveredIds).not.toContain('cmd-too-large');
    expect(coapStatus().commandsSkipped - before.commandsSkipped).toBe(1);
    await sensor.request({ ...observe, options: [[OPTION.observe, uint(1)], ...path('commands')] });
    source.deliveredIds.push('cmd-too-large'); // (so that later registrations of "sensor" do not get it)
  });
});

describe('without the upstream (no telemetry sink, no command source)', () => {
  it('still answers GET /time and GET /.well-known/core; the upstream routes are 4.04', async () => {
    const settings = config();
    const clockOnly = await SensorEndpoint.start(settings.downstream.dtls, undefined, log, {
      trust,
      limits: settings.downstream.coap,
      now: () => GATEWAY_TIME,
    });
    const client = await connectSensor(pki, Number(clockOnly.status().listening.split(':').at(-1)));
    clients.push(client);
    try {
      const time = decode(
        await client.request(
          encode({ code: '0.01', messageId: 1, token: Buffer.from('71', 'hex'), options: path('time') }),
        ),
      );
      expect(time.code).toBe('2.05');
      expect(JSON.parse(time.payload.toString())).toEqual({
        unix_ms: GATEWAY_TIME.getTime(),
        iso: GATEWAY_TIME.toISOString(),
      });
      const core = decode(
        await client.request(
          encode({
            code: '0.01',
            messageId: 2,
            token: Buffer.from('72', 'hex'),
            options: path('.well-known', 'core'),
          }),
        ),
      );
      expect(core.code).toBe('2.05');
      expect(core.payload.toString()).toContain('</time>');
      expect(core.payload.toString()).not.toContain('</telemetry>');
      const telemetry = decode(
        await client.request(
          encode({ ...postTelemetry(json({})), messageId: 3, token: Buffer.from('73', 'hex') }),
        ),
      );
      expect(telemetry.code).toBe('4.04');
    } finally {
      await clockOnly.close();
    }
  });
});

describe("node-coap's answer cache", () => {
  it('keeps a few answers per established session, so answers kept for retransmissions cannot grow without end', async () => {
    const settings = config(`sensor_ca_files = ["${pki.file('ca.pem')}"]\n`);
    const small = await SensorEndpoint.start(settings.downstream.dtls, undefined, log, {
      telemetry: sink,
      limits: settings.downstream.coap,
    });
    const client = await connectSensor(pki, Number(small.status().listening.split(':').at(-1)));
    clients.push(client);
    try {
      // Without trust every request is answered 4.01; a session keeps its latest 4 answers.
      for (let id = 1; id <= 1_200; id++) {
        const reply = decode(await client.request(encode({ ...postTelemetry(json({})), messageId: id })));
        expect(reply.messageId).toBe(id);
      }
      small.trimAnswers();
      // (Each session's answers are also trimmed as its datagrams come: count the evicted with the kept.)
      const cache = small.status().answerCache;
      expect(cache).toMatchObject({ entries: 4, limit: 4 });
      expect(cache.entries + cache.evicted).toBe(1_200);
      // The latest answer is still replayed to a retransmission of its request.
      const again = decode(await client.request(encode({ ...postTelemetry(json({})), messageId: 1_200 })));
      expect(again.messageId).toBe(1_200);
      expect(again.code).toBe('4.01');
    } finally {
      await small.close();
    }
  });
});

describe('CoAP routes without a trust module', () => {
  it('answer 4.01: a session verified by OpenSSL alone carries no sensor identity', async () => {
    const settings = config(`sensor_ca_files = ["${pki.file('ca.pem')}"]\n`);
    const bare = await SensorEndpoint.start(settings.downstream.dtls, undefined, log, {
      telemetry: sink,
      limits: settings.downstream.coap,
    });
    const client = await connectSensor(pki, Number(bare.status().listening.split(':').at(-1)));
    clients.push(client);
    try {
      const reply = decode(
        await client.request(
          encode({ ...postTelemetry(json({})), messageId: 1, token: Buffer.from('01', 'hex') }),
        ),
      );
      expect(reply.code).toBe('4.01');
      expect(bare.status().coap?.refused['4.01']).toBe(1);
    } finally {
      await bare.close();
    }
  });
});
