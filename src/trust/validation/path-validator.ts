import { hash } from 'node:crypto';
import type { SensorIdentity } from '../sensor-identity.js';
import type { Refusal } from '../validation-reason.js';
import { keyRefusal, signatureAlgorithmRefusal } from './algorithm-policy.js';
import type { AnchorIndex } from './anchor-index.js';
import {
  criticalExtensionRefusal,
  deviceTypeRefusal,
  issuerEkuRefusal,
  issuerRefusal,
  sensorUsageRefusal,
  serialRefusal,
  timeRefusal,
} from './certificate-checks.js';
import { CertificateFacts, MAX_CERTIFICATE_BYTES } from './certificate-facts.js';
import { certificateLabel } from './certificate-label.js';
import { profileRefusal } from './certificate-profile.js';
import { type IssuerSearch, issuerCandidates, noIssuerRefusal, selfSigned } from './issuer-search.js';
import { LruCache } from './lru-cache.js';
import { endEntityNameConstraintsRefusal, nameConstraintsRefusal } from './name-constraints.js';
import type {
  PathValidation,
  PathValidatorOptions,
  RevocationCheck,
  ValidationStats,
} from './path-validation.js';
import { sensorIdentityOf } from './sensor-identity-of.js';
import { type SignatureVerdict, signatureRefusal, verifySignature } from './signature-check.js';
import { ValidationFailure } from './validation-failure.js';

/** Issuer candidates tried per validation: cross-signed CAs branch, this bounds the search. */
const MAX_LINK_ATTEMPTS = 32;

type Built =
  | { ok: true; path: CertificateFacts[] }
  | { ok: false; refusal: Refusal; path: CertificateFacts[] };

/**
 * RFC 5280 path validation for sensor certificates (the subset the gateway needs: no policy
 * processing), run synchronously in the DTLS handshake. Parsed certificates and signature
 * verdicts are cached by SHA-256, so validating a known chain again costs lookups and byte comparisons.
 *
 * Order of checks: the encoding of every presented certificate (one that does not parse refuses the
 * presentation, even an unneeded one); the sensor certificate alone (time,
 * algorithms, critical extensions, key usage, EKU); then each issuer while building the path (chain
 * length, time, key, its own signature algorithm, critical extensions, CA-ness, keyCertSign,
 * pathLenConstraint, EKU chaining, then the signature it made, then its name constraints on the
 * certificates below it); finally revocation, from the anchor down.
 */
export class PathValidator {
  readonly #options: Required<PathValidatorOptions>;
  readonly #certificates: LruCache<string, CertificateFacts | ValidationFailure>;
  /**
   * The same entries by their last bytes (signature bytes, in effect random), confirmed by comparing
   * all bytes: finds a known certificate without hashing it, which is most of a cached validation.
   */
  readonly #recentBytes: LruCache<number, { der: Uint8Array; result: CertificateFacts | ValidationFailure }>;
  /** Verdicts by child SHA-256, then issuer SHA-256 (two lookups with the facts' own strings beat one concatenated key). */
  readonly #signatures: LruCache<string, Map<string, SignatureVerdict>>;
  /** The identity last read for a sensor certificate, with the path it was read from. */
  readonly #identities = new WeakMap<
    CertificateFacts,
    { path: readonly CertificateFacts[]; identity: SensorIdentity }
  >();
  /** The time-independent sensor checks' verdict per sensor certificate (null: passed). */
  readonly #sensorVerdicts = new WeakMap<CertificateFacts, Refusal | null>();
  /**
   * The time-independent checks of an issuer at a place in a path (depth, anchor or not, non-self-issued
   * certificates below), judged once per validator: a known chain then costs the time check, the
   * signature cache and the name constraints only.
   */
  readonly #issuerVerdicts = new WeakMap<CertificateFacts, Map<string, Refusal | null>>();
  readonly #counts = {
    validations: 0,
    certificatesParsed: 0,
    certificateCacheHits: 0,
    signatureChecks: 0,
    signatureCacheHits: 0,
  };

  constructor(options: PathValidatorOptions) {
    if (!Number.isInteger(options.maxChainDepth) || options.maxChainDepth < 0) {
      throw new RangeError(`maxChainDepth must be a non-negative integer, got ${options.maxChainDepth}`);
    }
    this.#options = {
      ...options,
      cacheSize: options.cacheSize ?? 10_000,
      lenientSerials: options.lenientSerials ?? false,
      lenientProfile: options.lenientProfile ?? false,
    };
    this.#certificates = new LruCache(this.#options.cacheSize);
    this.#signatures = new LruCache(this.#options.cacheSize);
    this.#recentBytes = new LruCache(this.#options.cacheSize);
  }

  /** `presented`: the chain the sensor sent, sensor first; extra or unordered intermediates are fine. */
  validate(
    presented: readonly Uint8Array[],
    anchors: AnchorIndex,
    at: Date,
    revocation?: RevocationCheck,
  ): PathValidation {
    this.#counts.validations++;
    if (presented.length === 0) {
      return { ok: false, refusal: { reason: 'malformed', detail: 'no certificate presented', depth: 0 } };
    }
    // The sensor's, max_chain_depth intermediates and (optionally) the anchor itself.
    const most = this.#options.maxChainDepth + 2;
    if (presented.length > most) {
      return {
        ok: false,
        refusal: {
          reason: 'chain-too-long',
          detail: `${presented.length} certificates presented, at most ${most} are accepted (max_chain_depth ${this.#options.maxChainDepth})`,
          depth: most,
        },
      };
    }
    const certificates: CertificateFacts[] = [];
    for (const [position, der] of presented.entries()) {
      const certificate = this.#certificate(der, anchors);
      if (certificate instanceof ValidationFailure) return presentedRefusal(certificate, position);
      certificates.push(certificate);
    }
    const sensor = certificates[0] as CertificateFacts;
    const sensorRefusal = this.#sensorRefusal(sensor, at);
    if (sensorRefusal !== undefined) return { ok: false, refusal: sensorRefusal, path: [sensor] };

    const built = this.#extend([sensor], { presented: certificates, anchors, at, attempts: 0 });
    if (!built.ok) return built;
    const path = built.path;
    if (revocation !== undefined) {
      for (let depth = path.length - 2; depth >= 0; depth--) {
        const refusal = revocation(path[depth] as CertificateFacts, path[depth + 1] as CertificateFacts, at);
        if (refusal !== undefined) return { ok: false, refusal, path };
      }
    }
    return { ok: true, path, identity: this.#identity(path) };
  }

  /**
   * For a certificate trusted by its thumbprint alone (individual enrollment, may be self-signed):
   * the sensor checks, plus its self-signature when it is self-signed; no path.
   */
  validateLeafOnly(der: Uint8Array, at: Date): PathValidation {
    this.#counts.validations++;
    const sensor = this.#certificate(der, undefined);
    if (sensor instanceof ValidationFailure) return presentedRefusal(sensor, 0);
    const refusal = this.#sensorRefusal(sensor, at);
    if (refusal !== undefined) return { ok: false, refusal, path: [sensor] };
    if (selfSigned(sensor)) {
      const verdict = this.#verdict(sensor, sensor);
      if (verdict !== 'valid') {
        return { ok: false, refusal: signatureRefusal(verdict, sensor, 0, sensor, 0), path: [sensor] };
      }
    }
    return { ok: true, path: [sensor], identity: this.#identity([sensor]) };
  }

  stats(): ValidationStats {
    let cachedSignatures = 0;
    for (const byIssuer of this.#signatures.values()) cachedSignatures += byIssuer.size;
    return { ...this.#counts, cachedCertificates: this.#certificates.size, cachedSignatures };
  }

  #certificate(der: Uint8Array, anchors: AnchorIndex | undefined): CertificateFacts | ValidationFailure {
    if (der.length > MAX_CERTIFICATE_BYTES) {
      // Refused before hashing or caching: a stream of huge certificates must stay cheap.
      return ValidationFailure.of(
        'oversized',
        `certificate is ${der.length} bytes, at most ${MAX_CERTIFICATE_BYTES} are accepted`,
      );
    }
    const tail = tailKey(der);
    const recent = this.#recentBytes.get(tail);
    if (
      recent !== undefined &&
      Buffer.from(recent.der.buffer, recent.der.byteOffset, recent.der.length).equals(der)
    ) {
      this.#counts.certificateCacheHits++;
      return recent.result;
    }
    const sha256 = hash('sha256', der, 'hex');
    const cached = this.#certificates.get(sha256) ?? anchors?.known(sha256);
    if (cached !== undefined) {
      this.#counts.certificateCacheHits++;
      this.#recentBytes.set(tail, {
        der: cached instanceof CertificateFacts ? cached.der : new Uint8Array(der),
        result: cached,
      });
      return cached;
    }
    this.#counts.certificatesParsed++;
    let parsed: CertificateFacts | ValidationFailure;
    try {
      parsed = CertificateFacts.parse(der);
    } catch (error) {
      if (!(error instanceof ValidationFailure)) throw error;
      parsed = error; // a refused encoding stays refused: remember it too
    }
    this.#recentBytes.set(tail, {
      der: parsed instanceof CertificateFacts ? parsed.der : new Uint8Array(der),
      result: parsed,
    });
    this.#certificates.set(sha256, parsed);
    return parsed;
  }

  /** Checks of the sensor certificate that do not depend on its issuer. */
  #sensorRefusal(sensor: CertificateFacts, at: Date): Refusal | undefined {
    const timely = timeRefusal(sensor, 0, at);
    if (timely !== undefined) return timely;
    // The rest depends on the certificate and the options alone: judged once per certificate.
    let verdict = this.#sensorVerdicts.get(sensor);
    if (verdict === undefined) {
      verdict =
        serialRefusal(sensor, 0, this.#options.lenientSerials) ??
        signatureAlgorithmRefusal(sensor, 0) ??
        keyRefusal(sensor, 0, this.#options.policy) ??
        criticalExtensionRefusal(sensor, 0, this.#options.deviceTypeOid) ??
        sensorUsageRefusal(sensor) ??
        profileRefusal(sensor, 0, false, this.#options.lenientProfile) ??
        endEntityNameConstraintsRefusal(sensor) ??
        deviceTypeRefusal(sensor, this.#options.deviceTypeOid) ??
        null;
      this.#sensorVerdicts.set(sensor, verdict);
    }
    return verdict === null ? undefined : { ...verdict }; // a copy: callers may annotate theirs
  }

  /**
   * Depth-first path building from the last certificate of `path` to an anchor: anchors first, then
   * the presented certificates, then the index's intermediates. When every candidate fails, the first
   * candidate's refusal is the answer (the most trusted one explains best why it did not work).
   */
  #extend(path: CertificateFacts[], search: IssuerSearch): Built {
    const child = path[path.length - 1] as CertificateFacts;
    const candidates = issuerCandidates(child, path, search);
    if (candidates.length === 0) return { ok: false, refusal: noIssuerRefusal(child, path, search), path };
    let firstFailure: Built | undefined;
    for (const { issuer, anchor } of candidates) {
      if (++search.attempts > MAX_LINK_ATTEMPTS) {
        firstFailure ??= {
          ok: false,
          refusal: {
            reason: 'unknown-issuer',
            detail: `gave up after trying ${MAX_LINK_ATTEMPTS} issuer candidates above ${certificateLabel(child, path.length - 1)}`,
            depth: path.length - 1,
          },
          path,
        };
        break;
      }
      const withIssuer = [...path, issuer];
      const refusal = this.#linkRefusal(child, issuer, anchor, path, search.at);
      if (refusal !== undefined) {
        firstFailure ??= { ok: false, refusal, path: withIssuer };
        continue;
      }
      if (anchor) return { ok: true, path: withIssuer };
      const above = this.#extend(withIssuer, search);
      if (above.ok) return above;
      firstFailure ??= above;
    }
    return firstFailure as Built;
  }

  /** `issuer` placed above `path` (whose last certificate is `child`): the issuer checks, then the signature. */
  #linkRefusal(
    child: CertificateFacts,
    issuer: CertificateFacts,
    anchor: boolean,
    path: readonly CertificateFacts[],
    at: Date,
  ): Refusal | undefined {
    const depth = path.length;
    const { maxChainDepth, policy, deviceTypeOid, lenientSerials, lenientProfile } = this.#options;
    let nonSelfIssuedBelow = 0;
    for (let below = 1; below < path.length; below++) {
      if (!(path[below] as CertificateFacts).selfIssued) nonSelfIssuedBelow++;
    }
    // max_chain_depth counts CAs as RFC 5280 §6.1 counts them: a self-issued certificate (a CA's key
    // rollover) is the same CA again. The number presented is bounded apart (validate()).
    const intermediates = nonSelfIssuedBelow + (issuer.selfIssued ? 0 : 1);
    if (!anchor && intermediates > maxChainDepth) {
      return {
        reason: 'chain-too-long',
        detail: `${certificateLabel(issuer, depth)} would be intermediate CA number ${intermediates}, at most ${maxChainDepth} are accepted (max_chain_depth)`,
        depth,
      };
    }
    const timely = timeRefusal(issuer, depth, at);
    if (timely !== undefined) return timely;
    let byPlace = this.#issuerVerdicts.get(issuer);
    if (byPlace === undefined) {
      byPlace = new Map();
      this.#issuerVerdicts.set(issuer, byPlace);
    }
    const place = `${depth}/${anchor ? 1 : 0}/${nonSelfIssuedBelow}`;
    let verdict = byPlace.get(place);
    if (verdict === undefined) {
      verdict =
        // An anchor is trusted as configured: its serial is the configuring CA's business.
        (anchor ? undefined : serialRefusal(issuer, depth, lenientSerials)) ??
        keyRefusal(issuer, depth, policy) ??
        // An anchor is trusted as configured: how it signed itself does not matter.
        (anchor ? undefined : signatureAlgorithmRefusal(issuer, depth)) ??
        criticalExtensionRefusal(issuer, depth, deviceTypeOid) ??
        issuerRefusal(issuer, depth, nonSelfIssuedBelow) ??
        issuerEkuRefusal(issuer, depth) ??
        profileRefusal(issuer, depth, anchor, lenientProfile) ??
        null;
      byPlace.set(place, verdict);
    }
    if (verdict !== null) return { ...verdict }; // a copy: callers may annotate theirs
    const signature = this.#verdict(child, issuer);
    if (signature !== 'valid') return signatureRefusal(signature, child, depth - 1, issuer, depth);
    // Checked while building, so that a CA whose constraints exclude the path sends the search on to
    // another issuer (a cross-signed CA without them).
    return nameConstraintsRefusal(issuer, path);
  }

  #verdict(child: CertificateFacts, issuer: CertificateFacts): SignatureVerdict {
    let byIssuer = this.#signatures.get(child.sha256);
    const cached = byIssuer?.get(issuer.sha256);
    if (cached !== undefined) {
      this.#counts.signatureCacheHits++;
      return cached;
    }
    this.#counts.signatureChecks++;
    const verdict = verifySignature(child, issuer);
    if (byIssuer === undefined) {
      byIssuer = new Map();
      this.#signatures.set(child.sha256, byIssuer);
    }
    byIssuer.set(issuer.sha256, verdict);
    return verdict;
  }

  /** The sensor identity of `path`, read once per path and copied out (the caller fills in enrollment). */
  #identity(path: readonly CertificateFacts[]): SensorIdentity {
    const sensor = path[0] as CertificateFacts;
    let known = this.#identities.get(sensor);
    if (known === undefined || !samePath(known.path, path)) {
      known = { path, identity: sensorIdentityOf(path, this.#options.deviceTypeOid) };
      this.#identities.set(sensor, known);
    }
    const identity = known.identity;
    return {
      ...identity,
      subjectAltNames: identity.subjectAltNames.map((name) => ({ ...name })),
      notBefore: new Date(identity.notBefore),
      notAfter: new Date(identity.notAfter),
    };
  }
}

/** The length and last three bytes (signature bytes): the key of the by-bytes index, a number. */
function tailKey(der: Uint8Array): number {
  const n = der.length;
  return n * 0x1000000 + (((der[n - 3] ?? 0) << 16) | ((der[n - 2] ?? 0) << 8) | (der[n - 1] ?? 0));
}

function samePath(a: readonly CertificateFacts[], b: readonly CertificateFacts[]): boolean {
  return a.length === b.length && a.every((certificate, index) => certificate === b[index]);
}

/** A presented certificate's encoding refusal, placed at its position in what was presented. */
function presentedRefusal(failure: ValidationFailure, position: number): PathValidation {
  const { reason, detail } = failure.refusal;
  return {
    ok: false,
    refusal: { reason, detail: `certificate ${position} as presented: ${detail}`, depth: position },
  };
}
