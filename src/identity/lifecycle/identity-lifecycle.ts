import { GatewayError } from '../../errors/index.js';
import type { KeyStore } from '../../keys/index.js';
import type { CsrProfile, X509Certificate } from '../../pki/index.js';
import { TlsClientContext } from '../../tls/index.js';
import { attestationAttribute, attestationError, deviceAttestationAttribute } from '../attestation/index.js';
import { sameBytes } from '../certificate-material.js';
import {
  checkIssuedCertificate,
  csrAttributesOrNone,
  type EnrollOutcome,
  EstClient,
  EstError,
  type IssuedNamesRule,
  isAbandoned,
  judgeCsrAttributes,
  type ProofOfPossessionMode,
  wantsChannelBinding,
} from '../est/index.js';
import { requestCertificate } from './csr-request.js';
import {
  abandoned,
  answerOf,
  type EnrollmentRequestStatus,
  keepsCsr,
  requestStatus,
} from './enrollment-request.js';
import type {
  CertificateRecord,
  EnrollmentRequestRecord,
  IdentityRecords,
  IdentityState,
} from './identity-records.js';
import { type RenewalPolicy, renewalTime, retryDelayMs } from './renewal-policy.js';
import { type LifecycleKey, RotationKeyRing, type RotationSlot } from './rotation-key-ring.js';

/** A request pending at the EST server longer than this is abandoned (identity.renewal.abandon_pending_after_ms). */
const DEFAULT_ABANDON_PENDING_AFTER_MS = 7 * 86_400_000;

/** Where the EST server is and how the gateway authenticates to it. */
export interface EstSettings {
  url: string;
  label?: string;
  /** The EST server's explicit trust anchor(s), DER (from the factory image). */
  trustAnchors: Uint8Array[];
  basicAuth?: { username: string; password: string };
  timeoutMs: number;
  /** identity.est.issued_names: what an issued certificate may be named; default "csr". */
  issuedNames?: IssuedNamesRule;
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
  /**
   * identity.attestation: TPM evidence ("tpm") or the ATECC608A's manufacturer chain and a device-key
   * signature ("atecc608") in every new CSR (identity/attestation/).
   */
  attestation?: { mode?: 'tpm'; pcrSelection: string } | { mode: 'atecc608' };
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
  /** The enrolment/re-enrolment owed to the EST server (pending there, or failed and retried). */
  request: EnrollmentRequestStatus | null;
  est: string | null;
  /** The system clock is behind the clock floor: validity is judged at the floor. */
  clockBehindFloor: boolean;
  clockUsed: string;
}

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
  /** Aborted by stop(): an EST call in flight ends at once instead of holding the daemon's stop. */
  readonly #abort = new AbortController();
  readonly #eventCounts: Record<string, number> = {};

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
    this.#abort.abort();
    await this.#running?.catch(() => undefined);
  }

  status(): IdentityStatus {
    const records = this.#o.records;
    const state = records.state();
    const active = records.active();
    const pending = records.pending();
    const request = records.request();
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
      request: request
        ? requestStatus(request, state.nextAttemptAt, (ref) =>
            ref ? this.#rotatedLocation(ref) : info.keyLocation,
          )
        : null,
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
    return this.#commanded(() => this.#obtain('simpleenroll', 'operator'));
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
    return this.#commanded(() => this.#obtain('simplereenroll', 'operator'));
  }

  /** Runs an operator's request; a failure is recorded (and retried) as in the loop, then reported. */
  async #commanded(work: () => Promise<void>): Promise<IdentityStatus> {
    try {
      await this.#runExclusive(work);
    } catch (error) {
      if (isAbandoned(error)) {
        this.#abandoned(error);
        throw error;
      }
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
      } else if (records.request()) {
        // Owed: pending at the server, or an operator's renewal that failed — retried on the backoff.
        await this.#obtain((records.request() as EnrollmentRequestRecord).operation);
      } else if (this.#renewAt(active) <= now) {
        await this.#obtain('simplereenroll');
      }
    } catch (error) {
      if (isAbandoned(error)) this.#abandoned(error);
      else this.#failed(error);
      return;
    }
    const active = records.active();
    if (active) this.#schedule(this.#renewAt(active).getTime() - clock.now().getTime());
  }

  /** Enrol (factory identity) or re-enrol (operational identity), then prove and commit. */
  async #obtain(
    operation: 'simpleenroll' | 'simplereenroll',
    origin: 'automatic' | 'operator' = 'automatic',
  ): Promise<void> {
    const { records, est } = this.#o;
    const renewing = operation === 'simplereenroll';
    const target: IdentityState = renewing ? 'renewing' : 'enrolling';
    const previous = records.state();
    records.setState(target, { attempts: previous.attempts, lastError: previous.lastError });
    this.#event('info', target, { est: est.url, operation }, `${target} over EST ${operation}`);
    try {
      await this.#exchange(operation, origin);
    } catch (error) {
      // Given up because the daemon stops: the state is as it was (a pending certificate, if one was
      // installed, stays pending and is proven after the next start, as after a power cut).
      if (isAbandoned(error)) {
        const { state, attempts, nextAttemptAt, lastError } = previous;
        records.setState(state, { attempts, nextAttemptAt, lastError });
      }
      throw error;
    }
  }

  /** #obtain's exchange with the EST server: the request, the answer checked, installed, proven. */
  async #exchange(
    operation: 'simpleenroll' | 'simplereenroll',
    origin: 'automatic' | 'operator',
  ): Promise<void> {
    const { records, est } = this.#o;
    const renewing = operation === 'simplereenroll';
    const active = records.active();
    const chain =
      renewing && active
        ? withoutRoot(active.chain).map((c) => new Uint8Array(c.rawData))
        : await this.#factoryChain();
    // TLS authenticates with the key of the certificate presented; the CSR is for the key to certify:
    // the same one, or a fresh one when renewals rotate keys.
    const authKeyRef = renewing ? active?.keyRef : undefined;
    const context = this.#context(chain, (await this.#keyFor(authKeyRef)).privateKey);
    try {
      const { subjectRef, subjectKey, reuse } = await this.#requestKey(operation, origin, authKeyRef);
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
      const verdict = judgeCsrAttributes(wanted, this.#o.csrProfile.deviceTypeOid, { channelBinding: bound });
      this.#event('info', 'csrattrs', verdict, 'CSR attributes the EST server asked for');
      if (verdict.impossible.length > 0) {
        throw new EstError(
          'EGW_EST_CSR_ATTRIBUTES',
          `the EST server asks for ${verdict.impossible.join('; ')}, which this gateway's key cannot provide`,
          { hint: 'configure the EST CA profile for ECDSA P-256 with SHA-256 devices' },
        );
      }
      const publicKey = await subjectKey.store.publicKey();
      let sent: { outcome: EnrollOutcome; csrDer: Uint8Array };
      try {
        // A repeated request (after a 202) carries the evidence it was first sent with.
        const attestation = this.#o.attestation && !(reuse && !bound) ? this.#o.attestation : undefined;
        const attributes = attestation
          ? [
              await (attestation.mode === 'atecc608'
                ? // The factory (slot-0) key vouches for the CSR key, a rotated one included.
                  deviceAttestationAttribute((await this.#keyFor(undefined)).store, publicKey, client)
                : attestationAttribute(subjectKey.store, client, attestation.pcrSelection)
              ).catch((error: unknown) => {
                throw attestationError(error);
              }),
            ]
          : [];
        sent = await requestCertificate(
          client,
          operation,
          subjectKey.store,
          this.#o.csrProfile,
          caCertificates,
          bound,
          {
            // RFC 7030 §4.2.3: after a 202 the same request (a bound CSR differs only by its binding).
            ...(reuse && !bound ? { reuse } : {}),
            built: (der) => records.setRequestCsr(subjectRef, der, publicKey, reuse !== undefined),
            attributes,
          },
        );
      } catch (error) {
        if (!isAbandoned(error)) this.#noteFailedAnswer(error);
        throw error;
      }
      const { outcome, csrDer } = sent;
      if (outcome.status === 'pending') {
        records.noteRequestAnswer(202, outcome.message, true);
        throw new EnrollmentPending(outcome.retryAfterMs, outcome.message);
      }
      this.#checkIssued(outcome.chain, csrDer, publicKey, caCertificates);
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
      // Not a failed proof: the daemon stops. The certificate stays pending, proven after the next start.
      if (isAbandoned(error)) throw error;
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

  /** The answer checked before it is installed; a refusal is logged and the request made anew. */
  #checkIssued(
    chain: X509Certificate[],
    csrDer: Uint8Array,
    publicKey: Uint8Array,
    caCertificates: X509Certificate[],
  ): void {
    const { est, clock } = this.#o;
    try {
      checkIssuedCertificate({
        chain,
        csrDer,
        publicKey,
        anchors: [...est.trustAnchors, ...caCertificates],
        now: clock.now(),
        clockBehind: clock.behind,
        names: est.issuedNames ?? 'csr',
      });
    } catch (error) {
      this.#noteFailedAnswer(error);
      throw error;
    }
  }

  /** The server's answer to the request, in the state DB; a refused certificate is logged loudly. */
  #noteFailedAnswer(error: unknown): void {
    const { records } = this.#o;
    const answer = answerOf(error);
    records.noteRequestAnswer(answer.status, answer.text, true);
    if (!keepsCsr(error)) records.dropRequestCsr();
    if (error instanceof EstError && error.code === 'EGW_EST_BAD_CERTIFICATE') {
      this.#event(
        'error',
        'certificate_refused',
        { reason: error.message, hint: error.hint },
        `the certificate the EST server issued is refused: ${error.message}; keeping the current identity`,
      );
    }
  }

  /**
   * The key the request is for, and the CSR to send again if one is pending for it: with rotation a
   * fresh key is made in the spare slot only when no request for that slot is pending (a CA that
   * approves per key would otherwise see a new request at every retry).
   */
  async #requestKey(
    operation: 'simpleenroll' | 'simplereenroll',
    origin: 'automatic' | 'operator',
    authKeyRef: string | undefined,
  ): Promise<{ subjectRef: string | undefined; subjectKey: LifecycleKey; reuse: Uint8Array | undefined }> {
    const { records, clock, policy } = this.#o;
    let request = records.request();
    if (request?.operation !== operation) {
      if (request) {
        this.#event(
          'warn',
          'request_replaced',
          { was: request.operation, now: operation },
          `the owed ${request.operation} request is replaced by ${operation}`,
        );
      }
      records.openRequest(operation, origin);
      request = records.request() as EnrollmentRequestRecord;
    }
    const rotation = operation === 'simplereenroll' ? this.#o.rotation : undefined;
    const subjectRef = rotation ? RotationKeyRing.nextSlot(authKeyRef) : authKeyRef;
    const limitMs = policy.abandonPendingAfterMs ?? DEFAULT_ABANDON_PENDING_AFTER_MS;
    if (request.csrDer && abandoned(request, clock.now(), limitMs)) {
      this.#event(
        'warn',
        'request_abandoned',
        { since: request.csrCreatedAt?.toISOString(), sent: request.sent },
        `the request pending since ${request.csrCreatedAt?.toISOString()} is abandoned (identity.renewal.abandon_pending_after_ms): a new one is made`,
      );
      records.dropRequestCsr();
      request = records.request() as EnrollmentRequestRecord;
    }
    if (request.csrDer && request.keyRef === subjectRef && request.publicKey) {
      const key = await this.#keyFor(subjectRef);
      if (sameBytes(await key.store.publicKey(), request.publicKey)) {
        this.#event(
          'info',
          'request_repeated',
          { key: subjectRef ?? 'factory', sent: request.sent },
          'sending the same request again (same key and CSR)',
        );
        return { subjectRef, subjectKey: key, reuse: request.csrDer };
      }
      // The key of the pending request is gone (replaced outside the gateway): start over.
      records.dropRequestCsr();
    }
    if (rotation && subjectRef) {
      await rotation.create(subjectRef as RotationSlot);
      this.#event(
        'info',
        'key_created',
        { slot: subjectRef, location: this.#rotatedLocation(subjectRef) },
        'fresh key created for this renewal',
      );
    }
    return { subjectRef, subjectKey: await this.#keyFor(subjectRef), reuse: undefined };
  }

  /** An EST call given up because the daemon stops: no attempt counted, no retry scheduled. */
  #abandoned(error: unknown): void {
    this.#event('info', 'abandoned', { reason: describe(error) }, 'EST request abandoned: stopping');
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
        { retryAfterMs: delay, said: error.said },
        `EST server says pending: the same request again in ${Math.round(delay / 1000)} s`,
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
      signal: this.#abort.signal,
      ...(this.#o.log.debug ? { log: { debug: (f: object, m: string) => this.#o.log.debug?.(f, m) } } : {}),
    });
  }

  #event(level: 'info' | 'warn' | 'error', event: string, fields: object, message: string): void {
    this.#eventCounts[event] = (this.#eventCounts[event] ?? 0) + 1;
    this.#o.log[level]({ event: `identity.${event}`, ...fields }, message);
  }

  /** How often each lifecycle event (the log's identity.<event>) happened since start, for metrics. */
  eventCounts(): Readonly<Record<string, number>> {
    return this.#eventCounts;
  }
}

/** The server answered 202: not a failure, a wait. */
class EnrollmentPending extends Error {
  constructor(
    readonly retryAfterMs: number,
    readonly said = '',
  ) {
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
