/**
 * Who a sensor is, as the proxy and the authorization policy see it: read from its validated
 * certificate path (or from an individually enrolled certificate alone).
 */
export interface SensorIdentity {
  /** SHA-256 of the sensor certificate's DER, lower-case hex: its thumbprint. */
  sha256: string;
  /** Subject commonName, when present. */
  commonName: string | undefined;
  /** Subject serialNumber attribute (2.5.4.5), when present: the device serial. */
  serialNumber: string | undefined;
  /** The certificate's own serial, lower-case hex without leading zeros. */
  certificateSerial: string;
  /** Readable subject, e.g. "CN=sensor-0001, serialNumber=0001". */
  subject: string;
  /** subjectAltName entries, e.g. { type: 'dns', value: 'sensor-1.local' }, { type: 'uri', … }. */
  subjectAltNames: { type: 'dns' | 'uri' | 'email' | 'ip' | 'other'; value: string }[];
  /** Value of the device-type extension (trust.device_type_oid): UTF8String/PrintableString/IA5String text. */
  deviceType: string | undefined;
  /** Readable issuer name of the sensor certificate. */
  issuer: string;
  /** SHA-256 of the issuing CA's certificate (undefined for a self-signed, individually enrolled one). */
  issuerSha256: string | undefined;
  /** SHA-256 of the trust anchor the path ends at (undefined when trusted by thumbprint alone). */
  anchorSha256: string | undefined;
  notBefore: Date;
  notAfter: Date;
  /** How the sensor is enrolled (filled in by the enrollment check). */
  enrollment: { kind: 'individual' | 'group'; sha256: string; label: string } | undefined;
  /**
   * The name the sensor goes by upstream (topic, command inbox, /commands), bound to its enrollment
   * (see sensor-names.ts); filled in by SensorTrust once the name is known to be the enrollment's.
   */
  upstreamName?: string;
}
