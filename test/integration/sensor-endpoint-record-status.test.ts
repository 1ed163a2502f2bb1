import { generate, parse } from 'coap-packet';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseConfigText } from '../../src/config/index.js';
import { SensorEndpoint } from '../../src/downstream/index.js';
import { connectSensor, type DtlsPki, makeDtlsPki, until } from '../helpers/dtls-pki.js';

/**
 * The sensor endpoint's status counts the records its established sessions drop, by reason, as sent
 * by a real DtlsClient's socket (the session's own address and port).
 */

let pki: DtlsPki;
let endpoint: SensorEndpoint;

const log = { info() {}, warn() {}, debug() {} };

beforeAll(async () => {
  pki = makeDtlsPki();
  const settings = parseConfigText(
    '[downstream.dtls]\nenabled = true\nhost = "127.0.0.1"\nport = 0\nserver_key = "file"\n' +
      `key_file = "${pki.file('server.key')}"\ncertificate_file = "${pki.file('server.pem')}"\n` +
      `sensor_ca_files = ["${pki.file('ca.pem')}"]\nreceive_buffer_bytes = 196608\n`,
    'sensor-endpoint-record-status.toml',
  );
  endpoint = await SensorEndpoint.start(settings.downstream.dtls, undefined, log);
});

afterAll(async () => {
  await endpoint?.close();
  pki?.remove();
});

/** An epoch-1 application-data record at `sequence` with header version `version`, made without the keys. */
function forgedRecord(sequence: number, version = 0xfefd): Buffer {
  const record = Buffer.alloc(13 + 40, 0x5a);
  record[0] = 23;
  record.writeUInt16BE(version, 1);
  record.writeUInt16BE(1, 3);
  record.writeUIntBE(sequence, 5, 6);
  record.writeUInt16BE(40, 11);
  return record;
}

it('status counts records dropped by established sessions, by reason', async () => {
  const client = await connectSensor(pki, Number(endpoint.status().listening.split(':').at(-1)));
  try {
    await client.sendRaw(forgedRecord(5));
    await client.sendRaw(forgedRecord(6, 0xfeff));
    await until(() => endpoint.status().recordsRejected === 2);
    expect(endpoint.status().recordsRejectedByReason).toEqual({ forged: 1, version: 1 });
    expect(endpoint.status().sessionsEstablished).toBe(1);
  } finally {
    client.close();
  }
});

it('answers every request 4.04 when the endpoint has no routes (no SensorEndpointOptions)', async () => {
  const client = await connectSensor(pki, Number(endpoint.status().listening.split(':').at(-1)));
  try {
    const answer = parse(
      await client.request(
        generate({
          code: '0.01',
          messageId: 1,
          token: Buffer.from('01', 'hex'),
          confirmable: true,
          options: [{ name: 'Uri-Path', value: Buffer.from('time') }],
        }),
      ),
    );
    expect(answer.code).toBe('4.04');
    expect(answer.payload.toString()).toBe('no route: the CoAP routes are not installed');
  } finally {
    client.close();
  }
});

it('status shows the DTLS socket receive buffer the kernel gave (receive_buffer_bytes)', () => {
  // 192 KiB is below every stock net.core.rmem_max (208 KiB): Linux keeps it whole and reports 2x.
  expect(endpoint.status().receiveBuffer).toEqual({
    requestedBytes: 196608,
    effectiveBytes: 2 * 196608,
    capped: false,
  });
});
