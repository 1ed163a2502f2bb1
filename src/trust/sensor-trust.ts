import { createHash } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Config } from '../config/index.js';
import type { Store } from '../store/index.js';
import { type AuthorizationDecision, AuthorizationPolicy } from './authorization/index.js';
import type { ClockFloor } from './clock-floor.js';
import { DenyList, Enrollments } from './enrollment/index.js';
import { OcspClient, type OcspStatus, ocspUrlOf } from './ocsp/index.js';
import {
  type CaRevocationStatus,
  CrlFetcher,
  type CrlImportResult,
  CrlStore,
  crlPolicyFromConfig,
  type RevocationGapDelta,
  RevocationGaps,
  retryDelayMs,
  revocationVerdict,
  SeenIntermediates,
} from './revocation/index.js';
import type { SensorIdentity } from './sensor-identity.js';
import { enrollmentKeyOf, SensorNames, upstreamNameOf } from './sensor-names.js';
import { TrustBundleStore } from './trust-bundle-store.js';
import { trustWrites } from './trust-writes.js';
import { crlValidUntil, earlierValidUntil, type ValidUntil } from './valid-until.js';
import {
  AnchorIndex,
  type CertificateFacts,
  type PathValidation,
  PathValidator,
  type RevocationCheck,
} from './validation/index.js';
import type { Refusal, ValidationReason } from './validation-reason.js';
import { VerifiedChainCache } from './verified-chain-cache.js';

type TrustSettings = Config['trust'];

interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  debug(fields: object, message: string): void;
}

/** validUntil: when judging the chain again may refuse it (a live session is re-judged then). */
export type SensorVerdict =
  | { ok: true; identity: SensorIdentity; validUntil?: ValidUntil }
  | { ok: false; refusal: Refusal };

export interface SensorTrustStatus {
  anchors: number;
  intermediates: number;
  crls: { issuer: string; entries: number; thisUpdate: string; nextUpdate: string | null; stale: boolean }[];
  enrollments: { individual: number; group: number };
  denied: number;
  /** Verdicts since start: handshakes, resumptions and re-checks of live sessions after a change. */
  accepted: number;
  refused: Partial<Record<ValidationReason, number>>;
  /** Sensors accepted although their CRL was missing or stale (soft-fail / grace). */
  acceptedWithoutFreshCrl: number;
  /** Revocation decisions an OCSP answer made (revoked, or good where the CRL was missing/stale). */
  decidedByOcsp: number;
  clockBehindFloor: boolean;
  /**
   * Per CA (stored CRL or not): the CRL's age, and the certificates it issued that were admitted
   * without revocation information since start (the gap the soft-fail and grace policies leave).
   */
  revocation: { admittedWithoutRevocationInfo: number; cas: CaRevocationStatus[] };
  /** Accepted chains remembered (VerifiedChainCache), and decisions served from them since start. */
  verifiedChains: { entries: number; hits: number; misses: number };
}

export interface SensorTrustEvents {
  /** Trust changed in a way that may refuse live sessions (a CRL landed, an operator edit). */
  changed: [why: string];
}

/**
 * The trust service for sensors: decides, offline and inside a DTLS handshake, whether a chain is
 * a sensor the gateway accepts, and who it is. Composes the path validator, the CRL cache with the
 * bundle's staleness policy, enrollments (individual by thumbprint, group by CA) and the deny list.
 * Anchors listed in downstream.dtls.sensor_ca_files are enrolled as groups implicitly (the operator
 * configured them); CAs registered with proof of possession carry their own group enrollment.
 */
export class SensorTrust extends EventEmitter<SensorTrustEvents> {
  readonly #store: Store;
  readonly #settings: TrustSettings;
  readonly #clock: ClockFloor;
  readonly #log: Log;
  readonly #bundles: TrustBundleStore;
  readonly #crls: CrlStore;
  readonly #enrollments: Enrollments;
  readonly #deny: DenyList;
  readonly #names: SensorNames;
  /** When an identity-conflict was last logged, per name. */
  readonly #conflictWarnings = new Map<string, number>();
  readonly #validator: PathValidator;
  readonly #authorization: AuthorizationPolicy;
  readonly #fetcher: CrlFetcher | undefined;
  readonly #ocsp: OcspClient | undefined;
  /** Per certificate (sha256): failed OCSP attempts and when the next may start. */
  readonly #ocspRetry = new Map<string, { attempts: number; at: number }>();
  #lastOcspWarning = 0;
  #decidedByOcsp = 0;
  readonly #refused: Partial<Record<ValidationReason, number>> = {};
  #anchors: AnchorIndex;
  #fileAnchors = new Set<string>();
  #accepted = 0;
  #acceptedWithoutFreshCrl = 0;
  #lastStaleWarning = 0;
  readonly #tracked = new Set<string>();
  readonly #gaps = new RevocationGaps();
  readonly #seen: SeenIntermediates;
  /** The earliest deadline seen while judging the current chain (notAfter, revocation information). */
  #validUntil: ValidUntil | undefined;
  #dataVersionQuery: ReturnType<Store['prepare']> | undefined;
  /** Accepted verdicts by chain bytes (see VerifiedChainCache); cleared on every 'changed'. */
  readonly #verified = new VerifiedChainCache<{
    verdict: SensorVerdict & { ok: true };
    withoutFreshCrl: number;
  }>();

  constructor(options: {
    store: Store;
    settings: TrustSettings;
    clock: ClockFloor;
    log: Log;
    /** DER anchors from downstream.dtls.sensor_ca_files (imported with source 'file'). */
    fileAnchors: readonly Uint8Array[];
  }) {
    super();
    // First listener: the cache is empty before anyone re-checks live sessions on a change.
    this.on('changed', () => this.#verified.clear());
    this.#store = options.store;
    this.#settings = options.settings;
    this.#clock = options.clock;
    this.#log = options.log;
    this.#bundles = new TrustBundleStore(this.#store);
    this.#crls = new CrlStore(this.#store);
    this.#enrollments = new Enrollments(this.#store);
    this.#deny = new DenyList(this.#store);
    this.#names = new SensorNames(this.#store);
    this.#seen = new SeenIntermediates(this.#store);
    this.#authorization = new AuthorizationPolicy(options.settings.authorization);
    this.#validator = new PathValidator({
      policy: {
        allowedCurves: options.settings.allowed_curves,
        allowEd25519: options.settings.allow_ed25519,
        minRsaBits: options.settings.min_rsa_bits,
      },
      maxChainDepth: options.settings.max_chain_depth,
      deviceTypeOid: options.settings.device_type_oid,
      lenientSerials: options.settings.lenient_serials,
      lenientProfile: options.settings.lenient_profile,
    });
    this.#ocsp = options.settings.revocation.ocsp
      ? new OcspClient({ timeoutMs: options.settings.revocation.ocsp_timeout_ms })
      : undefined;
    this.#bundles.replaceDers('sensors', 'file', options.fileAnchors);
    this.#anchors = this.#loadAnchors();
    const revocation = options.settings.revocation;
    if (revocation.fetch) {
      this.#fetcher = new CrlFetcher({
        crlStore: this.#crls,
        fetchTimeoutMs: revocation.fetch_timeout_ms,
        maxCrlBytes: revocation.max_crl_bytes,
        refreshBeforeNextUpdateS: revocation.refresh_before_next_update_s,
        retryInitialMs: revocation.retry_initial_ms,
        retryMaxMs: revocation.retry_max_ms,
        now: () => this.#clock.now(),
      });
      this.#fetcher.on('updated', (update) => this.#crlLanded(update, update.url));
      this.#fetcher.on('failed', ({ url, ca, error, retryInMs }) =>
        this.#log.warn(
          {
            url,
            ca: ca.subject,
            signerKey: ca.signerKey,
            caSha256: ca.sha256,
            ski: ca.ski ?? null,
            code: error.code,
            status: error.status ?? null,
            retryInMs,
          },
          // Subject and thumbprint: two CAs may share a name, the operator must know which one.
          `CRL fetch for CA "${ca.subject}" (sha256 ${ca.sha256.join(', ')}) failed (validation goes on from the cache): ${error.message}`,
        ),
      );
    }
  }

  start(): void {
    this.#fetcher?.start();
  }

  stop(): void {
    this.#fetcher?.stop();
    this.#ocsp?.stop();
  }

  /**
   * Re-reads anchors, CRLs and the deny list (after gatewayctl changed them in the database), then
   * says so; enrollments are read on every decision already.
   */
  reload(why = 'operator change'): void {
    this.#anchors = this.#loadAnchors();
    this.#crls.reload();
    this.#deny.reload();
    this.emit('changed', why);
  }

  /** The whole decision on a chain the sensor presented (leaf first), at the clock floor's time. */
  verify(chain: readonly Uint8Array[]): SensorVerdict {
    const key = VerifiedChainCache.keyOf(chain);
    const now = this.#clock.now().getTime();
    const dataVersion = this.#dataVersion();
    const cached = this.#verified.get(key, now, dataVersion);
    if (cached) {
      this.#accepted++;
      // Counted as a fresh judgement would count it (the gaps per CA count distinct certificates).
      this.#acceptedWithoutFreshCrl += cached.withoutFreshCrl;
      // A copy: sessions keep their identity object (deadlines are noted against it).
      return { ...cached.verdict, identity: { ...cached.verdict.identity } };
    }
    this.#validUntil = undefined;
    const withoutFreshCrl = this.#acceptedWithoutFreshCrl;
    const byOcsp = this.#decidedByOcsp;
    const judged = this.#judge(chain);
    const verdict = judged.ok && this.#validUntil ? { ...judged, validUntil: this.#validUntil } : judged;
    if (verdict.ok) this.#accepted++;
    else this.#refused[verdict.refusal.reason] = (this.#refused[verdict.refusal.reason] ?? 0) + 1;
    // Not kept with OCSP: its answers refresh in the background as handshakes ask for them.
    if (verdict.ok && !this.#ocsp && byOcsp === this.#decidedByOcsp) {
      const entry = { verdict, withoutFreshCrl: this.#acceptedWithoutFreshCrl - withoutFreshCrl };
      const at = {
        now,
        expiresAt: verdict.validUntil?.at.getTime() ?? Number.POSITIVE_INFINITY,
        dataVersion,
      };
      this.#verified.set(key, entry, at);
      // A ticket-resumed session comes back with the leaf alone (OpenSSL keeps only the peer's leaf):
      // the leaf is remembered with this chain's verdict, under the same rules (same cache, same entry).
      const leaf = chain[0];
      if (chain.length > 1 && leaf) this.#verified.set(VerifiedChainCache.keyOf([leaf]), entry, at);
    }
    return verdict;
  }

  /**
   * Changes to what decisions read from the database (enrollments, name bindings): SQLite's
   * data_version counts other processes' commits (gatewayctl), trustWrites() this process's.
   */
  #dataVersion(): string {
    // Plucked once: pluck() is a native call, and this runs on every verdict (resumptions too).
    this.#dataVersionQuery ??= this.#store.prepare<[], number>('PRAGMA data_version').pluck();
    return `${this.#dataVersionQuery.get() as number}:${trustWrites()}`;
  }

  /** The time chains are judged at (the clock floor's now): live sessions' deadlines follow it. */
  now(): Date {
    return this.#clock.now();
  }

  authorize(identity: SensorIdentity, method: string, path: string): AuthorizationDecision {
    return this.#authorization.authorize(identity, method, path);
  }

  status(): SensorTrustStatus {
    const at = this.#clock.now();
    const enrollments = this.#enrollments.list();
    return {
      anchors: this.#bundles.ders('sensors', 'anchor').length,
      intermediates: this.#bundles.ders('sensors', 'intermediate').length,
      crls: this.#crls.list().map((crl) => ({
        issuer: crl.issuer,
        entries: crl.entries,
        thisUpdate: crl.thisUpdate.toISOString(),
        nextUpdate: crl.nextUpdate?.toISOString() ?? null,
        stale: crl.nextUpdate !== undefined && crl.nextUpdate < at,
      })),
      enrollments: {
        individual: enrollments.filter((entry) => entry.kind === 'individual').length,
        group: enrollments.filter((entry) => entry.kind === 'group').length,
      },
      denied: this.#deny.list().length,
      accepted: this.#accepted,
      refused: { ...this.#refused },
      acceptedWithoutFreshCrl: this.#acceptedWithoutFreshCrl,
      decidedByOcsp: this.#decidedByOcsp,
      clockBehindFloor: this.#clock.behind,
      revocation: {
        admittedWithoutRevocationInfo: this.#gaps.total,
        cas: this.#gaps.status(this.#crls.list(), at),
      },
      verifiedChains: {
        entries: this.#verified.size,
        hits: this.#verified.hits,
        misses: this.#verified.misses,
      },
    };
  }

  /** What a sensor worker's view admitted without revocation information since its last report. */
  drainRevocationGaps(): RevocationGapDelta[] {
    return this.#gaps.drain();
  }

  #judge(chain: readonly Uint8Array[]): SensorVerdict {
    this.#gaps.begin();
    const leaf = chain[0];
    if (!leaf) return refuse('malformed', 'no certificate presented', 0);
    const at = this.#clock.now();
    const thumbprint = createHash('sha256').update(leaf).digest('hex');
    const individual = this.#enrollments.get('individual', thumbprint);
    let validation: PathValidation = this.#validator.validate(chain, this.#anchors, at, this.#revocation);
    // A certificate trusted by its thumbprint alone (self-signed, or from a CA the gateway does not know).
    if (!validation.ok && individual && validation.refusal.reason === 'unknown-issuer') {
      this.#validUntil = undefined;
      validation = this.#validator.validateLeafOnly(leaf, at);
    }
    if (!validation.ok) return { ok: false, refusal: validation.refusal };
    // Its intermediates chain to an anchor: their CRLs can be imported (gatewayctl trust crl import).
    this.#seen.note(validation.path, at);
    for (const [depth, certificate] of validation.path.entries()) {
      this.#validUntil = earlierValidUntil(this.#validUntil, {
        // notAfter's whole second is still valid (timeRefusal compares whole seconds).
        at: new Date(certificate.notAfter.getTime() + 1000),
        cause: 'certificate-expiry',
        detail: `${depth === 0 ? 'the sensor certificate' : `"${certificate.subject}" (depth ${depth})`} has notAfter ${certificate.notAfter.toISOString()}`,
      });
    }
    const identity = validation.identity;
    const denied = this.#deny.match(identity);
    if (denied) {
      return refuse(
        'denied',
        `on the local deny list (${denied.kind} ${denied.value}${denied.reason ? `: ${denied.reason}` : ''})`,
        0,
      );
    }
    const cas = validation.path.slice(1).map((certificate) => certificate.sha256);
    const enrollment = this.#enrollments.judge(identity, cas);
    if (enrollment.ok) return this.#named({ ...identity, enrollment: enrollment.enrollment }, at);
    // Anchors the operator put in the config file are group enrollments without constraints.
    const anchor = cas.at(-1);
    if (enrollment.refusal.reason === 'not-enrolled' && anchor && this.#fileAnchors.has(anchor)) {
      return this.#named(
        { ...identity, enrollment: { kind: 'group', sha256: anchor, label: 'sensor_ca_files' } },
        at,
      );
    }
    return { ok: false, refusal: enrollment.refusal };
  }

  /**
   * The last check: the sensor's upstream name must be its enrollment's (the first enrollment to
   * present a name binds it). Another enrollment presenting it is refused with identity-conflict.
   */
  #named(identity: SensorIdentity, at: Date): SensorVerdict {
    const enrollment = identity.enrollment;
    if (!enrollment) return refuse('not-enrolled', 'no enrollment admitted the certificate', 0);
    const name = upstreamNameOf(identity, this.#settings.sensor_name_from);
    const key = enrollmentKeyOf(enrollment);
    const claim = this.#names.claim(name, key, { label: enrollment.label, subject: identity.subject }, at);
    if (claim.ok) {
      if (claim.created) this.#log.info({ name, enrollment: key }, `sensor name ${name} bound to ${key}`);
      this.#countRevocationGaps();
      return { ok: true, identity: { ...identity, upstreamName: name } };
    }
    const bound = claim.bound;
    const detail =
      `the sensor name ${JSON.stringify(name)} is bound to ${bound.enrollment}` +
      `${bound.label ? ` (${bound.label})` : ''} since ${bound.boundAt.toISOString()}, ` +
      `not to ${key}${enrollment.label ? ` (${enrollment.label})` : ''} that admitted ${identity.sha256}` +
      ` (\`gatewayctl sensors name release ${name}\` if the name should move)`;
    // Once a minute per name at most: a refused sensor retries its handshake.
    const warnedAt = this.#conflictWarnings.get(name) ?? 0;
    if (Date.now() - warnedAt < 60_000) return refuse('identity-conflict', detail, 0);
    if (this.#conflictWarnings.size > 1024) this.#conflictWarnings.clear();
    this.#conflictWarnings.set(name, Date.now());
    this.#log.warn(
      { name, bound: bound.enrollment, presented: key, sha256: identity.sha256, subject: identity.subject },
      `sensor refused: identity-conflict: ${detail}`,
    );
    return refuse('identity-conflict', detail, 0);
  }

  readonly #revocation: RevocationCheck = (
    certificate: CertificateFacts,
    issuer: CertificateFacts,
    at: Date,
  ) => {
    this.#trackDistributionPoints(certificate, issuer);
    const ocsp = this.#ocsp?.cached(certificate, issuer, at);
    this.#refreshOcsp(certificate, issuer, at, ocsp);
    if (ocsp?.status === 'revoked') {
      this.#decidedByOcsp++;
      const when = ocsp.revokedAt ? ` on ${ocsp.revokedAt.toISOString()}` : '';
      return {
        reason: 'revoked',
        detail: `revoked${when} (OCSP, reason ${ocsp.reason ?? 'unspecified'})`,
        depth: 0,
      };
    }
    // Keyed by the certificate's actual issuer on the validated path (name and key), never its name.
    const crl = this.#crls.crlInfo(issuer);
    const policy = crlPolicyFromConfig(this.#settings.bundles.sensors);
    const verdict = revocationVerdict({
      crl,
      revoked: this.#crls.isRevoked(issuer, certificate.serial),
      policy,
      at,
      namesDistributionPoint: certificate.crlDistributionPoints.length > 0,
    });
    if (verdict.status === 'good') {
      this.#validUntil = earlierValidUntil(this.#validUntil, crlValidUntil(policy, crl));
      return undefined;
    }
    // A fresh OCSP "good" is fresh revocation information where the CRL is missing or stale.
    if (verdict.status !== 'revoked' && ocsp?.status === 'good') {
      this.#decidedByOcsp++;
      if (ocsp.nextUpdate) {
        this.#validUntil = earlierValidUntil(this.#validUntil, {
          at: new Date(ocsp.nextUpdate.getTime() + 1),
          cause: 'revocation',
          detail: `the OCSP answer for "${certificate.subject}" has nextUpdate ${ocsp.nextUpdate.toISOString()}`,
        });
      }
      return undefined;
    }
    if (verdict.status === 'unknown-accepted') {
      this.#validUntil = earlierValidUntil(this.#validUntil, crlValidUntil(policy, crl));
      this.#acceptedWithoutFreshCrl++;
      this.#gaps.note(issuer, certificate, verdict.warning);
      // Once a minute at most: a stale CRL would otherwise log on every handshake.
      if (Date.now() - this.#lastStaleWarning > 60_000) {
        this.#lastStaleWarning = Date.now();
        this.#log.warn({ issuer: issuer.subject }, `sensor accepted without a fresh CRL: ${verdict.warning}`);
      }
      return undefined;
    }
    return verdict.refusal;
  };

  /**
   * Asks the certificate's OCSP responder in the background when the cached answer is missing or
   * due (a handshake never waits for it); a revoked answer re-checks live sessions.
   */
  #refreshOcsp(
    certificate: CertificateFacts,
    issuer: CertificateFacts,
    at: Date,
    answer: OcspStatus | undefined,
  ): void {
    const ocsp = this.#ocsp;
    if (!ocsp) return;
    const settings = this.#settings.revocation;
    if (
      answer?.nextUpdate &&
      answer.nextUpdate.getTime() - at.getTime() > settings.ocsp_refresh_before_next_update_s * 1000
    ) {
      return;
    }
    let url: string | undefined;
    try {
      url = ocspUrlOf(certificate);
    } catch {
      return; // a malformed authorityInfoAccess: no responder to ask
    }
    if (!url) return;
    const retry = this.#ocspRetry.get(certificate.sha256);
    if (retry && Date.now() < retry.at) return;
    // Hold further attempts while this one runs (and after it fails).
    const attempts = retry?.attempts ?? 0;
    this.#ocspRetry.set(certificate.sha256, {
      attempts: attempts + 1,
      at: Date.now() + retryDelayMs(attempts, settings.retry_initial_ms, settings.retry_max_ms, Math.random),
    });
    ocsp.check(certificate, issuer, this.#clock.now()).then(
      (status) => {
        this.#ocspRetry.delete(certificate.sha256);
        if (status.producedAt)
          this.#clock.observe('ocsp', status.producedAt, `OCSP answer for ${certificate.subject}`);
        if (status.status === 'revoked') this.emit('changed', `OCSP: ${certificate.subject} revoked`);
      },
      (error: { code?: string; message?: string }) => {
        if (Date.now() - this.#lastOcspWarning > 60_000) {
          this.#lastOcspWarning = Date.now();
          this.#log.warn(
            { url, code: error.code },
            `OCSP check failed (the CRL policy decides meanwhile): ${error.message}`,
          );
        }
      },
    );
  }

  /** The first time an issuer's CRL location is seen on a sensor's path, the fetcher keeps it fresh. */
  #trackDistributionPoints(certificate: CertificateFacts, issuer: CertificateFacts): void {
    if (!this.#fetcher || certificate.crlDistributionPoints.length === 0) return;
    const key = `${issuer.sha256} ${certificate.crlDistributionPoints.join(' ')}`;
    if (this.#tracked.has(key)) return;
    this.#tracked.add(key);
    this.#fetcher.track(issuer, certificate.crlDistributionPoints);
  }

  /** The chain was admitted: its certificates without revocation information count, per CA. */
  #countRevocationGaps(): void {
    for (const ca of this.#gaps.admitted()) {
      this.#log.warn(
        { issuer: ca.subject, ski: ca.ski ?? null },
        `a sensor of CA "${ca.subject}"${ca.ski ? ` (SKI ${ca.ski})` : ''} was admitted without revocation information: ${ca.warning}; import its CRL (gatewayctl trust crl import) or choose crl_policy = "hard-fail"; gatewayctl status counts these per CA`,
      );
    }
  }

  #loadAnchors(): AnchorIndex {
    this.#fileAnchors = new Set(
      this.#bundles
        .list('sensors')
        .filter((entry) => entry.source === 'file' && entry.role === 'anchor')
        .map((entry) => entry.sha256),
    );
    const index = new AnchorIndex(
      this.#bundles.ders('sensors', 'anchor'),
      this.#bundles.ders('sensors', 'intermediate'),
    );
    for (const skipped of index.skipped) {
      this.#log.warn({ sha256: skipped.sha256 }, `sensor trust bundle entry ignored: ${skipped.reason}`);
    }
    return index;
  }

  #crlLanded(result: CrlImportResult, source: string): void {
    this.#log.info(
      {
        issuer: result.issuer,
        entries: result.entries,
        nextUpdate: result.nextUpdate?.toISOString() ?? null,
        source,
      },
      `CRL for ${result.issuer} stored (${result.entries} revoked)`,
    );
    this.emit('changed', `CRL of ${result.issuer}`);
  }
}

function refuse(reason: ValidationReason, detail: string, depth: number): SensorVerdict {
  return { ok: false, refusal: { reason, detail, depth } };
}
