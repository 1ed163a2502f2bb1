import type { Pointer } from '../../native/openssl/libssl.js';
import { TlsError } from '../tls-error.js';
import type { DtlsRecordLayer } from './dtls-session.js';
import type { TokenBucketSettings } from './handshake-rate-limiter.js';
import type { SessionTicketKeys } from './session-ticket-keys.js';

/**
 * The trust decision. `chain` is DER, leaf first: up to the anchor after OpenSSL's own chain check,
 * or as the peer sent it under chainVerification 'application'. `attributes` (e.g. the sensor's
 * identity) is kept with the session (`peer.identity.attributes`). `verifyError` (an X509_V_ERR_*)
 * picks the TLS alert, e.g. certificate_revoked for X509_V_ERR_CERT_REVOKED.
 */
export type PeerVerdict =
  | { ok: true; attributes?: unknown }
  | { ok: false; reason: string; verifyError?: number };
export type PeerVerifier = (chain: Uint8Array[]) => PeerVerdict;

export interface DtlsServerOptions {
  /** The gateway's certificate chain, DER, leaf first (intermediates follow; the root may be left out). */
  certificateChain: readonly Uint8Array[];
  /**
   * The gateway's private key as an EVP_PKEY* (a software key from privateKeyFromPkcs8, or the
   * hardware-key hook). The SSL_CTX takes its own reference: the caller still frees its pointer.
   */
  privateKey: Pointer;
  /** Trust anchors for sensor (client) certificates, DER (may be empty under 'application'). */
  ca: readonly Uint8Array[];
  /**
   * Who judges client certificate chains. 'openssl' (default): OpenSSL verifies the chain to `ca`,
   * then `verifyPeer` decides. 'application': OpenSSL's chain check is replaced and `verifyPeer`
   * alone decides on the chain the peer sent (path building, revocation and enrollment live in the
   * trust module; the TLS handshake still proves the peer holds the leaf's key).
   */
  chainVerification?: 'openssl' | 'application';
  /**
   * Called once OpenSSL has verified the chain to one of `ca` (and again when a session is resumed, so
   * a revoked sensor cannot live on through resumption). Default: accept (the chain check only).
   * Must be synchronous and quick: it runs inside the handshake.
   */
  verifyPeer?: PeerVerifier;
  /** Require extendedKeyUsage clientAuth to be present in the leaf (not only "no EKU"). Default true. */
  requireClientAuthEku?: boolean;
  /** Time to verify certificates at (the trust module's clock floor); default: the system clock. */
  verificationTime?: () => Date;
  /**
   * OpenSSL cipher list (DTLS 1.2). Default ECDHE-ECDSA with AES-128/256-GCM and AES-128-CCM-8 (RFC 7925's
   * mandatory suite). The context keeps security level 2; CCM-8 suites the list names are admitted
   * below it (OpenSSL 3.2+ allows them only at level 0), see tls/security-policy.ts.
   */
  ciphers?: string;
  /** Largest datagram we send, bytes (records + DTLS headers, without IP/UDP). Default 1200. */
  mtu?: number;
  /** A handshake not finished by then is dropped and its state freed. Default 30 s. */
  handshakeTimeoutMs?: number;
  /** An established session without traffic for this long is closed. Default 5 min. */
  idleTimeoutMs?: number;
  /** Sessions (handshaking + established) the server keeps at most. Default 5000. */
  maxSessions?: number;
  /** Largest handshake message a peer may announce (its certificate chain, mostly). Default 8192. */
  maxHandshakeMessageBytes?: number;
  /** Longest client certificate chain accepted (intermediates between leaf and anchor). Default 4. */
  maxChainDepth?: number;
  /**
   * How many signatures the server key makes per second (measured by the caller, e.g. from its key
   * store). It sizes the default signature budget below. Default 1000: a software key signs far more,
   * but a full handshake costs ~1 ms of CPU besides, so one core does not get much beyond that.
   */
  signaturesPerSecond?: number;
  /**
   * The signature budget: full handshakes (each signs a ServerKeyExchange with the server key) per
   * source and for the whole server. Cookie-less ClientHellos and resumed handshakes take nothing.
   */
  handshakeRate?: {
    /**
     * Per source (IPv4 address, IPv6 prefix). Default a quarter of `global`'s rate (at least 0.5/s),
     * burst its rate rounded up (at least 2): one host never gets more than a quarter of the signer.
     */
    perAddress?: Partial<TokenBucketSettings>;
    /**
     * Whole server. Default 80 % of signaturesPerSecond (the upstream TLS client signs with the same
     * key), burst one second's worth.
     */
    global?: Partial<TokenBucketSettings>;
    /** Bound of the per-source table. Default 4096. */
    maxTrackedAddresses?: number;
    /** IPv6 sources count per prefix of this length (one host owns a /64). Default 64. */
    ipv6PrefixLength?: number;
  };
  /** Handshakes past the cookie exchange but not complete, at most. Defaults 8 per source, 256 in all. */
  /**
   * global: signed (full) handshakes; resumptions: recognized resumptions (a ticket that passed the
   * key-name+HMAC check, a cached session id), which sign nothing (default 4 × global).
   */
  halfOpen?: { perAddress?: number; global?: number; resumptions?: number };
  /**
   * Cookie time slot: a cookie is valid for the rest of its slot and the next one (so 1 to 2 slots).
   * Default 30 s.
   */
  cookieLifetimeMs?: number;
  /** Server-side session cache for abbreviated handshakes; false disables resumption. */
  sessionCache?: { size?: number; timeoutSeconds?: number } | false;
  /**
   * RFC 5077 session tickets under these keys (rotating; persisted by the caller if it wants sessions
   * to survive a restart). Default none: session ids only. A ticket's lifetime is at most the keys'
   * lifetime and the client certificate's notAfter.
   */
  sessionTickets?: SessionTicketKeys;
  /** Session id context: sessions resume only on a server with the same context. */
  sessionIdContext?: string;
  /** SO_RCVBUF: datagrams queue here while the loop is busy (e.g. one slow hardware signature). */
  receiveBufferBytes?: number;
  /**
   * Who protects the records of established sessions. 'js' (default): OpenSSL runs the handshake, then
   * the session's AEAD records are handled in JS and its SSL object is freed (an idle session keeps
   * ~70 KB less native memory on OpenSSL 3.5: 13 instead of 82 KB). 'openssl': OpenSSL throughout
   * (the bench compares the two).
   */
  recordLayer?: DtlsRecordLayer;
}

export interface ResolvedDtlsServerOptions {
  certificateChain: readonly Uint8Array[];
  privateKey: Pointer;
  ca: readonly Uint8Array[];
  chainVerification: 'openssl' | 'application';
  verifyPeer: PeerVerifier;
  requireClientAuthEku: boolean;
  verificationTime: (() => Date) | undefined;
  ciphers: string;
  mtu: number;
  handshakeTimeoutMs: number;
  idleTimeoutMs: number;
  maxSessions: number;
  maxHandshakeMessageBytes: number;
  maxChainDepth: number;
  signaturesPerSecond: number;
  perAddressRate: TokenBucketSettings;
  globalRate: TokenBucketSettings;
  maxTrackedAddresses: number;
  ipv6PrefixLength: number;
  halfOpenPerAddress: number;
  halfOpenGlobal: number;
  halfOpenResumptions: number;
  cookieLifetimeMs: number;
  sessionCache: { size: number; timeoutSeconds: number } | false;
  sessionTickets: SessionTicketKeys | undefined;
  sessionIdContext: string;
  receiveBufferBytes: number;
  recordLayer: DtlsRecordLayer;
}

export const DEFAULT_DTLS_CIPHERS =
  'ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-ECDSA-AES128-CCM8';

/** Fills in defaults and rejects values that cannot work, with the option's name in the message. */
export function resolveDtlsServerOptions(options: DtlsServerOptions): ResolvedDtlsServerOptions {
  if (options.certificateChain.length === 0) configError('certificateChain', 'needs at least the leaf');
  if (!options.privateKey) configError('privateKey', 'is NULL');
  const chainVerification = options.chainVerification ?? 'openssl';
  if (chainVerification === 'openssl' && options.ca.length === 0) {
    configError('ca', 'needs at least one trust anchor for sensor certificates');
  }
  if (chainVerification === 'application' && !options.verifyPeer) {
    configError('verifyPeer', "is required when chainVerification is 'application'");
  }
  const cache = options.sessionCache ?? {};
  const resolved: ResolvedDtlsServerOptions = {
    certificateChain: options.certificateChain,
    privateKey: options.privateKey,
    ca: options.ca,
    chainVerification,
    verifyPeer: options.verifyPeer ?? (() => ({ ok: true })),
    requireClientAuthEku: options.requireClientAuthEku ?? true,
    verificationTime: options.verificationTime,
    ciphers: options.ciphers ?? DEFAULT_DTLS_CIPHERS,
    mtu: integer('mtu', options.mtu ?? 1200, 256, 65507),
    handshakeTimeoutMs: integer('handshakeTimeoutMs', options.handshakeTimeoutMs ?? 30_000, 1, 600_000),
    idleTimeoutMs: integer('idleTimeoutMs', options.idleTimeoutMs ?? 300_000, 1, 86_400_000),
    maxSessions: integer('maxSessions', options.maxSessions ?? 5000, 1, 1_000_000),
    maxHandshakeMessageBytes: integer(
      'maxHandshakeMessageBytes',
      options.maxHandshakeMessageBytes ?? 8192,
      1024,
      102_400,
    ),
    maxChainDepth: integer('maxChainDepth', options.maxChainDepth ?? 4, 1, 16),
    ...signatureBudget(options),
    maxTrackedAddresses: integer(
      'handshakeRate.maxTrackedAddresses',
      options.handshakeRate?.maxTrackedAddresses ?? 4096,
      1,
      1_000_000,
    ),
    ipv6PrefixLength: integer(
      'handshakeRate.ipv6PrefixLength',
      options.handshakeRate?.ipv6PrefixLength ?? 64,
      1,
      128,
    ),
    halfOpenPerAddress: integer('halfOpen.perAddress', options.halfOpen?.perAddress ?? 8, 1, 1_000_000),
    halfOpenGlobal: integer('halfOpen.global', options.halfOpen?.global ?? 256, 1, 1_000_000),
    halfOpenResumptions: integer(
      'halfOpen.resumptions',
      options.halfOpen?.resumptions ?? 4 * (options.halfOpen?.global ?? 256),
      1,
      4_000_000,
    ),
    cookieLifetimeMs: integer('cookieLifetimeMs', options.cookieLifetimeMs ?? 30_000, 1000, 3_600_000),
    sessionCache:
      cache === false
        ? false
        : {
            size: integer('sessionCache.size', cache.size ?? 2048, 1, 1_000_000),
            timeoutSeconds: integer('sessionCache.timeoutSeconds', cache.timeoutSeconds ?? 3600, 1, 604_800),
          },
    sessionTickets: cache === false ? undefined : options.sessionTickets,
    sessionIdContext: options.sessionIdContext ?? 'edge-gatewayd/dtls',
    receiveBufferBytes: integer('receiveBufferBytes', options.receiveBufferBytes ?? 1 << 20, 4096, 1 << 30),
    recordLayer: options.recordLayer ?? 'js',
  };
  if (resolved.recordLayer !== 'js' && resolved.recordLayer !== 'openssl')
    configError('recordLayer', `must be 'js' or 'openssl' (got ${String(resolved.recordLayer)})`);
  if (Buffer.byteLength(resolved.sessionIdContext) > 32)
    configError('sessionIdContext', 'is longer than 32 bytes');
  return resolved;
}

/** The signature budget: what was configured, else sized from the signer's rate (see the options). */
function signatureBudget(
  options: DtlsServerOptions,
): Pick<ResolvedDtlsServerOptions, 'signaturesPerSecond' | 'perAddressRate' | 'globalRate'> {
  const signaturesPerSecond = options.signaturesPerSecond ?? 1000;
  if (!(signaturesPerSecond > 0))
    configError('signaturesPerSecond', `must be > 0 (got ${signaturesPerSecond})`);
  const global = options.handshakeRate?.global;
  const globalRate = bucket(
    'handshakeRate.global',
    perSecond(
      global?.ratePerSecond ?? hundredths(Math.max(0.5, signaturesPerSecond * 0.8)),
      global?.burst,
      1,
    ),
  );
  const perAddress = options.handshakeRate?.perAddress;
  const perAddressRate = bucket(
    'handshakeRate.perAddress',
    perSecond(
      perAddress?.ratePerSecond ?? hundredths(Math.max(0.5, globalRate.ratePerSecond / 4)),
      perAddress?.burst,
      2,
    ),
  );
  return { signaturesPerSecond, perAddressRate, globalRate };
}

/** A bucket refilling at `rate`, holding `burst`, or by default one second's worth (at least `minBurst`). */
function perSecond(ratePerSecond: number, burst: number | undefined, minBurst: number): TokenBucketSettings {
  return { ratePerSecond, burst: burst ?? Math.max(minBurst, Math.ceil(ratePerSecond)) };
}

function hundredths(value: number): number {
  return Math.round(value * 100) / 100;
}

function integer(name: string, value: number, min: number, max: number): number {
  if (!Number.isInteger(value) || value < min || value > max) {
    configError(name, `must be an integer from ${min} to ${max} (got ${value})`);
  }
  return value;
}

function bucket(name: string, value: TokenBucketSettings): TokenBucketSettings {
  if (!(value.ratePerSecond > 0))
    configError(`${name}.ratePerSecond`, `must be > 0 (got ${value.ratePerSecond})`);
  if (!(value.burst >= 1)) configError(`${name}.burst`, `must be >= 1 (got ${value.burst})`);
  return value;
}

function configError(name: string, problem: string): never {
  throw new TlsError('EGW_TLS_CONFIG', `DTLS server option ${name} ${problem}`, {
    hint: 'fix the DTLS server configuration',
  });
}
