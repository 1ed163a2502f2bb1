import { request } from 'node:http';
import { buildChain, type X509Certificate } from '../../pki/index.js';
import {
  type ChannelBinding,
  connectTls,
  type TlsClientContext,
  type TlsClientStream,
} from '../../tls/index.js';
import { authenticationHint } from './authentication-hint.js';
import {
  type CsrAttribute,
  certificatesFromPkcs7Body,
  csrAttributesFromBody,
  decodeBase64Body,
  type EstBodyLog,
  type EstBodySource,
  excerpt,
} from './est-body.js';
import { abandonedError, EstError, hintForStatus } from './est-error.js';
import { proofOfPossessionHint } from './proof-of-possession.js';

export interface EstClientOptions {
  /** The server, e.g. https://est.example.net:8443 (the /.well-known/est/ path is added). */
  url: string;
  /** RFC 7030 §3.2.2 label (one path segment after /.well-known/est/), if the server uses one. */
  label?: string;
  /**
   * TLS: the explicit trust anchor(s) for the EST server (from the factory image) and the client
   * identity it authenticates with (factory for enrolment, operational for re-enrolment).
   */
  context: TlsClientContext;
  /** HTTP Basic credentials, for servers that want them in addition to the client certificate. */
  basicAuth?: { username: string; password: string };
  /** Per call. Default 60 s. */
  timeoutMs?: number;
  /** Where the debug line about bytes ignored in a body goes (RFC 2045 decoding). */
  log?: EstBodyLog;
  /** Aborting it ends the call in flight (connection, handshake, request) with EGW_EST_ABANDONED. */
  signal?: AbortSignal;
}

/** The answer to /simpleenroll or /simplereenroll. */
export type EnrollOutcome =
  | { status: 'issued'; certificate: X509Certificate; chain: X509Certificate[] }
  | { status: 'pending'; retryAfterMs: number /** What the server said with its 202. */; message: string };

interface HttpAnswer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer;
}

const MAX_BODY_BYTES = 1 << 20;
const DEFAULT_RETRY_AFTER_MS = 60_000;

/**
 * An EST client (RFC 7030) over the gateway's own TLS client stream, so the TLS client certificate
 * is signed by the key in hardware. One connection per call: calls are rare (enrolment, renewal).
 */
export class EstClient {
  readonly #base: URL;
  readonly #options: EstClientOptions;

  constructor(options: EstClientOptions) {
    let url: URL;
    try {
      url = new URL(options.url);
    } catch (cause) {
      throw new EstError('EGW_EST_UNREACHABLE', `EST URL ${JSON.stringify(options.url)} is not a URL`, {
        hint: 'set identity.est.url to https://host[:port]',
        cause,
      });
    }
    if (url.protocol !== 'https:') {
      throw new EstError('EGW_EST_UNREACHABLE', `EST URL ${options.url} is not https`, {
        hint: 'EST runs over TLS only (RFC 7030 §3.3)',
      });
    }
    const label = options.label ? `${encodeURIComponent(options.label)}/` : '';
    this.#base = new URL(`/.well-known/est/${label}`, url);
    this.#options = options;
  }

  /** /cacerts: the CA certificates (root and intermediates) of the EST CA. */
  async cacerts(): Promise<X509Certificate[]> {
    const answer = await this.#call('GET', 'cacerts');
    this.#expectOk(answer, 'cacerts');
    return certificatesFromPkcs7Body(answer.body, this.#source(answer, 'cacerts'));
  }

  /** /csrattrs: what the CA wants in the CSR (RFC 7030 §4.5); [] when it says nothing (204/404). */
  async csrattrs(): Promise<CsrAttribute[]> {
    const answer = await this.#call('GET', 'csrattrs');
    if (answer.status === 204 || answer.status === 404) return [];
    this.#expectOk(answer, 'csrattrs');
    return csrAttributesFromBody(answer.body, this.#source(answer, 'csrattrs'));
  }

  /**
   * An extension operation (e.g. attest-challenge): POST of a DER body (base64, as EST bodies are)
   * → the DER of a 2xx answer; any other status is an EstError carrying what the server said.
   */
  async postDer(operation: string, der: Uint8Array): Promise<Uint8Array> {
    const body = Buffer.from(`${Buffer.from(der).toString('base64')}\n`);
    const answer = await this.#call('POST', operation, { body, contentType: 'application/octet-stream' });
    this.#expectOk(answer, operation);
    return new Uint8Array(decodeBase64Body(answer.body, this.#source(answer, operation)));
  }

  /** /simpleenroll with a DER PKCS#10; `caCertificates` (from cacerts) completes a leaf-only answer. */
  simpleenroll(csrDer: Uint8Array, caCertificates: readonly X509Certificate[]): Promise<EnrollOutcome> {
    return this.#enroll('simpleenroll', csrDer, caCertificates);
  }

  /** /simplereenroll: the same, authenticated by the current operational certificate. */
  simplereenroll(csrDer: Uint8Array, caCertificates: readonly X509Certificate[]): Promise<EnrollOutcome> {
    return this.#enroll('simplereenroll', csrDer, caCertificates);
  }

  /**
   * Proof of possession (RFC 7030 §3.5): one connection for handshake → channel binding → CSR →
   * POST. `csrFor` builds and signs the CSR carrying the binding of this very connection (the key
   * store signs it after the handshake), then it is posted over that connection.
   */
  async enrollBound(
    operation: 'simpleenroll' | 'simplereenroll',
    csrFor: (binding: ChannelBinding) => Promise<Uint8Array>,
    caCertificates: readonly X509Certificate[],
  ): Promise<EnrollOutcome> {
    const stream = await this.#connect(operation);
    let lost: Error | undefined;
    // Until node:http takes the stream over, a failure (the server closing an idle connection) is kept.
    const keep = (error: Error) => {
      lost = error;
    };
    stream.on('error', keep);
    try {
      const csrDer = await csrFor(stream.channelBinding());
      if (lost || stream.destroyed) {
        throw this.#transportError(
          operation,
          lost ?? new Error('the connection closed while the CSR was signed'),
        );
      }
      return await this.#enroll(operation, csrDer, caCertificates, stream);
    } catch (error) {
      stream.destroy();
      throw error;
    } finally {
      stream.off('error', keep);
    }
  }

  /** A TLS connection to the server, resolved once its handshake is complete. */
  #connect(operation: string): Promise<TlsClientStream> {
    const host = this.#base.hostname.replace(/^\[|\]$/g, '');
    const stream = connectTls({
      host,
      port: Number(this.#base.port || 443),
      context: this.#options.context,
      handshakeTimeoutMs: this.#options.timeoutMs ?? 60_000,
    });
    return new Promise((resolve, reject) => {
      const abandon = this.#onAbort(operation, (error) => stream.destroy(error));
      const failed = (error: Error) => {
        abandon.off();
        reject(this.#transportError(operation, error));
      };
      stream.once('error', failed);
      stream.once('secureConnect', () => {
        abandon.off();
        stream.off('error', failed);
        resolve(stream);
      });
    });
  }

  async #enroll(
    operation: 'simpleenroll' | 'simplereenroll',
    csrDer: Uint8Array,
    caCertificates: readonly X509Certificate[],
    stream?: TlsClientStream,
  ): Promise<EnrollOutcome> {
    // Base64 with line breaks and a trailing newline, as RFC 7030 examples and most servers expect.
    const lines =
      Buffer.from(csrDer)
        .toString('base64')
        .match(/.{1,64}/g) ?? [];
    const answer = await this.#call(
      'POST',
      operation,
      { body: Buffer.from(`${lines.join('\n')}\n`), contentType: 'application/pkcs10' },
      stream,
    );
    if (answer.status === 202) {
      return {
        status: 'pending',
        retryAfterMs: retryAfterMs(answer.headers['retry-after']),
        message: excerpt(answer.body),
      };
    }
    this.#expectOk(answer, operation, stream !== undefined);
    const received = certificatesFromPkcs7Body(answer.body, this.#source(answer, operation));
    // Never a CA certificate as ours: an answer with no end-entity certificate is refused.
    const leaf = received.find((certificate) => !isCa(certificate));
    if (!leaf) {
      throw new EstError(
        'EGW_EST_BAD_CERTIFICATE',
        `the ${operation} answer holds only CA certificates (basicConstraints CA:TRUE), no end-entity certificate`,
        { hint: 'the EST CA issued a CA certificate to a device: check its certificate profile' },
      );
    }
    const pool = [...received.filter((certificate) => certificate !== leaf), ...caCertificates];
    const built = await buildChain(leaf, pool);
    if (!built.complete) {
      throw new EstError(
        'EGW_EST_BAD_CERTIFICATE',
        `the certificate from ${operation} (issuer ${leaf.issuer}) does not chain to the EST CA certificates from /cacerts`,
        { hint: 'the server issued from a CA it does not publish: check the EST server configuration' },
      );
    }
    return { status: 'issued', certificate: leaf, chain: built.certificates };
  }

  /** What a body decoder needs to say where a body came from and what the server said with it. */
  #source(answer: HttpAnswer, operation: string): EstBodySource {
    const header = (name: string) => {
      const value = answer.headers[name];
      return Array.isArray(value) ? value.join(', ') : value;
    };
    const contentType = header('content-type');
    const transferEncoding = header('content-transfer-encoding');
    return {
      operation,
      url: new URL(operation, this.#base).href,
      status: answer.status,
      ...(contentType ? { contentType } : {}),
      ...(transferEncoding ? { transferEncoding } : {}),
      ...(this.#options.log ? { log: this.#options.log } : {}),
    };
  }

  #expectOk(answer: HttpAnswer, operation: string, bound = false): void {
    if (answer.status >= 200 && answer.status < 300) return;
    const body = excerpt(answer.body);
    const hint =
      proofOfPossessionHint(answer.status, body, bound) ??
      authenticationHint(
        answer.status,
        answer.headers['www-authenticate'],
        this.#options.basicAuth !== undefined,
      ) ??
      hintForStatus(answer.status);
    throw new EstError(
      'EGW_EST_HTTP',
      `EST ${operation} at ${this.#base.origin} answered ${answer.status}: ${body}`,
      { status: answer.status, bodyExcerpt: body, hint },
    );
  }

  #call(
    method: 'GET' | 'POST',
    operation: string,
    send?: { body: Buffer; contentType: string },
    stream?: TlsClientStream,
  ): Promise<HttpAnswer> {
    const url = new URL(operation, this.#base);
    const timeoutMs = this.#options.timeoutMs ?? 60_000;
    const headers: Record<string, string> = { accept: '*/*' };
    if (send) {
      headers['content-type'] = send.contentType;
      headers['content-transfer-encoding'] = 'base64';
      headers['content-length'] = String(send.body.length);
    }
    const basic = this.#options.basicAuth;
    if (basic) {
      headers.authorization = `Basic ${Buffer.from(`${basic.username}:${basic.password}`).toString('base64')}`;
    }
    const port = Number(url.port || 443);
    return new Promise<HttpAnswer>((resolve, reject) => {
      const req = request(
        {
          method,
          host: url.hostname,
          port,
          path: url.pathname,
          headers,
          createConnection: () =>
            stream ??
            connectTls({
              host: url.hostname.replace(/^\[|\]$/g, ''),
              port,
              context: this.#options.context,
              handshakeTimeoutMs: timeoutMs,
            }),
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_BODY_BYTES) {
              req.destroy(
                new EstError('EGW_EST_RESPONSE', `EST ${operation} response exceeds ${MAX_BODY_BYTES} bytes`),
              );
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
          );
          res.on('error', (error) => reject(this.#transportError(operation, error)));
        },
      );
      req.setTimeout(timeoutMs, () =>
        req.destroy(
          new EstError(
            'EGW_EST_TIMEOUT',
            `EST ${operation} at ${url.origin}: no answer within ${timeoutMs} ms`,
            {
              hint: 'the server is slow or unreachable: the gateway retries with backoff',
            },
          ),
        ),
      );
      const abandon = this.#onAbort(operation, (error) => req.destroy(error));
      req.once('close', abandon.off);
      req.on('error', (error) => reject(this.#transportError(operation, error)));
      req.end(send?.body);
    });
  }

  /** Calls `destroy` with EGW_EST_ABANDONED when the signal aborts (now, if it already has). */
  #onAbort(operation: string, destroy: (error: EstError) => void): { off(): void } {
    const signal = this.#options.signal;
    if (!signal) return { off: () => undefined };
    const abort = () => destroy(abandonedError(operation, this.#base.origin));
    if (signal.aborted) {
      queueMicrotask(abort);
      return { off: () => undefined };
    }
    signal.addEventListener('abort', abort, { once: true });
    return { off: () => signal.removeEventListener('abort', abort) };
  }

  #transportError(operation: string, error: Error): EstError {
    if (error instanceof EstError) return error;
    const reason = error.message;
    const code = (error as { code?: string }).code;
    return new EstError('EGW_EST_UNREACHABLE', `EST ${operation} at ${this.#base.origin} failed: ${reason}`, {
      hint: code?.startsWith('EGW_TLS')
        ? ((error as { hint?: string }).hint ?? 'the TLS handshake with the EST server failed')
        : 'is the EST server running and reachable from here (identity.est.url)?',
      cause: error,
    });
  }
}

function isCa(certificate: X509Certificate): boolean {
  const constraints = certificate.getExtension('2.5.29.19') as { ca?: boolean } | null;
  return constraints?.ca === true;
}

/** Retry-After: delta-seconds or an HTTP-date (RFC 9110 §10.2.3); a default when absent or odd. */
export function retryAfterMs(header: string | string[] | undefined, now = Date.now()): number {
  const value = Array.isArray(header) ? header[0] : header;
  if (!value) return DEFAULT_RETRY_AFTER_MS;
  if (/^\d+$/.test(value.trim())) return Number(value.trim()) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? DEFAULT_RETRY_AFTER_MS : Math.max(0, date - now);
}
