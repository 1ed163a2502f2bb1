import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derOctetString, derTlv } from '../../../../src/pki/index.js';
import {
  CertificateFacts,
  deviceTypeText,
  readDeviceType,
  sensorIdentityOf,
} from '../../../../src/trust/validation/index.js';
import { type TestCertificate, TestPki } from '../../../helpers/test-pki.js';

const OID = '1.3.6.1.4.1.12345.1.1';
let pki: TestPki;
let root: TestCertificate;
let inter: TestCertificate;

beforeAll(async () => {
  pki = await TestPki.create();
  root = await pki.root();
  inter = await pki.intermediate(root);
});
afterAll(() => pki.remove());

describe('deviceTypeText', () => {
  it.each([
    ['UTF8String', derTlv(0x0c, Buffer.from('Durchflussmesser ü')), 'Durchflussmesser ü'],
    ['PrintableString', derTlv(0x13, Buffer.from('thermo 2')), 'thermo 2'],
    ['IA5String', derTlv(0x16, Buffer.from('thermo-3')), 'thermo-3'],
    ['OCTET STRING of text', derOctetString(Buffer.from('thermo-4')), 'thermo-4'],
  ])('reads a %s', (_kind, value, expected) => {
    expect(deviceTypeText(value)).toBe(expected);
    expect(readDeviceType(value)).toEqual({ text: expected });
  });

  it.each([
    ['an INTEGER', Uint8Array.of(0x02, 0x01, 0x05), 'an ASN.1 INTEGER'],
    ['a BMPString', derTlv(0x1e, Uint8Array.of(0, 0x61)), 'an ASN.1 BMPString'],
    ['a SEQUENCE of a UTF8String', derTlv(0x30, derTlv(0x0c, Buffer.from('x'))), 'an ASN.1 SEQUENCE'],
    ['raw text in extnValue', Uint8Array.from(Buffer.from('thermo-5')), 'bytes that are not one DER value'],
    ['trailing bytes', Uint8Array.of(0x0c, 0x01, 0x61, 0x00), 'a DER value followed by other bytes'],
    [
      'a PrintableString with "_" and "@"',
      derTlv(0x13, Buffer.from('a_b@c')),
      'a PrintableString with characters outside its set',
    ],
    [
      'an IA5String with a non-ASCII byte',
      derTlv(0x16, Uint8Array.of(0x61, 0xe9)),
      'an IA5String with non-ASCII bytes',
    ],
    [
      'a UTF8String of invalid UTF-8',
      derTlv(0x0c, Uint8Array.of(0xc3, 0x28)),
      'a UTF8String that is not UTF-8',
    ],
    [
      'a UTF8String with control characters',
      derTlv(0x0c, Buffer.from('a\u0001b')),
      'a UTF8String with control characters',
    ],
    ['an empty UTF8String', derTlv(0x0c, new Uint8Array()), 'an empty UTF8String'],
    ['nothing', new Uint8Array(), 'bytes that are not one DER value'],
  ])('refuses %s', (_kind, value, problem) => {
    expect(deviceTypeText(value)).toBeUndefined();
    expect(readDeviceType(value)).toEqual({ problem });
  });
});

describe('sensorIdentityOf', () => {
  it('names the issuer and anchor of a path, and leaves enrollment to the enrollment check', async () => {
    const sensor = await pki.sensor(inter, {
      commonName: 'id-1',
      serialNumber: 'S-1',
      deviceType: 'pump',
      uris: ['urn:x'],
    });
    const path = [sensor, inter, root].map((certificate) => CertificateFacts.parse(certificate.der));
    const identity = sensorIdentityOf(path, OID);
    expect(identity).toMatchObject({
      commonName: 'id-1',
      serialNumber: 'S-1',
      deviceType: 'pump',
      subject: 'CN=id-1, serialNumber=S-1',
      issuer: 'CN=Test Intermediate CA',
      sha256: path[0]?.sha256,
      issuerSha256: path[1]?.sha256,
      anchorSha256: path[2]?.sha256,
      certificateSerial: path[0]?.serialHex,
      enrollment: undefined,
    });
    expect(identity.subjectAltNames).toEqual([
      { type: 'dns', value: 'id-1.local' },
      { type: 'uri', value: 'urn:x' },
    ]);
    expect(sensorIdentityOf(path, '1.2.3.4').deviceType).toBeUndefined();
  });

  it('has no issuer or anchor for a certificate trusted alone; no CN or serial when the subject has none', async () => {
    const bare = await pki.sensor(undefined, {
      subjectDer: Uint8Array.of(0x30, 0x00),
      dnsNames: ['bare.local'],
    });
    const identity = sensorIdentityOf([CertificateFacts.parse(bare.der)], OID);
    expect(identity).toMatchObject({
      commonName: undefined,
      serialNumber: undefined,
      subject: '',
      issuerSha256: undefined,
      anchorSha256: undefined,
    });
    expect(() => sensorIdentityOf([], OID)).toThrow(RangeError);
  });
});
