import type { Store } from '../../store/index.js';
import type { SensorIdentity } from '../sensor-identity.js';
import { normalizeThumbprint } from '../thumbprint.js';
import { TrustError } from '../trust-error.js';
import { noteTrustWrite } from '../trust-writes.js';
import type { Refusal, ValidationReason } from '../validation-reason.js';
import { compileCnPattern } from './cn-pattern.js';
import { type GroupConstraints, normalizeConstraints } from './group-constraints.js';

/** 'individual': one sensor certificate by its SHA-256; 'group': every sensor under a CA by the CA's. */
export type EnrollmentKind = 'individual' | 'group';

export interface Enrollment {
  kind: EnrollmentKind;
  sha256: string;
  label: string;
  /** Always {} for individual enrollments. */
  constraints: GroupConstraints;
  enabled: boolean;
  createdAt: Date;
  updatedAt: Date;
}

/** The enrollment that let a sensor in, as SensorIdentity.enrollment records it. */
export type EnrollmentJudgement =
  | { ok: true; enrollment: { kind: EnrollmentKind; sha256: string; label: string } }
  | { ok: false; refusal: Refusal };

interface Row {
  kind: EnrollmentKind;
  sha256: string;
  label: string;
  constraints: string;
  enabled: number;
  created_at: number;
  updated_at: number;
}

const COLUMNS = 'kind, sha256, label, constraints, enabled, created_at, updated_at';

/**
 * Which sensors the gateway admits once their certificate path is valid, as Azure DPS enrollments:
 * individual ones by the sensor certificate's thumbprint, group ones by a CA on its path, with
 * optional constraints on the sensor's device type and CN. Kept in sensor_enrollments.
 */
export class Enrollments {
  readonly #store: Store;
  // Compiled CN patterns by source: judge() runs inside DTLS handshakes.
  readonly #patterns = new Map<string, RegExp>();

  constructor(store: Store) {
    this.#store = store;
  }

  /** Enrolls one sensor certificate; re-adding updates the label and keeps it enabled or not. */
  addIndividual(
    sha256: string,
    options: { label?: string } = {},
    at = new Date(),
  ): { enrollment: Enrollment; created: boolean } {
    return this.#upsert('individual', normalizeThumbprint(sha256), options.label, {}, at);
  }

  /**
   * Enrolls every sensor whose path runs through the CA `caSha256`; re-adding replaces the
   * constraints (and the label when one is given) and keeps it enabled or not.
   */
  addGroup(
    caSha256: string,
    options: { label?: string; constraints?: GroupConstraints } = {},
    at = new Date(),
  ): { enrollment: Enrollment; created: boolean } {
    const constraints = normalizeConstraints(options.constraints);
    return this.#upsert(
      'group',
      normalizeThumbprint(caSha256, 'CA SHA-256 thumbprint'),
      options.label,
      constraints,
      at,
    );
  }

  enable(kind: EnrollmentKind, sha256: string, at = new Date()): Enrollment {
    return this.#setEnabled(kind, sha256, true, at);
  }

  disable(kind: EnrollmentKind, sha256: string, at = new Date()): Enrollment {
    return this.#setEnabled(kind, sha256, false, at);
  }

  /** Removes an enrollment and answers what it was; EGW_TRUST_NOT_FOUND when there is none. */
  remove(kind: EnrollmentKind, sha256: string): Enrollment {
    const existing = this.#existing(kind, sha256);
    this.#store
      .prepare<[string, string]>('DELETE FROM sensor_enrollments WHERE kind = ? AND sha256 = ?')
      .run(kind, existing.sha256);
    noteTrustWrite();
    return existing;
  }

  get(kind: EnrollmentKind, sha256: string): Enrollment | undefined {
    const row = this.#row(kind, normalizeThumbprint(sha256));
    return row ? fromRow(row) : undefined;
  }

  /** Every enrollment (of one kind when given): individual ones first, oldest first. */
  list(kind?: EnrollmentKind): Enrollment[] {
    const rows =
      kind === undefined
        ? this.#store
            .prepare<[], Row>(
              `SELECT ${COLUMNS} FROM sensor_enrollments ORDER BY kind DESC, created_at, sha256`,
            )
            .all()
        : this.#store
            .prepare<[string], Row>(
              `SELECT ${COLUMNS} FROM sensor_enrollments WHERE kind = ? ORDER BY created_at, sha256`,
            )
            .all(kind);
    return rows.map(fromRow);
  }

  /**
   * Whether a sensor with a valid path is enrolled. An individual enrollment of its certificate
   * decides first (enabled: in; disabled: out, whatever its CAs' groups say, so one sensor can be
   * shut out of a group); otherwise the nearest CA on the path with a group enrollment decides.
   * `pathSha256s`: the CA certificates of the validated path, issuer first, anchor last.
   */
  judge(identity: SensorIdentity, pathSha256s: readonly string[]): EnrollmentJudgement {
    const individual = this.#row('individual', identity.sha256);
    if (individual) {
      if (individual.enabled === 1) return admitted(individual);
      return refused('enrollment-disabled', `individual enrollment${labelled(individual)} is disabled`, 0);
    }
    for (const [index, caSha256] of pathSha256s.entries()) {
      const group = this.#row('group', caSha256);
      if (!group) continue;
      const name = `group enrollment of CA ${caSha256}${labelled(group)}`;
      if (group.enabled !== 1) return refused('enrollment-disabled', `${name} is disabled`, index + 1);
      const violation = this.#violation(group, identity, name);
      return violation ? { ok: false, refusal: violation } : admitted(group);
    }
    return refused(
      'not-enrolled',
      `no individual enrollment of ${identity.sha256} and no group enrollment of a CA on its path`,
      0,
    );
  }

  #violation(group: Row, identity: SensorIdentity, name: string): Refusal | undefined {
    const constraints = JSON.parse(group.constraints) as GroupConstraints;
    if (constraints.deviceTypes && constraints.deviceTypes.length > 0) {
      const allowed = constraints.deviceTypes.map((type) => JSON.stringify(type)).join(', ');
      if (identity.deviceType === undefined) {
        return refusal(
          'constraint-device-type',
          `the certificate carries no device type; ${name} requires one of ${allowed}`,
        );
      }
      if (!constraints.deviceTypes.includes(identity.deviceType)) {
        return refusal(
          'constraint-device-type',
          `device type ${JSON.stringify(identity.deviceType)} is not one of ${allowed} allowed by ${name}`,
        );
      }
    }
    if (constraints.cnPattern) {
      const pattern = this.#pattern(constraints.cnPattern);
      if (identity.commonName === undefined) {
        return refusal(
          'constraint-cn',
          `the certificate has no CN; ${name} requires one matching /${constraints.cnPattern}/`,
        );
      }
      if (!pattern.test(identity.commonName)) {
        return refusal(
          'constraint-cn',
          `CN ${JSON.stringify(identity.commonName)} does not match /${constraints.cnPattern}/ of ${name}`,
        );
      }
    }
    return undefined;
  }

  #pattern(source: string): RegExp {
    let pattern = this.#patterns.get(source);
    if (!pattern) {
      pattern = compileCnPattern(source);
      this.#patterns.set(source, pattern);
    }
    return pattern;
  }

  #upsert(
    kind: EnrollmentKind,
    sha256: string,
    label: string | undefined,
    constraints: GroupConstraints,
    at: Date,
  ): { enrollment: Enrollment; created: boolean } {
    noteTrustWrite();
    return this.#store.transaction(() => {
      const existing = this.#row(kind, sha256);
      this.#store
        .prepare<[string, string, string, string, number, number]>(
          `INSERT INTO sensor_enrollments (kind, sha256, label, constraints, enabled, created_at, updated_at)
           VALUES (?, ?, ?, ?, 1, ?, ?)
           ON CONFLICT (kind, sha256) DO UPDATE SET
             label = excluded.label, constraints = excluded.constraints, updated_at = excluded.updated_at`,
        )
        .run(
          kind,
          sha256,
          label ?? existing?.label ?? '',
          JSON.stringify(constraints),
          at.getTime(),
          at.getTime(),
        );
      const stored = this.#row(kind, sha256);
      if (!stored) throw new Error(`enrollment ${kind} ${sha256} vanished while being written`);
      return { enrollment: fromRow(stored), created: existing === undefined };
    });
  }

  #setEnabled(kind: EnrollmentKind, sha256: string, enabled: boolean, at: Date): Enrollment {
    const existing = this.#existing(kind, sha256);
    this.#store
      .prepare<[number, number, string, string]>(
        'UPDATE sensor_enrollments SET enabled = ?, updated_at = ? WHERE kind = ? AND sha256 = ?',
      )
      .run(enabled ? 1 : 0, at.getTime(), kind, existing.sha256);
    noteTrustWrite();
    return { ...existing, enabled, updatedAt: at };
  }

  #existing(kind: EnrollmentKind, sha256: string): Enrollment {
    const existing = this.get(kind, sha256);
    if (!existing) {
      throw new TrustError('EGW_TRUST_NOT_FOUND', `no ${kind} enrollment ${normalizeThumbprint(sha256)}`, {
        hint:
          kind === 'group'
            ? '`gatewayctl sensors list` shows the enrollments; group ones are addressed with --group'
            : '`gatewayctl sensors list` shows the enrollments; a CA’s group enrollment needs --group',
      });
    }
    return existing;
  }

  #row(kind: EnrollmentKind, sha256: string): Row | undefined {
    return this.#store
      .prepare<[string, string], Row>(
        `SELECT ${COLUMNS} FROM sensor_enrollments WHERE kind = ? AND sha256 = ?`,
      )
      .get(kind, sha256);
  }
}

function fromRow(row: Row): Enrollment {
  return {
    kind: row.kind,
    sha256: row.sha256,
    label: row.label,
    constraints: JSON.parse(row.constraints) as GroupConstraints,
    enabled: row.enabled === 1,
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
  };
}

function admitted(row: Row): EnrollmentJudgement {
  return { ok: true, enrollment: { kind: row.kind, sha256: row.sha256, label: row.label } };
}

function refusal(reason: ValidationReason, detail: string, depth = 0): Refusal {
  return { reason, detail, depth };
}

function refused(reason: ValidationReason, detail: string, depth: number): EnrollmentJudgement {
  return { ok: false, refusal: refusal(reason, detail, depth) };
}

function labelled(row: Row): string {
  return row.label ? ` "${row.label}"` : '';
}
