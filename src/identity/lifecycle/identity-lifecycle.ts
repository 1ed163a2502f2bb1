import { GatewayError } from '../../errors/index.js';
import type { KeyStore } from '../../keys/index.js';
import type { CsrProfile, X509Certificate } from '../../pki/index.js';
import { TlsClientContext } from '../../tls/index.js';
import { attestationAttribute } from '../attestation/index.js';
import { sameBytes } from '../certificate-material.js';
import {
  csrAttributesOrNone,
  EstClient,
  EstError,
  judgeCsrAttributes,
  type ProofOfPossessionMode,
  wantsChannelBinding,
} from '../est/index.js';
import { requestCertificate } from './csr-request.js';
import type { CertificateRecord, IdentityRecords, IdentityState } from './identity-records.js';
import { type RenewalPolicy, renewalTime, retryDelayMs } from './renewal-policy.js';
import { type LifecycleKey, RotationKeyRing, type RotationSlot } from './rotation-key-ring.js';

/** Where the EST server is and how the gateway authenticates to it. */
export interface EstSettings {
  url: string;
  label?: string;
  /** The EST server's explicit trust anchor(s), DER (from the factory image). */
  trustAnchors: Uint8Array[];
  basicAuth?: { username: string; password: string };
  timeoutMs: number;
  /** identity.est.proof_of_possession; default "auto". */
  proofOfPossession?: ProofOfPossessionMode;
}

/** The time validity is judged at (trust's ClockFloor). */
export interface LifecycleClock {
  now(): Date;
  readonly behind: boolean;
  remember(): void;
}

/** The structured events the lifecycle logs (pino-compatible). */
export interface LifecycleLog {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
  error(fields: object, message: string): void;
  /** Optional: the EST client's line about bytes ignored in a base64 body. */
  debug?(fields: object, message: string): void;
}

export interface IdentityLifecycleOptions {
  records: IdentityRecords;
  keys: KeyStore;
  /** An EVP_PKEY* signing with `keys` (keyStorePrivateKey), for the TLS client certificate. */
  privateKey: unknown;
  /** Fresh keys for renewals (identity.renewal.rotate_key); absent: renewals keep the key. */
  rotation?: RotationKeyRing;
  csrProfile: CsrProfile;
  est: EstSettings;
  policy: RenewalPolicy;
  clock: LifecycleClock;
  log: LifecycleLog;
  /** The EST CA certificates from /cacerts, for the upstream trust bundle. */
  caCertificatesReceived(certificates: X509Certificate[]): void;
  /**
   * Proves a pending identity before it is committed: a mutual-TLS connection with it. Default: a
   * /cacerts call to the EST server authenticated by the new certificate.
   */
  prove?(chain: X509Certificate[], context: TlsClientContext): Promise<void>;
  /** Called after the presented identity changed (committed, restored by rollback). */
  identityChanged?(): void;
  random?: () => number;
  /** identity.attestation = "tpm": TPM evidence in every new CSR (identity/attestation/). */
  attestation?: { pcrSelection: string };
}

export interface IdentityStatus {
  state: IdentityState;
  since: string;
  /** Which certificate the gateway presents now. */
  presenting: 'factory' | 'operational' | 'none';
  subject: string | null;
  issuer: string | null;
  serial: string | null;
  notAfter: string | null;
  expired: boolean;
  renewAt: string | null;
  keyBackend: string;
  hardwareBacked: boolean;
  /** Where the key of the presented certificate is: the factory key, or a rotated key's location. */
  keyLocation: string;
  attempts: number;
  nextAttemptAt: string | null;
  lastError: string | null;
  pending: { subject: string; serial: string } | null;
  est: string | null;
  /** The system clock is behind the clock floor: validity is judged at the floor. */
  clockBehindFloor: boolean;
  clockUsed: string;
}

/** Tolerated clock difference with the CA for notBefore. */
const NOT_BEFORE_SKEW_MS = 10 * 60_000;
/** setTimeout's limit is ~24.8 days; longer waits are taken in steps and re-evaluated. */
const MAX_TIMER_MS = 86_400_000;

/**
 * The gateway's own identity over time: factory → enrolling → operational → renewing → operational,
 * persisted in SQLite (IdentityRecords) so a restart — or a power cut at any point — resumes where it
 * stood. A new certificate is installed as pending, proven by a mutual-TLS connection, then committed;
 * a failed proof rolls back to the last good identity. Retries back off exponentially with jitter;
 * `202 Retry-After` is honoured. Runs by itself once started (zero touch); gatewayctl can ask it to
 * enrol, renew now or roll back.
 */
export class IdentityLifecycle {
  readonly #o: IdentityLifecycleOptions;
  readonly #random: () => number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;

  constructor(options: IdentityLifecycleOptions) {
    this.#o = options;
    this.#random = options.random ?? Math.random;
  }

  /** Starts the loop: recovers a pending certificate, then enrols or schedules renewal. */
  start(): void {
    this.#schedule(0);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running?.catch(() => undefined);
  }

  status(): IdentityStatus {
    const records = this.#o.records;
    const state = records.state();
    const active = records.active();
    const pending = records.pending();
    const now = this.#o.clock.now();
    const info = this.#o.keys.info;
    return {
      state: state.state,
      since: state.since.toISOString(),
      presenting: active && active.notAfter > now ? 'operational' : 'factory',
      subject: active?.subject ?? null,
      issuer: active?.issuer ?? null,
      serial: active?.serial ?? null,
      notAfter: active?.notAfter.toISOString() ?? null,
      expired: active ? active.notAfter <= now : false,
      renewAt: active ? this.#renewAt(active).toISOString() : null,
      keyBackend: info.backend,
      hardwareBacked: info.hardwareBacked,
      keyLocation: active?.keyRef ? this.#rotatedLocation(active.keyRef) : info.keyLocation,
      attempts: state.attempts,
      nextAttemptAt: state.nextAttemptAt?.toISOString() ?? null,
      lastError: state.lastError ?? null,
      pending: pending ? { subject: pending.subject, serial: pending.serial } : null,
      est: this.#o.est.url,
      clockBehindFloor: this.#o.clock.behind,
      clockUsed: now.toISOString(),
    };
  }

  /**
   * What the gateway presents upstream now: the operational chain and its key while that is valid,
   * else the factory chain and key (DER chain, leaf first; an EVP_PKEY signing in the KeyStore).
   */
  async presentedCredentials(): Promise<{ chain: Uint8Array[]; privateKey: unknown }> {
    const active = this.#o.records.active();
    if (active && active.notAfter > this.#o.clock.now()) {
      const key = await this.#keyFor(active.keyRef);
      return {
        chain: active.chain.map((certificate) => new Uint8Array(certificate.rawData)),
        privateKey: key.privateKey,
      };
    }
    return { chain: await this.#factoryChain(), privateKey: this.#o.privateKey };
  }

  /** gatewayctl identity enroll: enrol with the factory identity now, whatever the state. */
  enrollNow(): Promise<IdentityStatus> {
    return this.#commanded(() => this.#obtain('simpleenroll'));
  }

  /** gatewayctl identity renew --now: re-enrol with the operational identity now. */
  renewNow(): Promise<IdentityStatus> {
    if (!this.#o.records.active()) {
      return Promise.reject(
        new GatewayError('EGW_IDENTITY_NO_OPERATIONAL', 'there is no operational certificate to renew', {
          hint: 'run `gatewayctl identity enroll` (or wait for the automatic enrolment)',
        }),
      );
    }
    return this.#commanded(() => this.#obtain('simplereenroll'));
  }

  /** Runs an operator's request; a failure is recorded (and retried) as in the loop, then reported. */
  async #commanded(work: () => Promise<void>): Promise<IdentityStatus> {
    try {
      await this.#runExclusive(work);
    } catch (error) {
      this.#failed(error);
      if (error instanceof ProofHandled || error instanceof EnrollmentPending) {
        throw new GatewayError('EGW_IDENTITY_NOT_DONE', this.#o.records.state().lastError ?? 'not done', {
          hint: 'the gateway keeps its current identity and retries by itself; see `gatewayctl identity status`',
        });
      }
      throw error;
    }
    return this.status();
  }

  /** gatewayctl identity rollback: drop a pending certificate, or return to the previous one. */
  async rollback(): Promise<IdentityStatus> {
    await this.#runExclusive(() => this.#rollback());
    return this.status();
  }

  async #rollback(): Promise<void> {
    const records = this.#o.records;
    const previous = records.previous();
    if (records.pending()) {
      records.rollbackPending('operator rollback');
      this.#event(
        'warn',
        'rolled_back',
        { by: 'operator' },
        'pending certificate rolled back by the operator',
      );
    } else if (previous && previous.notAfter > this.#o.clock.now()) {
      // With key rotation, a later rotation may have reused the previous certificate's key slot.
      const key = await this.#keyFor(previous.keyRef);
      const leaf = previous.chain[0] as X509Certificate;
      if (!sameBytes(leaf.publicKey.rawData, await key.store.publicKey())) {
        throw new GatewayError(
          'EGW_IDENTITY_NOTHING_TO_ROLL_BACK',
          `the previous certificate ${previous.serial} is for a key that a later rotation replaced`,
          {
            hint: 'the gateway keeps its current identity; `gatewayctl identity renew --now` gets a new one',
          },
        );
      }
      const restored = records.reactivatePrevious();
      this.#o.identityChanged?.();
      this.#event(
        'warn',
        'rolled_back',
        { by: 'operator', serial: restored.serial },
        'returned to the previous certificate',
      );
    } else {
      throw new GatewayError(
        'EGW_IDENTITY_NOTHING_TO_ROLL_BACK',
        'no pending or previous valid certificate to roll back to',
        {
          hint: 'the gateway keeps its current identity',
        },
      );
    }
  }

  #schedule(delayMs: number): void {
    if (this.#stopped) return;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = setTimeout(
      () => {
        this.#timer = undefined;
        void this.#runExclusive(() => this.#tick()).catch(() => undefined);
      },
      Math.min(Math.max(0, delayMs), MAX_TIMER_MS),
    );
    this.#timer.unref();
  }

  /** One transition at a time: the loop and gatewayctl requests never interleave. */
  async #runExclusive(work: () => Promise<void>): Promise<void> {
    while (this.#running) await this.#running.catch(() => undefined);
    const run = work();
    this.#running = run;
    try {
      await run;
    } finally {
      if (this.#running === run) this.#running = undefined;
    }
  }

  async #tick(): Promise<void> {
    if (this.#stopped) return;
    const { records, clock, policy } = this.#o;
    clock.remember();
    try {
      if (records.pending()) {
        await this.#proveAndCommit('recovered after restart');
      }
      // Transitions run inside this loop, so "enrolling"/"renewing" seen here was cut short by a
      // crash or power loss: finish that job now.
      const interrupted = records.state().state;
      if (interrupted === 'renewing' && records.active()) {
        this.#event('warn', 'resumed', { interrupted }, 'renewal was interrupted (restart): renewing now');
        await this.#obtain('simplereenroll');
      } else if (interrupted === 'enrolling' && records.active()) {
        this.#event('warn', 'resumed', { interrupted }, 'enrolment was interrupted (restart): enrolling now');
        await this.#obtain('simpleenroll');
      }
      const state = records.state();
      const now = clock.now();
      if (state.nextAttemptAt && state.nextAttemptAt > now && state.attempts > 0) {
        this.#schedule(state.nextAttemptAt.getTime() - now.getTime());
        return;
      }
      const active = records.active();
      if (!active) {
        await this.#obtain('simpleenroll');
      } else if (active.notAfter <= now) {
        if (!policy.rebootstrapWhenExpired) {
          this.#event(
            'error',
            'expired',
            { notAfter: active.notAfter.toISOString() },
            'operational certificate EXPIRED and identity.renewal.rebootstrap_when_expired = false: waiting for an operator',
          );
          this.#schedule(MAX_TIMER_MS);
          return;
        }
        this.#event(
          'error',
          'rebootstrap',
          { notAfter: active.notAfter.toISOString() },
          'operational certificate EXPIRED: enrolling again with the FACTORY identity',
        );
        await this.#obtain('simpleenroll');
      } else if (this.#renewAt(active) <= now) {
        await this.#obtain('simplereenroll');
      }
    } catch (error) {
      this.#failed(error);
      return;
    }
    const active = records.active();
    if (active) this.#schedule(this.#renewAt(active).getTime() - clock.now().getTime());
  }

  /** Enrol (factory identity) or re-enrol (operational identity), then prove and commit. */
  async #obtain(operation: 'simpleenroll' | 'simplereenroll'): Promise<void> {
    const { records, est } = this.#o;
    const renewing = operation === 'simplereenroll';
    const target: IdentityState = renewing ? 'renewing' : 'enrolling';
    const previous = records.state();
    records.setState(target, { attempts: previous.attempts, lastError: previous.lastError });
    this.#event('info', target, { est: est.url, operation }, `${target} over EST ${operation}`);
    const active = records.active();
    const chain =
      renewing && active
        ? withoutRoot(active.chain).map((c) => new Uint8Array(c.rawData))
        : await this.#factoryChain();
    // TLS authenticates with the key of the certificate presented; the CSR is for the key to certify:
    // the same one, or a fresh one when renewals rotate keys.
    const authKeyRef = renewing ? active?.keyRef : undefined;
    const context = this.#context(chain, (await this.#keyFor(authKeyRef)).privateKey);
    let subjectRef = authKeyRef;
    try {
      const rotation = renewing ? this.#o.rotation : undefined;
      if (rotation) {
        const slot = RotationKeyRing.nextSlot(authKeyRef);
        subjectRef = slot;
        await rotation.create(slot);
        this.#event(
          'info',
          'key_created',
          { slot, location: this.#rotatedLocation(slot) },
          'fresh key created for this renewal',
        );
      }
      const subjectKey = await this.#keyFor(subjectRef);
      const client = this.#client(context);
      const caCertificates = await client.cacerts();
      this.#o.caCertificatesReceived(caCertificates);
      // Advice only: an unusable answer is logged with what the server said, the CSR goes without it.
      const wanted = await csrAttributesOrNone(client, (error) =>
        this.#event(
          'warn',
          'csrattrs_unusable',
          { code: error.code, status: error.status, said: error.bodyExcerpt ?? error.hint },
          `${error.message}; building the CSR without the server's attributes`,
        ),
      );
      const bound = wantsChannelBinding(est.proofOfPossession ?? 'auto', wanted);
      const verdict = judgeCsrAttributes(wanted, this.#o.csrProfile.deviceTypeOid, {
        channelBinding: bound,
      });
      this.#event('info', 'csrattrs', verdict, 'CSR attributes the EST server asked for');
      if (verdict.impossible.length > 0) {
        throw new EstError(
          'EGW_EST_CSR_ATTRIBUTES',
          `the EST server asks for ${verdict.impossible.join('; ')}, which this gateway's key cannot provide`,
          { hint: 'configure the EST CA profile for ECDSA P-256 with SHA-256 devices' },
        );
      }
      const attestation = this.#o.attestation;
      const attributes = attestation
        ? [await attestationAttribute(subjectKey.store, client, attestation.pcrSelection)]
        : [];
      const outcome = await requestCertificate(
        client,
        operation,
        subjectKey.store,
        this.#o.csrProfile,
        caCertificates,
        bound,
        attributes,
      );
      if (outcome.status === 'pending') {
        throw new EnrollmentPending(outcome.retryAfterMs);
      }
      await this.#checkIssued(outcome.chain, subjectKey);
      const pending = records.installPending(outcome.chain, operation, subjectRef);
      this.#event(
        'info',
        'pending',
        { serial: pending.serial, subject: pending.subject, notAfter: pending.notAfter.toISOString() },
        'new certificate installed as pending',
      );
    } finally {
      context.free();
    }
    await this.#proveAndCommit('new certificate');
  }

  async #proveAndCommit(why: string): Promise<void> {
    const { records } = this.#o;
    const pending = records.pending() as CertificateRecord;
    const context = this.#context(
      withoutRoot(pending.chain).map((c) => new Uint8Array(c.rawData)),
      (await this.#keyFor(pending.keyRef)).privateKey,
    );
    try {
      await (this.#o.prove ?? ((_chain, ctx) => this.#proveWithEst(ctx)))(pending.chain, context);
    } catch (error) {
      const reason = `proof of the new certificate failed: ${describe(error)}`;
      const attempts = records.state().attempts + 1;
      const next = new Date(
        this.#o.clock.now().getTime() + retryDelayMs(attempts, this.#o.policy, this.#random),
      );
      records.rollbackPending(reason, next, attempts);
      this.#event(
        'error',
        'rolled_back',
        { serial: pending.serial, reason },
        `${reason}; rolled back to the last good identity`,
      );
      this.#schedule(next.getTime() - this.#o.clock.now().getTime());
      throw new ProofHandled();
    } finally {
      context.free();
    }
    const active = records.commitPending();
    this.#o.identityChanged?.();
    this.#event(
      'info',
      'operational',
      {
        serial: active.serial,
        subject: active.subject,
        issuer: active.issuer,
        notAfter: active.notAfter.toISOString(),
        why,
      },
      'operational certificate committed',
    );
  }

  async #proveWithEst(context: TlsClientContext): Promise<void> {
    await this.#client(context).cacerts();
  }

  /** The new chain must be for our key and valid now, every certificate of it (an expired issuing CA too). */
  async #checkIssued(chain: X509Certificate[], key: LifecycleKey): Promise<void> {
    const certificate = chain[0] as X509Certificate;
    const ours = await key.store.publicKey();
    if (!sameBytes(certificate.publicKey.rawData, ours)) {
      throw new EstError(
        'EGW_EST_BAD_CERTIFICATE',
        `the issued certificate ${certificate.serialNumber} is not for this gateway's key`,
        { hint: 'the EST server mixed up requests: the gateway keeps its current identity and retries' },
      );
    }
    const now = this.#o.clock.now();
    for (const [index, member] of chain.entries()) {
      const what =
        index === 0 ? `the issued certificate ${member.serialNumber}` : `its CA "${member.subject}"`;
      if (member.notAfter <= now) {
        throw new EstError('EGW_EST_BAD_CERTIFICATE', `${what} expired at ${member.notAfter.toISOString()}`, {
          hint: 'the EST server issues from an expired CA: the gateway keeps its current identity and retries',
        });
      }
      // Behind the clock floor we cannot tell "not yet valid" from "our clock is wrong": never refuse for it.
      if (!this.#o.clock.behind && member.notBefore.getTime() > now.getTime() + NOT_BEFORE_SKEW_MS) {
        throw new EstError(
          'EGW_EST_BAD_CERTIFICATE',
          `${what} is not valid before ${member.notBefore.toISOString()}`,
          {
            hint: 'check the gateway clock (NTP) and the EST CA clock',
          },
        );
      }
    }
  }

  #failed(error: unknown): void {
    if (error instanceof ProofHandled) return;
    const { records, clock, policy } = this.#o;
    const state = records.state();
    const attempts = state.attempts + 1;
    let delay = retryDelayMs(attempts, policy, this.#random);
    if (error instanceof EnrollmentPending) {
      delay = error.retryAfterMs;
      this.#event(
        'info',
        'pending_at_server',
        { retryAfterMs: delay },
        `EST server says pending: retry in ${Math.round(delay / 1000)} s`,
      );
    }
    const next = new Date(clock.now().getTime() + delay);
    const fallback: IdentityState = records.active() ? 'operational' : 'factory';
    const message = error instanceof EnrollmentPending ? 'pending at the EST server' : describe(error);
    records.setState(fallback, { attempts, nextAttemptAt: next, lastError: message });
    if (!(error instanceof EnrollmentPending)) {
      this.#event(
        'warn',
        'retry',
        {
          attempts,
          nextAttemptAt: next.toISOString(),
          error: message,
          code: (error as { code?: string })?.code,
          hint: (error as { hint?: string })?.hint,
        },
        `identity ${fallback === 'factory' ? 'enrolment' : 'renewal'} failed (attempt ${attempts}); keeping the current identity, retry at ${next.toISOString()}`,
      );
    }
    this.#schedule(delay);
  }

  #renewAt(active: CertificateRecord): Date {
    // A stable jitter per certificate: the serial seeds it, so restarts do not move the date around.
    const seed = Number.parseInt(active.serial.slice(-6), 16) / 0xffffff;
    // The usable lifetime starts when we got the certificate: CAs back-date notBefore (clock skew),
    // which would otherwise put a short-lived certificate past its threshold on arrival.
    const start = new Date(Math.max(active.notBefore.getTime(), active.createdAt.getTime()));
    return renewalTime(start, active.notAfter, this.#o.policy, () => (Number.isFinite(seed) ? seed : 0.5));
  }

  async #factoryChain(): Promise<Uint8Array[]> {
    const { device, signer } = await this.#o.keys.certificates();
    if (!device) {
      throw new GatewayError(
        'EGW_IDENTITY_NO_FACTORY',
        'no factory certificate is installed for the identity key',
        {
          hint: 'provision the gateway first: gatewayctl provision factory',
        },
      );
    }
    return signer ? [device, signer] : [device];
  }

  /** The factory key (undefined) or a rotated key. */
  async #keyFor(ref: string | undefined): Promise<LifecycleKey> {
    if (ref === undefined) return { store: this.#o.keys, privateKey: this.#o.privateKey };
    const rotation = this.#o.rotation;
    if (!rotation) {
      throw new GatewayError(
        'EGW_IDENTITY_ROTATION_DISABLED',
        `the certificate is for rotated key ${ref}, but identity.renewal.rotate_key is off`,
        {
          hint: 'turn identity.renewal.rotate_key back on, or run `gatewayctl identity enroll` to return to the factory key',
        },
      );
    }
    return rotation.key(ref as RotationSlot);
  }

  #rotatedLocation(ref: string): string {
    return `rotated key ${ref.toUpperCase()}`;
  }

  #context(chain: Uint8Array[], privateKey: unknown): TlsClientContext {
    return new TlsClientContext({
      ca: this.#o.est.trustAnchors,
      certificateChain: chain,
      privateKey,
    });
  }

  #client(context: TlsClientContext): EstClient {
    const est = this.#o.est;
    return new EstClient({
      url: est.url,
      ...(est.label ? { label: est.label } : {}),
      context,
      ...(est.basicAuth ? { basicAuth: est.basicAuth } : {}),
      timeoutMs: est.timeoutMs,
      ...(this.#o.log.debug ? { log: { debug: (f: object, m: string) => this.#o.log.debug?.(f, m) } } : {}),
    });
  }

  #event(level: 'info' | 'warn' | 'error', event: string, fields: object, message: string): void {
    this.#o.log[level]({ event: `identity.${event}`, ...fields }, message);
  }
}

/** The server answered 202: not a failure, a wait. */
class EnrollmentPending extends Error {
  constructor(readonly retryAfterMs: number) {
    super('pending');
  }
}

/** A failed proof already rolled back and rescheduled. */
class ProofHandled extends Error {}

/** The chain a TLS client sends: leaf and intermediates, not the self-signed root. */
function withoutRoot(chain: X509Certificate[]): X509Certificate[] {
  return chain.filter((certificate, index) => index === 0 || certificate.subject !== certificate.issuer);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
