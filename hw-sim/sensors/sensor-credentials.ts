/** Who a simulated sensor is: its certificate (and chain) and its private key. */
export interface SensorCredentials {
  /** Subject CN: the sensor's name upstream. */
  commonName: string;
  /** Subject serialNumber attribute (the device serial), when present. */
  serialNumber: string | undefined;
  /** Value of the device-type extension, when present. */
  deviceType: string | undefined;
  /** The leaf certificate, DER. */
  certificateDer: Uint8Array;
  /** What the sensor presents in its handshake, DER, leaf first (the root is the gateway's anchor). */
  certificateChain: Uint8Array[];
  /** The P-256 private key, PKCS#8 DER. */
  privateKeyPkcs8: Uint8Array;
  /** The certificate's serial, lower-case hex (as the gateway's SensorIdentity.certificateSerial). */
  certificateSerial: string;
  notBefore: Date;
  notAfter: Date;
}

/** The kinds of misbehaving sensor a fleet can include. */
export type BadActorKind = 'unknownCa' | 'expired' | 'revoked' | 'unauthorized';

export const BAD_ACTOR_KINDS: readonly BadActorKind[] = ['unknownCa', 'expired', 'revoked', 'unauthorized'];

/** How many of each bad actor a fleet includes, e.g. `{ unknownCa: 2, revoked: 1 }`. */
export type BadActorCounts = Partial<Record<BadActorKind, number>>;

/** What a sensor plays: an honest sensor or one kind of bad actor. */
export type SensorRole = 'sensor' | BadActorKind;
