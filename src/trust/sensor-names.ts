import type { Config } from '../config/index.js';
import type { Store } from '../store/index.js';
import type { SensorIdentity } from './sensor-identity.js';
import { normalizeThumbprint } from './thumbprint.js';
import { TrustError } from './trust-error.js';
import { noteTrustWrite } from './trust-writes.js';

/*
 * A sensor's upstream identity: the name it goes by upstream (MQTT topic, user properties, command
 * inbox, /commands observation) bound to the enrollment that admitted it. The first enrollment to
 * present a name owns it (table sensor_names); a certificate from any other enrollment presenting
 * the same name, in any letter case, is refused with identity-conflict until the operator releases
 * or moves the name. Another certificate of the same enrollment (a renewal under the same CA, a
 * second device of a group) is the same sensor.
 */

const TOPIC_SAFE = /^[A-Za-z0-9._-]{1,64}$/;
/** The fallback's prefix: reserved, so no certificate can claim another sensor's fallback name. */
const FALLBACK_PREFIX = 'sha256-';

/** trust.sensor_name_from: "cn", "serialNumber" (the subject attribute) or "san:dns" (the first dNSName). */
export type SensorNameSource = Config['trust']['sensor_name_from'];

type NamedIdentity = Pick<SensorIdentity, 'commonName' | 'sha256'> &
  Partial<Pick<SensorIdentity, 'serialNumber' | 'subjectAltNames'>>;

/**
 * The name a sensor goes by upstream: the value `from` names (its CN by default) when that is
 * topic-safe (letters, digits, ".", "_", "-", at most 64) and does not start with "sha256-" (any
 * case), else "sha256-" and 16 hex digits of its certificate thumbprint.
 */
export function upstreamNameOf(identity: NamedIdentity, from: SensorNameSource = 'cn'): string {
  const value = nameSourceValue(identity, from);
  if (value && TOPIC_SAFE.test(value) && !value.toLowerCase().startsWith(FALLBACK_PREFIX)) return value;
  return `${FALLBACK_PREFIX}${identity.sha256.slice(0, 16)}`;
}

function nameSourceValue(identity: NamedIdentity, from: SensorNameSource): string | undefined {
  switch (from) {
    case 'cn':
      return identity.commonName;
    case 'serialNumber':
      return identity.serialNumber;
    case 'san:dns':
      return identity.subjectAltNames?.find((name) => name.type === 'dns')?.value;
  }
}

/**
 * The enrollment a name is bound to, as stored: "individual:<leaf SHA-256>" or "group:<CA SHA-256>"
 * (the CA certificate itself: a re-keyed or re-issued CA, or another anchor, is another enrollment).
 */
export function enrollmentKeyOf(enrollment: { kind: 'individual' | 'group'; sha256: string }): string {
  return `${enrollment.kind}:${enrollment.sha256}`;
}

/** An enrollment key as an operator types it: "group:<sha256>" or "individual:<sha256>" (colons allowed). */
export function parseEnrollmentKey(text: string): string {
  const match = /^(individual|group):(.+)$/.exec(text.trim());
  if (!match?.[1] || !match[2]) {
    throw new TrustError(
      'EGW_TRUST_INVALID_ARGUMENT',
      `${JSON.stringify(text)} is not an enrollment: expected group:<CA SHA-256> or individual:<certificate SHA-256>`,
      { hint: '`gatewayctl sensors list` shows the enrollments and their thumbprints' },
    );
  }
  return `${match[1]}:${normalizeThumbprint(match[2])}`;
}

export interface NameBinding {
  name: string;
  /** "individual:<sha256>" or "group:<sha256>". */
  enrollment: string;
  /** The enrollment's label when the name was bound. */
  label: string;
  /** Subject of the certificate that bound it. */
  subject: string;
  boundAt: Date;
}

export type NameClaim = { ok: true; created: boolean } | { ok: false; bound: NameBinding };

interface Row {
  name: string;
  enrollment: string;
  label: string;
  subject: string;
  bound_at: number;
}

const COLUMNS = 'name, enrollment, label, subject, bound_at';

/** The name bindings (sensor_names); read on every claim, so gatewayctl's edits apply at once. */
export class SensorNames {
  readonly #store: Store;

  constructor(store: Store) {
    this.#store = store;
  }

  /**
   * Binds `name` to `enrollment` when it is free; answers whether the enrollment owns it (then the
   * sensor may use it) or the binding that refuses it.
   */
  claim(
    name: string,
    enrollment: string,
    details: { label?: string; subject?: string } = {},
    at = new Date(),
  ): NameClaim {
    const existing = this.get(name);
    if (existing)
      return existing.enrollment === enrollment
        ? { ok: true, created: false }
        : { ok: false, bound: existing };
    this.#store
      .prepare<[string, string, string, string, string, number]>(
        `INSERT INTO sensor_names (name_key, ${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (name_key) DO NOTHING`,
      )
      .run(keyOf(name), name, enrollment, details.label ?? '', details.subject ?? '', at.getTime());
    const stored = this.get(name);
    if (stored && stored.enrollment !== enrollment) return { ok: false, bound: stored };
    return { ok: true, created: true };
  }

  get(name: string): NameBinding | undefined {
    const row = this.#store
      .prepare<[string], Row>(`SELECT ${COLUMNS} FROM sensor_names WHERE name_key = ?`)
      .get(keyOf(name));
    return row ? fromRow(row) : undefined;
  }

  list(): NameBinding[] {
    return this.#store
      .prepare<[], Row>(`SELECT ${COLUMNS} FROM sensor_names ORDER BY name_key`)
      .all()
      .map(fromRow);
  }

  /**
   * The operator's override: drops the binding of `name` (the next enrollment to present it binds
   * it), or moves it to the enrollment `to` at once. EGW_TRUST_NOT_FOUND when it is not bound.
   */
  release(name: string, options: { to?: string } = {}, at = new Date()): NameBinding {
    noteTrustWrite();
    return this.#store.transaction(() => {
      const existing = this.get(name);
      if (!existing) {
        throw new TrustError('EGW_TRUST_NOT_FOUND', `no sensor name ${JSON.stringify(name)} is bound`, {
          hint: '`gatewayctl sensors name list` shows the bound names',
        });
      }
      this.#store.prepare<[string]>('DELETE FROM sensor_names WHERE name_key = ?').run(keyOf(name));
      if (options.to !== undefined) {
        this.#store
          .prepare<[string, string, string, number]>(
            `INSERT INTO sensor_names (name_key, ${COLUMNS}) VALUES (?, ?, ?, '', 'bound by the operator', ?)`,
          )
          .run(keyOf(existing.name), existing.name, options.to, at.getTime());
      }
      return existing;
    });
  }
}

/** Names differing only in letter case are one name: a consumer folding case must not merge two sensors. */
function keyOf(name: string): string {
  return name.toLowerCase();
}

function fromRow(row: Row): NameBinding {
  return {
    name: row.name,
    enrollment: row.enrollment,
    label: row.label,
    subject: row.subject,
    boundAt: new Date(row.bound_at),
  };
}
