import { sameBytes } from '../../pki/index.js';
import { TrustError } from '../trust-error.js';
import type { CertificateFacts } from '../validation/index.js';
import { CertId } from './cert-id.js';
import { OcspCache } from './ocsp-cache.js';
import { OcspFetchError } from './ocsp-fetch-error.js';
import { postOcspRequest } from './ocsp-post.js';
import { buildOcspRequest } from './ocsp-request.js';
import { MAX_OCSP_RESPONSE_BYTES, OcspResponse } from './ocsp-response.js';
import type { OcspStatus } from './ocsp-status.js';
import { ocspUrlOf } from './ocsp-url.js';
import { DEFAULT_OCSP_SKEW_MS, verifyOcspResponse } from './ocsp-verification.js';

export interface OcspClientOptions {
  /** Deadline for one request, answer included (default 5 s). */
  timeoutMs?: number;
  /** Largest response accepted (default, and at most, MAX_OCSP_RESPONSE_BYTES: 64 KiB). */
  maxResponseBytes?: number;
  /** How far thisUpdate/producedAt may lie in the future (default 5 minutes). */
  skewMs?: number;
  /** Send a random nonce with each request (default true); an echo that differs is always refused. */
  sendNonce?: boolean;
  /** Refuse answers that do not echo the nonce (default false: pre-signed responses never do). */
  requireNonce?: boolean;
  /** Answers kept in memory at most (default 10,000). */
  cacheCapacity?: number;
}

/**
 * Asks the OCSP responder a certificate's CA names (authorityInfoAccess) about it, verifies the
 * answer strictly (RFC 6960) and keeps it until its nextUpdate, so that `cached()` can answer
 * synchronously — inside a DTLS handshake — and offline while the answer holds.
 */
export class OcspClient {
  readonly #cache: OcspCache;
  readonly #timeoutMs: number;
  readonly #maxResponseBytes: number;
  readonly #skewMs: number;
  readonly #sendNonce: boolean;
  readonly #requireNonce: boolean;
  /** One request per certificate at a time: background refreshes from many handshakes share it. */
  readonly #inFlight = new Map<string, Promise<OcspStatus>>();
  #abort = new AbortController();

  constructor(options: OcspClientOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5000;
    this.#maxResponseBytes = Math.min(
      options.maxResponseBytes ?? MAX_OCSP_RESPONSE_BYTES,
      MAX_OCSP_RESPONSE_BYTES,
    );
    this.#skewMs = options.skewMs ?? DEFAULT_OCSP_SKEW_MS;
    this.#sendNonce = options.sendNonce ?? true;
    this.#requireNonce = options.requireNonce ?? false;
    this.#cache = new OcspCache(options.cacheCapacity ?? 10_000);
  }

  /**
   * POSTs an OCSPRequest for `certificate` (issued by `issuer`) to the responder its
   * authorityInfoAccess names, verifies the answer at `at`, caches it until nextUpdate and returns
   * it. A request already in flight for the same certificate is shared. Rejects with TrustError:
   * EGW_TRUST_FETCH_FAILED (no OCSP URL, HTTP, timeout, size, a responseStatus other than
   * successful), EGW_TRUST_MALFORMED (not an OCSPResponse), or the OcspResponseError of the failed check.
   */
  check(certificate: CertificateFacts, issuer: CertificateFacts, at: Date): Promise<OcspStatus> {
    if (!sameBytes(certificate.issuerDer, issuer.subjectDer)) {
      return Promise.reject(
        new TrustError(
          'EGW_TRUST_INVALID_ARGUMENT',
          `"${issuer.subject}" is not the issuer of "${certificate.subject}" (issuer "${certificate.issuer}")`,
        ),
      );
    }
    const key = CertId.of(certificate, issuer).key;
    const running = this.#inFlight.get(key);
    if (running !== undefined) return running;
    const asking = this.#ask(certificate, issuer, at).finally(() => this.#inFlight.delete(key));
    this.#inFlight.set(key, asking);
    return asking;
  }

  /**
   * The verified answer held for `certificate` if `at` is before its nextUpdate, else undefined.
   * Synchronous and offline: for the DTLS handshake, which refreshes through `check()` in the background.
   */
  cached(certificate: CertificateFacts, issuer: CertificateFacts, at: Date): OcspStatus | undefined {
    return this.#cache.get(CertId.of(certificate, issuer).key, at, this.#skewMs);
  }

  /** Abandons the requests in flight (they reject with EGW_TRUST_FETCH_FAILED); the cache stays. */
  stop(): void {
    this.#abort.abort();
    this.#abort = new AbortController();
  }

  async #ask(certificate: CertificateFacts, issuer: CertificateFacts, at: Date): Promise<OcspStatus> {
    const url = ocspUrlOf(certificate);
    if (url === undefined) {
      throw new OcspFetchError(
        undefined,
        `"${certificate.subject}" names no OCSP responder (no http(s) id-ad-ocsp URI in authorityInfoAccess)`,
      );
    }
    const request = buildOcspRequest(certificate, issuer, { nonce: this.#sendNonce });
    const body = await postOcspRequest(
      url,
      request.der,
      { timeoutMs: this.#timeoutMs, maxBytes: this.#maxResponseBytes },
      this.#abort.signal,
    );
    const status = verifyOcspResponse(OcspResponse.parse(body), {
      certId: request.certId,
      issuer,
      nonce: request.nonce,
      requireNonce: this.#requireNonce,
      at,
      skewMs: this.#skewMs,
    });
    this.#cache.put(request.certId.key, status);
    return status;
  }
}
