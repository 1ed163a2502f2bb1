import { GatewayError } from '../../errors/index.js';

/**
 * SUPPORTED OPENSSL VERSIONS of the koffi bindings in this directory (and in src/tls).
 *
 * The bindings declare C prototypes, numeric constants (SSL_ctrl commands, SSL_OP_*, SSL_MODE_*,
 * X509_V_ERR_*, SSL_SECOP_*, error-code layout) and rely on behaviour (security level, CCM_8 strength,
 * buffer release) by hand: nothing checks them against the headers at build time, so they are only
 * right for the OpenSSL they were checked against.
 *
 * - Written for and checked against the OpenSSL 3.5 headers node ships (include/node/openssl of
 *   node 26.12, OpenSSL 3.5.9, as in node 24.22): all 141 prototype declarations (140 functions), the
 *   11 callback prototypes and 110 numeric constants compared by gcc against the headers, no mismatch
 *   (test/integration/openssl-bindings.test.ts repeats it on the running node); the test suite run on
 *   node 26, the DTLS engine on node 24.
 * - Also checked against the OpenSSL 3.0.19 headers (Debian's libssl-dev): the same result, and DTLS
 *   handshakes (CCM_8 included, security level raised to 2) run on node 20. Node 20 is no longer a
 *   supported runtime; 3.0 stays accepted because the bindings use nothing newer than the 3.0 API and
 *   OpenSSL keeps the ABI stable within major version 3.
 * - Behaviour that changed between 3.0 and 3.5 and is handled: the default security level (1 → 2,
 *   tls/security-policy.ts keeps ≥ 2 everywhere), CCM_8 rated 64 bits (admitted by the same policy),
 *   SSL_MODE_RELEASE_BUFFERS now applying to DTLS (DtlsSession). Unchanged: session tickets (off on
 *   the DTLS contexts, SSL_OP_NO_TICKET), ex_data indexes (asked at run time, never hard-coded), the
 *   one struct passed (struct timeval for DTLS_get_timeout: two C longs, LP64 targets only).
 * - 3.1–3.4 lie between the two, same ABI, same API: accepted.
 * - A later 3.x (3.6 and up) keeps the ABI, so nothing would crash, but minor releases have changed
 *   defaults the gateway depends on before (3.2: security level 1 → 2, CCM_8 down to level 0): the
 *   daemon starts and logs a warning until the bindings are re-checked and MAX_CHECKED_MINOR raised.
 * - Anything else (OpenSSL 4.x, 1.x, LibreSSL, BoringSSL, no OpenSSL_version_num at all) is refused
 *   with OpenSslVersionError (EGW_OPENSSL_UNSUPPORTED) when the bindings are first loaded, before a
 *   single prototype is declared: a clear error instead of a crash on a changed ABI.
 */
export const SUPPORTED_OPENSSL = 'OpenSSL 3.0 to 3.5 (checked: 3.0.x, 3.5.x)';

/** Newest 3.x minor release whose headers and behaviour the bindings were checked against. */
export const MAX_CHECKED_MINOR = 5;

export type OpenSslSupport =
  /** A version the bindings were written for. */
  | { verdict: 'supported'; version: string }
  /** A newer 3.x: same ABI, defaults possibly changed; start, but warn. */
  | { verdict: 'unchecked'; version: string; warning: string }
  /** Not an OpenSSL the bindings can run on. */
  | { verdict: 'unsupported'; version: string; reason: string };

/**
 * The verdict on a runtime's OpenSSL, from OpenSSL_version_num() (0xMNN00PPL since 3.0: major in bits
 * 28–31, minor in 20–27, patch in 4–11) and OpenSSL_version(OPENSSL_VERSION) (e.g. "OpenSSL 3.5.9 29 Sep 2026").
 * Pure: no OpenSSL needed, so it is tested for versions this machine does not have.
 */
export function checkOpenSslVersion(versionNumber: number, versionText: string): OpenSslSupport {
  const major = Math.floor(versionNumber / 0x10000000) & 0xf;
  const minor = Math.floor(versionNumber / 0x100000) & 0xff;
  const patch = Math.floor(versionNumber / 0x10) & 0xff;
  const text = versionText.trim();
  if (!/^OpenSSL \d/.test(text)) {
    return {
      verdict: 'unsupported',
      version: text || 'unknown',
      reason: `the runtime's TLS library is "${text || 'unknown'}", not OpenSSL`,
    };
  }
  if (major !== 3) {
    // Before 3.0 the number had another layout (0xMNNFFPPS): name the version as the text does.
    const version = text.split(/\s+/)[1] ?? `${major}.x`;
    return {
      verdict: 'unsupported',
      version,
      reason: `${text} is not OpenSSL 3: the bindings declare the OpenSSL 3 API and ABI`,
    };
  }
  const version = `${major}.${minor}.${patch}`;
  if (minor > MAX_CHECKED_MINOR) {
    return {
      verdict: 'unchecked',
      version,
      warning: `OpenSSL ${version} is newer than the bindings were checked against (3.${MAX_CHECKED_MINOR}): same ABI, but defaults may have changed (as 3.2 changed the security level and CCM_8)`,
    };
  }
  return { verdict: 'supported', version };
}

/** The runtime's OpenSSL is not one the bindings were written for. */
export class OpenSslVersionError extends GatewayError {
  readonly version: string;

  constructor(version: string, reason: string, options: { cause?: unknown } = {}) {
    super('EGW_OPENSSL_UNSUPPORTED', `unsupported OpenSSL in this node runtime: ${reason}`, {
      hint: `edge-gatewayd's TLS engine runs on node's own OpenSSL and supports ${SUPPORTED_OPENSSL}: run it on node 24 or 26 (OpenSSL 3.5), see src/native/openssl/supported-versions.ts`,
      ...(options.cause === undefined ? {} : { cause: options.cause }),
    });
    this.version = version;
  }
}
