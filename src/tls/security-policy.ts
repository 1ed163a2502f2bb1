import koffi, { type TypeObject } from 'koffi';
import { libssl, type Pointer, SSL_SECOP } from '../native/openssl/libssl.js';
import { TlsError } from './tls-error.js';

/**
 * The OpenSSL security level of every SSL_CTX the TLS engine makes, and the one exception to it:
 * RFC 7925's mandatory CoAP suite.
 *
 * Level. OpenSSL 3.2 raised the default security level from 1 to 2 (112-bit security: RSA, DSA and
 * DH keys of 2048 bits or more, ECC keys of 224 bits or more, no SHA-1 in certificate signatures, no
 * RC4, no TLS compression); node 24/26 carry OpenSSL 3.5 and so level 2. The engine keeps at least
 * MIN_SECURITY_LEVEL on every context, on any OpenSSL (3.0 defaults to 1): it raises a lower level and
 * never lowers a higher one (an openssl.cnf may ask for more).
 *
 * CCM_8. OpenSSL 3.2 also rates the suites with an 8-byte AEAD tag at 64 bits of strength (the tag
 * is what a forger must guess), so at level 1 or more they are silently dropped from the cipher list:
 * a sensor that offers only TLS_ECDHE_ECDSA_WITH_AES_128_CCM_8, the suite RFC 7925 makes
 * mandatory for certificate-based CoAP devices, would get handshake_failure ("no ciphers available").
 * Lowering the level to 0 for that would also drop every other check (1024-bit RSA, SHA-1 chains,
 * unauthenticated suites). Instead a security callback (SSL_CTX_set_security_callback) judges exactly
 * the CCM_8 suites the configured cipher list selects as OpenSSL judges their CCM sibling with a
 * 16-byte tag (same key, same key exchange): it passes their key size (128 or 256) instead of 64 to
 * OpenSSL's own default callback, which decides. Every other question (other suites, certificate keys
 * and digests, curves, signature algorithms, versions, tickets, compression) goes to the default
 * callback unchanged, at the context's level. Why acceptable: a forged DTLS record costs one 2^-64
 * guess and is dropped (and counted) rather than ending the session; RFC 6655/7251 define the suite
 * for exactly these constrained devices.
 *
 * The callback is installed only on a context whose cipher list selects a CCM_8 suite; it is one
 * process-wide registration (koffi.register, never freed), and the suites a context admits travel in
 * the callback's `ex` argument (SSL_CTX_set0_security_ex_data, copied into each SSL), so contexts and
 * connections that outlive each other need no bookkeeping.
 *
 * Cost, measured on OpenSSL 3.5.9 (node 26): the server side of a full DTLS 1.2 handshake with a client
 * certificate asks the callback 91 times (each through JS and back into OpenSSL's default); 300
 * handshakes of our DtlsClient against our server in one process took 2.6–2.9 ms each with and
 * without it, i.e. no difference above the noise.
 */

/** The least security level any SSL_CTX of the TLS engine runs at (OpenSSL 3.2+'s default). */
export const MIN_SECURITY_LEVEL = 2;

/** An IANA suite name with an 8-byte CCM tag: TLS 1.2 …_CCM_8 and TLS 1.3 TLS_AES_128_CCM_8_SHA256. */
const CCM_8 = /_CCM_8(?:_|$)/;

/** Suite sets admitted by some context, interned: `ex` is index + 1 (never NULL). Grows with distinct cipher lists only. */
const admittedSets: ReadonlySet<string>[] = [];

let callback: bigint | undefined;
let defaultCallback: bigint | undefined;
let prototype: TypeObject | undefined;

export interface SecurityPolicy {
  /** The context's security level after the policy (at least MIN_SECURITY_LEVEL). */
  level: number;
  /** The CCM_8 suites (OpenSSL names) admitted despite their 64-bit rating; empty: no callback. */
  admittedCcm8: string[];
}

/**
 * Applies the engine's security policy to `ctx`. Call it after the cipher list (and TLS 1.3 suites)
 * are set, before the first SSL_new: SSLs copy the context's level and callback when they are made.
 */
export function applySecurityPolicy(ctx: Pointer): SecurityPolicy {
  const ssl = libssl();
  if (ssl.SSL_CTX_get_security_level(ctx) < MIN_SECURITY_LEVEL)
    ssl.SSL_CTX_set_security_level(ctx, MIN_SECURITY_LEVEL);
  const level = ssl.SSL_CTX_get_security_level(ctx);
  const ccm8 = new Map<string, string>(); // standard name → OpenSSL name
  const ciphers = ssl.SSL_CTX_get_ciphers(ctx);
  const count = ciphers ? ssl.OPENSSL_sk_num(ciphers) : 0;
  for (let index = 0; index < count; index++) {
    const cipher = ssl.OPENSSL_sk_value(ciphers, index);
    const standard = ssl.SSL_CIPHER_standard_name(cipher);
    if (standard && CCM_8.test(standard)) ccm8.set(standard, ssl.SSL_CIPHER_get_name(cipher));
  }
  if (ccm8.size === 0) return { level, admittedCcm8: [] };
  const ours = securityCallback(ctx);
  const current = ssl.SSL_CTX_get_security_callback(ctx);
  if (current !== ours) {
    if (current !== defaultCallback) {
      // Someone else's callback: never replace a policy we cannot defer to.
      throw new TlsError('EGW_TLS_CONFIG', 'the SSL_CTX already has a foreign security callback');
    }
    ssl.SSL_CTX_set_security_callback(ctx, ours);
  }
  ssl.SSL_CTX_set0_security_ex_data(ctx, BigInt(internAdmitted(new Set(ccm8.keys())) + 1));
  return { level, admittedCcm8: [...ccm8.values()] };
}

/**
 * OpenSSL's own security callback (what ours defers to), once ours was installed on some context.
 * An SSL that will never be asked about a CCM_8 suite may use it directly: same answers, without a
 * trip through JS for each of the ~90 questions of a handshake.
 */
export function openSslSecurityCallback(): bigint | undefined {
  return defaultCallback;
}

function internAdmitted(names: ReadonlySet<string>): number {
  const found = admittedSets.findIndex(
    (set) => set.size === names.size && [...names].every((name) => set.has(name)),
  );
  if (found >= 0) return found;
  admittedSets.push(names);
  return admittedSets.length - 1;
}

/** The process's callback, registered on first use; remembers OpenSSL's default from `ctx`. */
function securityCallback(ctx: Pointer): bigint {
  if (callback !== undefined) return callback;
  const ssl = libssl();
  const original = ssl.SSL_CTX_get_security_callback(ctx);
  if (!original) throw new TlsError('EGW_TLS_CONFIG', 'OpenSSL reports no default security callback');
  defaultCallback = original;
  prototype = koffi.proto(
    'int egw_security_cb(const SSL *s, const SSL_CTX *ctx, int op, int bits, int nid, void *other, void *ex)',
  );
  callback = koffi.register(judge, koffi.pointer(prototype));
  return callback;
}

/**
 * The callback itself. Runs inside OpenSSL calls: it must never throw into C. If reading the cipher
 * fails it asks with the bits OpenSSL gave; if even OpenSSL's default cannot be asked, it refuses.
 */
function judge(
  s: bigint | null,
  ctx: bigint | null,
  op: number,
  bits: number,
  nid: number,
  other: bigint | null,
  ex: bigint | null,
): number {
  let judgedBits = bits;
  try {
    judgedBits = admittedBits(op, bits, other, ex);
  } catch {
    // judged as OpenSSL's default would: with its own figure
  }
  try {
    return koffi.call(defaultCallback, prototype as TypeObject, s, ctx, op, judgedBits, nid, other, ex);
  } catch {
    return 0;
  }
}

/** `bits`, or the key size for a cipher question about a CCM_8 suite this context admits. */
function admittedBits(op: number, bits: number, other: bigint | null, ex: bigint | null): number {
  if ((op & SSL_SECOP.OTHER_TYPE) !== SSL_SECOP.OTHER_CIPHER || other === null || ex === null) return bits;
  const admitted = admittedSets[Number(ex) - 1];
  if (!admitted) return bits;
  const ssl = libssl();
  const standard = ssl.SSL_CIPHER_standard_name(other);
  if (!standard || !admitted.has(standard)) return bits;
  const keyBits: [number] = [0];
  ssl.SSL_CIPHER_get_bits(other, keyBits);
  return Math.max(bits, keyBits[0]);
}
