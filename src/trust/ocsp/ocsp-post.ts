import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { OcspFetchError } from './ocsp-fetch-error.js';

export interface OcspPostLimits {
  /** Deadline for the whole exchange, body included. */
  timeoutMs: number;
  /** Largest response body accepted; checked against Content-Length and again while it streams. */
  maxBytes: number;
}

/**
 * POSTs a DER OCSPRequest (RFC 6960 Appendix A.1, `application/ocsp-request`) and resolves with the
 * response body. One connection per request (agent: false), as the CRL download does: no idle
 * socket outlives the client. Redirects are not followed. Fails with OcspFetchError
 * (EGW_TRUST_FETCH_FAILED) on a non-200 status, the deadline, the size limit, a network error or `signal`.
 */
export function postOcspRequest(
  url: string,
  body: Uint8Array,
  limits: OcspPostLimits,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (cause) {
      reject(new OcspFetchError(url, 'not a URL', { cause }));
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(new OcspFetchError(url, `unsupported scheme ${target.protocol} (http and https only)`));
      return;
    }
    let settled = false;
    let request: ClientRequest | undefined;
    const finish = (error: OcspFetchError | undefined, answer?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        request?.destroy();
        reject(error);
      } else resolve(answer as Uint8Array);
    };
    const onAbort = () => finish(new OcspFetchError(url, 'aborted'));
    const deadline = setTimeout(
      () => finish(new OcspFetchError(url, `no complete answer within ${limits.timeoutMs} ms`)),
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
        method: 'POST',
        agent: false,
        headers: {
          'content-type': 'application/ocsp-request',
          'content-length': body.length,
          accept: 'application/ocsp-response',
        },
      },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          response.resume();
          finish(new OcspFetchError(url, `HTTP ${status}`, { status }));
          return;
        }
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > limits.maxBytes) {
          finish(
            new OcspFetchError(
              url,
              `Content-Length ${declared} exceeds the limit of ${limits.maxBytes} bytes`,
            ),
          );
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > limits.maxBytes) {
            finish(new OcspFetchError(url, `body exceeds the limit of ${limits.maxBytes} bytes`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => {
          if (response.complete) finish(undefined, new Uint8Array(Buffer.concat(chunks, received)));
          else finish(new OcspFetchError(url, 'connection closed before the whole body arrived'));
        });
        response.on('error', (cause) => finish(new OcspFetchError(url, cause.message, { cause })));
      },
    );
    request.on('error', (cause) => finish(new OcspFetchError(url, cause.message, { cause })));
    request.end(body);
  });
}
