import { EventEmitter } from 'node:events';
import { TrustError } from '../trust-error.js';
import { CertificateFacts } from '../validation/index.js';
import { downloadCrl } from './crl-download.js';
import { CrlFetchError } from './crl-fetch-error.js';
import type { CrlImportResult, CrlStore } from './crl-store.js';
import { issuerCertificate } from './issuer-certificate.js';
import { retryDelayMs } from './retry-backoff.js';
import { signerKeyOf } from './signer-key.js';

export interface CrlFetcherOptions {
  crlStore: CrlStore;
  /** trust.revocation.fetch_timeout_ms */
  fetchTimeoutMs: number;
  /** trust.revocation.max_crl_bytes */
  maxCrlBytes: number;
  /** trust.revocation.refresh_before_next_update_s */
  refreshBeforeNextUpdateS: number;
  /** trust.revocation.retry_initial_ms */
  retryInitialMs: number;
  /** trust.revocation.retry_max_ms (also the refresh period of a CRL without nextUpdate) */
  retryMaxMs: number;
  /** The time CRLs are judged and stored at (the clock floor's now). */
  now?: () => Date;
  /** Jitter source, [0, 1). */
  random?: () => number;
}

/** A CRL newly imported from a distribution point. */
export type CrlUpdate = CrlImportResult & { url: string };

/** Which CA a fetch was for: the operator must tell two CAs with the same name apart. */
export interface CrlFetchCa {
  /** Its subject, as its certificate reads. */
  subject: string;
  /** `signerKeyOf` it: its key in the CrlStore (`gatewayctl trust crl list --json` shows it). */
  signerKey: string;
  /** SHA-256 (thumbprint) of each certificate of it the CRL is verified against. */
  sha256: string[];
  /** Its subjectKeyIdentifier (hex), when its certificate has one. */
  ski: string | undefined;
}

export interface CrlFetchFailure {
  url: string;
  /** The CA whose CRL did not come (not its name alone: two CAs may share one). */
  ca: CrlFetchCa;
  /** EGW_TRUST_FETCH_FAILED: `status` for an HTTP answer, `cause` for a refused CRL or network error. */
  error: CrlFetchError;
  /** Consecutive unsuccessful rounds for this issuer, this one included. */
  attempt: number;
  /** When the next round for this issuer starts. */
  retryInMs: number;
}

export interface CrlFetcherEvents {
  updated: [CrlUpdate];
  failed: [CrlFetchFailure];
}

/** One issuing CA (name and key) whose CRL is kept fresh. */
interface TrackedIssuer {
  /** `signerKeyOf` the CA: its key here and in the CrlStore. */
  signerKey: string;
  issuer: string;
  ski: string | undefined;
  /** Its certificates (DER): the candidates its CRL must verify against (several across a key rollover). */
  certificates: Map<string, Uint8Array>;
  urls: Set<string>;
  /** Unsuccessful rounds in a row (failed, or still due after a round). */
  attempt: number;
  timer: NodeJS.Timeout | undefined;
  nextAttemptAt: Date | undefined;
  running: Promise<void> | undefined;
}

/** setTimeout's largest delay; later dates are reached in several hops. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * Keeps the CRLs of tracked issuers fresh from their distribution points (http:// and https://):
 * fetches when no CRL is stored and again `refreshBeforeNextUpdateS` before nextUpdate; on failure
 * (or when the CA still serves the same CRL) retries with exponential backoff and full jitter.
 * Each fetch has a deadline and a size limit enforced while the body streams; what arrives is
 * imported through the CrlStore, so it is verified exactly like an operator-imported CRL.
 *
 * Emits 'updated' when a new CRL was imported (the daemon then re-checks live sessions) and
 * 'failed' for each distribution point that did not yield one.
 */
export class CrlFetcher extends EventEmitter<CrlFetcherEvents> {
  readonly #options: Required<CrlFetcherOptions>;
  readonly #issuers = new Map<string, TrackedIssuer>();
  readonly #inFlight = new Set<AbortController>();
  #started = false;

  constructor(options: CrlFetcherOptions) {
    super();
    this.#options = { now: () => new Date(), random: Math.random, ...options };
  }

  /**
   * Keeps the CRL of `issuer` (a CA certificate: DER, or its CertificateFacts) fresh from
   * `distributionPoints` (other schemes are ignored). Calling it again adds URLs and certificates.
   */
  track(issuer: CertificateFacts | Uint8Array, distributionPoints: readonly string[]): void {
    const certificate =
      issuer instanceof CertificateFacts ? issuer : issuerCertificate(issuer, 'issuer certificate to track');
    const urls = distributionPoints.filter((url) => /^https?:\/\//i.test(url));
    const signerKey = signerKeyOf(certificate);
    let tracked = this.#issuers.get(signerKey);
    if (!tracked) {
      tracked = {
        signerKey,
        issuer: certificate.subject,
        ski: certificate.subjectKeyId,
        certificates: new Map(),
        urls: new Set(),
        attempt: 0,
        timer: undefined,
        nextAttemptAt: undefined,
        running: undefined,
      };
      this.#issuers.set(signerKey, tracked);
    }
    tracked.certificates.set(certificate.sha256, certificate.der);
    for (const url of urls) tracked.urls.add(url);
    if (this.#started && !tracked.running) this.#schedule(tracked);
  }

  /** Stops keeping the CA's CRL fresh (by `signerKeyOf`; the stored CRL stays). */
  untrack(signerKey: string): void {
    const tracked = this.#issuers.get(signerKey);
    if (!tracked) return;
    this.#clearTimer(tracked);
    this.#issuers.delete(signerKey);
  }

  start(): void {
    if (this.#started) return;
    this.#started = true;
    for (const tracked of this.#issuers.values()) this.#schedule(tracked);
  }

  /** Clears every timer and aborts fetches in flight; nothing is left pending. */
  stop(): void {
    this.#started = false;
    for (const tracked of this.#issuers.values()) this.#clearTimer(tracked);
    for (const controller of this.#inFlight) controller.abort();
    this.#inFlight.clear();
  }

  /** Fetches every tracked issuer's CRL now (backoff reset); resolves when all rounds are done. */
  async refreshNow(): Promise<void> {
    await Promise.all(
      [...this.#issuers.values()].map(async (tracked) => {
        if (tracked.running) await tracked.running;
        tracked.attempt = 0;
        this.#clearTimer(tracked);
        await this.#round(tracked);
      }),
    );
  }

  /** Where each tracked issuer stands: for status output. */
  scheduled(): {
    issuer: string;
    signerKey: string;
    urls: string[];
    attempt: number;
    nextAttemptAt: Date | undefined;
  }[] {
    return [...this.#issuers.values()].map((tracked) => ({
      issuer: tracked.issuer,
      signerKey: tracked.signerKey,
      urls: [...tracked.urls],
      attempt: tracked.attempt,
      nextAttemptAt: tracked.nextAttemptAt,
    }));
  }

  /** Arms the issuer's timer: at its refresh time, or after the backoff while rounds keep failing. */
  #schedule(tracked: TrackedIssuer, delayMs = this.#refreshDelayMs(tracked)): void {
    this.#clearTimer(tracked);
    if (!this.#started || !this.#issuers.has(tracked.signerKey) || tracked.urls.size === 0) return;
    const delay = Math.max(0, delayMs);
    tracked.nextAttemptAt = new Date(this.#options.now().getTime() + delay);
    tracked.timer = setTimeout(
      () => {
        tracked.timer = undefined;
        // A timer clamped to MAX_TIMER_MS may wake before the refresh time: just re-arm.
        if (tracked.attempt === 0 && this.#refreshDelayMs(tracked) > 0) this.#schedule(tracked);
        else void this.#round(tracked);
      },
      Math.min(delay, MAX_TIMER_MS),
    );
  }

  #clearTimer(tracked: TrackedIssuer): void {
    if (tracked.timer) clearTimeout(tracked.timer);
    tracked.timer = undefined;
    tracked.nextAttemptAt = undefined;
  }

  /** Time until the stored CRL should be refreshed: now when there is none. */
  #refreshDelayMs(tracked: TrackedIssuer): number {
    const info = this.#options.crlStore.crlInfo(tracked.signerKey);
    if (!info) return 0;
    const now = this.#options.now().getTime();
    if (!info.nextUpdate) return info.fetchedAt.getTime() + this.#options.retryMaxMs - now;
    return info.nextUpdate.getTime() - this.#options.refreshBeforeNextUpdateS * 1000 - now;
  }

  /** One round: the distribution points in turn until one yields an importable CRL; then re-arm. */
  #round(tracked: TrackedIssuer): Promise<void> {
    const round = (async () => {
      const failures: { url: string; error: CrlFetchError }[] = [];
      for (const url of tracked.urls) {
        const controller = new AbortController();
        this.#inFlight.add(controller);
        try {
          const body = await downloadCrl(
            url,
            { timeoutMs: this.#options.fetchTimeoutMs, maxBytes: this.#options.maxCrlBytes },
            controller.signal,
          );
          if (controller.signal.aborted) return;
          const result = this.#options.crlStore.import(
            body,
            [...tracked.certificates.values()],
            url,
            this.#options.now(),
            { distributionPoint: url },
          );
          if (!result.unchanged) this.emit('updated', { ...result, url });
          break;
        } catch (cause) {
          if (controller.signal.aborted) return;
          failures.push({ url, error: asFetchError(url, cause) });
        } finally {
          this.#inFlight.delete(controller);
        }
      }
      if (this.#issuers.get(tracked.signerKey) !== tracked) return; // untracked meanwhile
      const refreshIn = this.#refreshDelayMs(tracked);
      let delay = refreshIn;
      if (failures.length > 0 || refreshIn <= 0) {
        // Nothing fresh came back: back off (a CA still serving the CRL we have counts too).
        delay = retryDelayMs(
          tracked.attempt,
          this.#options.retryInitialMs,
          this.#options.retryMaxMs,
          this.#options.random,
        );
        tracked.attempt++;
      } else {
        tracked.attempt = 0;
      }
      this.#schedule(tracked, delay);
      for (const failure of failures) {
        this.emit('failed', {
          ...failure,
          ca: {
            subject: tracked.issuer,
            signerKey: tracked.signerKey,
            sha256: [...tracked.certificates.keys()],
            ski: tracked.ski,
          },
          attempt: tracked.attempt,
          retryInMs: delay,
        });
      }
    })().finally(() => {
      if (tracked.running === round) tracked.running = undefined;
    });
    tracked.running = round;
    return round;
  }
}

function asFetchError(url: string, cause: unknown): CrlFetchError {
  if (cause instanceof CrlFetchError) return cause;
  if (cause instanceof TrustError) return new CrlFetchError(url, `CRL refused: ${cause.message}`, { cause });
  return new CrlFetchError(url, cause instanceof Error ? cause.message : String(cause), { cause });
}
