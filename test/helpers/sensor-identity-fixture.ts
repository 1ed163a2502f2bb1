import type { SensorIdentity } from '../../src/trust/index.js';

/** A sensor's identity as the path validator would report it (plain data; the fields judged vary). */
export function sensorIdentity(fields: Partial<SensorIdentity> = {}): SensorIdentity {
  return {
    sha256: 'a'.repeat(64),
    commonName: 'sensor-1',
    serialNumber: undefined,
    certificateSerial: '1f',
    subject: 'CN=sensor-1',
    subjectAltNames: [],
    deviceType: 'thermo',
    issuer: 'CN=Issuing CA',
    issuerSha256: 'b'.repeat(64),
    anchorSha256: 'c'.repeat(64),
    notBefore: new Date('2030-01-01T00:00:00Z'),
    notAfter: new Date('2031-01-01T00:00:00Z'),
    enrollment: undefined,
    ...fields,
  };
}
