import { type ClientRequest, request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';

export interface BoundedFetchRequest {
  url: string;
  method: 'GET' | 'POST';
  headers: Record<string, string | number>;
  body?: Uint8Array;
  /** Deadline for the whole exchange, body included. */
  timeoutMs: number;
  /** Largest body accepted; checked against Content-Length and again while the body streams. */
  maxBytes: number;
  /** How the size limit is named in messages, e.g. "max_crl_bytes 4096". */
  limitName: string;
  signal?: AbortSignal;
}

/** Makes the caller's error (CRL or OCSP flavour) for `message`. */
export type FetchFailure = (message: string, options?: { cause?: unknown; status?: number }) => Error;

/**
 * One HTTP(S) exchange for revocation data (a CRL GET, an OCSP POST): one connection per fetch
 * (agent: false, so no idle keep-alive socket outlives a stop), redirects not followed, a deadline
 * for the whole answer and a size limit enforced while streaming. Resolves with the body of a 200.
 */
export function boundedFetch(request: BoundedFetchRequest, fail: FetchFailure): Promise<Uint8Array> {
  const { url, signal } = request;
  return new Promise((resolve, reject) => {
    let target: URL;
    try {
      target = new URL(url);
    } catch (cause) {
      reject(fail('not a URL', { cause }));
      return;
    }
    if (target.protocol !== 'http:' && target.protocol !== 'https:') {
      reject(fail(`unsupported scheme ${target.protocol} (http and https only)`));
      return;
    }
    let settled = false;
    let outgoing: ClientRequest | undefined;
    const finish = (error: Error | undefined, body?: Uint8Array) => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      signal?.removeEventListener('abort', onAbort);
      if (error) {
        outgoing?.destroy();
        reject(error);
      } else resolve(body as Uint8Array);
    };
    const onAbort = () => finish(fail('aborted (stopped)'));
    const deadline = setTimeout(
      () => finish(fail(`no complete answer within ${request.timeoutMs} ms`)),
      request.timeoutMs,
    );
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    const send = target.protocol === 'https:' ? httpsRequest : httpRequest;
    outgoing = send(
      target,
      { method: request.method, agent: false, headers: request.headers },
      (response: IncomingMessage) => {
        const status = response.statusCode ?? 0;
        if (status !== 200) {
          response.resume();
          finish(fail(`HTTP ${status}`, { status }));
          return;
        }
        const declared = Number(response.headers['content-length']);
        if (Number.isFinite(declared) && declared > request.maxBytes) {
          finish(fail(`Content-Length ${declared} exceeds ${request.limitName}`));
          return;
        }
        const chunks: Buffer[] = [];
        let received = 0;
        response.on('data', (chunk: Buffer) => {
          received += chunk.length;
          if (received > request.maxBytes) {
            finish(fail(`body exceeds ${request.limitName}`));
            return;
          }
          chunks.push(chunk);
        });
        response.on('end', () => {
          if (response.complete) finish(undefined, new Uint8Array(Buffer.concat(chunks, received)));
          else finish(fail('connection closed before the whole body arrived'));
        });
        response.on('error', (cause) => finish(fail(cause.message, { cause })));
      },
    );
    outgoing.on('error', (cause) => finish(fail(cause.message, { cause })));
    outgoing.end(request.body);
  });
}
