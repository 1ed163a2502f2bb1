import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { CrlFetchError } from './crl-fetch-error.js';

export interface CrlDownloadLimits {
  /** Deadline for the whole exchange, body included. */
  timeoutMs: number;
  /** Largest body accepted; checked against Content-Length and again while the body streams. */
  maxBytes: number;
}

/**
 * GETs a CRL over http:// or https:// (node:http, one connection per fetch: CRL fetches are rare,
 * and no idle keep-alive socket outlives `stop()`). Redirects are not followed. Fails with
 * CrlFetchError (EGW_TRUST_FETCH_FAILED) on a non-200 status, the deadline, the size limit, a
 * network error or `signal`.
 */
export function downloadCrl(
  url: string,
  limits: CrlDownloadLimits,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (cause) {
      reject(new CrlFetchError(url, 'not a URL', { cause }));
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(new CrlFetchError(url, `unsupported scheme ${target.protocol} (http and https only)`));
      return;
    }
    let settled = false;
    let request: ClientRequest | undefined;
    const finish = (error: CrlFetchError | undefined, body?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        request?.destroy();
        reject(error);
      } else resolve(body as Uint8Array);
    };
    const onAbort = () => finish(new CrlFetchError(url, 'aborted (fetcher stopped)'));
    const deadline = setTimeout(
      () => finish(new CrlFetchError(url, `no complete answer within ${limits.timeoutMs} ms`)),
      limits.timeoutMs,
    );
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    request = send(
      target,
      {
        method: 'GET',
        agent: false,
        headers: { accept: 'application/pkix-crl, application/x-pkcs7-crl, */*' },
      },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          response.resume();
          finish(new CrlFetchError(url, `HTTP ${status}`, { status }));
          return;
        }
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > limits.maxBytes) {
          finish(
            new CrlFetchError(url, `Content-Length ${declared} exceeds max_crl_bytes ${limits.maxBytes}`),
          );
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > limits.maxBytes) {
            finish(new CrlFetchError(url, `body exceeds max_crl_bytes ${limits.maxBytes}`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => {
          if (response.complete) finish(undefined, new Uint8Array(Buffer.concat(chunks, received)));
          else finish(new CrlFetchError(url, 'connection closed before the whole body arrived'));
        });
        response.on('error', (cause) => finish(new CrlFetchError(url, cause.message, { cause })));
      },
    );
    request.on('error', (cause) => finish(new CrlFetchError(url, cause.message, { cause })));
    request.end();
  });
}
