import koffi from 'koffi';
import { libssl, type Pointer, X509_V_ERR } from '../../native/openssl/libssl.js';
import { TlsError } from '../tls-error.js';

const UNKNOWN_CA: readonly number[] = [
  X509_V_ERR.UNABLE_TO_GET_ISSUER_CERT,
  X509_V_ERR.DEPTH_ZERO_SELF_SIGNED_CERT,
  X509_V_ERR.SELF_SIGNED_CERT_IN_CHAIN,
  X509_V_ERR.UNABLE_TO_GET_ISSUER_CERT_LOCALLY,
  X509_V_ERR.UNABLE_TO_VERIFY_LEAF_SIGNATURE,
];
const NAME_MISMATCH: readonly number[] = [
  X509_V_ERR.HOSTNAME_MISMATCH,
  X509_V_ERR.EMAIL_MISMATCH,
  X509_V_ERR.IP_ADDRESS_MISMATCH,
];

/**
 * Why OpenSSL rejected the server's certificate: the X509_V_ERR code, where in the chain (depth 0 is
 * the server's own certificate) and whose certificate it was. Recorded by the verify callback while
 * the handshake runs, because afterwards only the bare code is left (SSL_get_verify_result).
 */
export class VerifyFailure {
  constructor(
    readonly code: number,
    readonly depth: number | undefined,
    readonly subject: string | undefined,
  ) {}

  /** OpenSSL's text for the code, e.g. "unable to get local issuer certificate". */
  get reason(): string {
    return libssl().X509_verify_cert_error_string(this.code);
  }

  /** The error to report for a connection to `peer` ("host:port"). */
  toTlsError(peer: string): TlsError {
    const where =
      this.depth === undefined
        ? ''
        : ` at depth ${this.depth}${this.subject ? ` (${this.subject})` : ''}${this.depth === 0 ? ', the server certificate' : ''}`;
    const message = `TLS server certificate of ${peer} rejected: ${this.reason} (X509_V_ERR ${this.code})${where}`;
    if (UNKNOWN_CA.includes(this.code)) {
      return new TlsError('EGW_TLS_UNKNOWN_CA', message, {
        hint: 'the server certificate does not chain to the upstream trust bundle: add its issuing CA to the bundle, or have the server send its intermediate certificates',
      });
    }
    if (NAME_MISMATCH.includes(this.code)) {
      return new TlsError('EGW_TLS_HOSTNAME_MISMATCH', message, {
        hint: 'connect with a name listed in the server certificate (subjectAltName), or have the certificate reissued for this name',
      });
    }
    if (this.code === X509_V_ERR.CERT_HAS_EXPIRED) {
      return new TlsError('EGW_TLS_CERT_EXPIRED', message, {
        hint: 'the server must renew its certificate; if it looks current, check this gateway’s clock',
      });
    }
    if (this.code === X509_V_ERR.CERT_NOT_YET_VALID) {
      return new TlsError('EGW_TLS_CERT_NOT_YET_VALID', message, {
        hint: 'check this gateway’s clock (NTP, RTC battery): the certificate starts later than the local time',
      });
    }
    return new TlsError('EGW_TLS_BAD_CERT', message, {
      hint: 'the server certificate or its chain is unacceptable: check its extensions, signature and the trust bundle',
    });
  }
}

/** SSL address → the first failure seen while verifying its peer (null: watched, none yet). */
const watched = new Map<bigint, VerifyFailure | null>();
let callback: bigint | undefined;
let storeCtxIndex: number | undefined;

function onVerify(preverifyOk: number, storeCtx: bigint): number {
  if (preverifyOk === 1) return 1;
  const ssl = libssl();
  storeCtxIndex ??= ssl.SSL_get_ex_data_X509_STORE_CTX_idx();
  const connection = ssl.X509_STORE_CTX_get_ex_data(storeCtx, storeCtxIndex);
  const key = connection ? koffi.address(connection) : undefined;
  if (key !== undefined && watched.get(key) === null) {
    const cert = ssl.X509_STORE_CTX_get_current_cert(storeCtx);
    let subject: string | undefined;
    if (cert) {
      const buffer = Buffer.alloc(256);
      ssl.X509_NAME_oneline(ssl.X509_get_subject_name(cert), buffer, buffer.length);
      subject = buffer.toString('utf8', 0, buffer.indexOf(0)) || undefined;
    }
    watched.set(
      key,
      new VerifyFailure(
        ssl.X509_STORE_CTX_get_error(storeCtx),
        ssl.X509_STORE_CTX_get_error_depth(storeCtx),
        subject,
      ),
    );
  }
  return 0; // verification stays on: a failure is a failure
}

/** The process's one verify callback (int verify(int preverify_ok, X509_STORE_CTX *)), for SSL_CTX_set_verify. */
export function verifyCallback(): Pointer {
  if (callback === undefined) {
    libssl(); // declares X509_STORE_CTX
    const type = koffi.proto('int EgwVerifyCallback(int, X509_STORE_CTX *)');
    callback = koffi.register(onVerify, koffi.pointer(type));
  }
  return callback;
}

/** Start recording verification failures of `ssl` (call before its handshake). */
export function watchVerification(ssl: Pointer): void {
  watched.set(koffi.address(ssl), null);
}

/** The recorded failure of `ssl`, if any; stops watching it. */
export function takeVerifyFailure(ssl: Pointer): VerifyFailure | undefined {
  const key = koffi.address(ssl);
  const failure = watched.get(key) ?? undefined;
  watched.delete(key);
  return failure;
}
