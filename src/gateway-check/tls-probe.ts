import { readFileSync } from 'node:fs';
import { get } from 'node:https';
import { isIP } from 'node:net';
import { connect } from 'node:tls';

/** How long a reachability probe may take before it counts as unreachable. */
export const PROBE_TIMEOUT_MS = 5_000;

/** Reads a trust anchor file, or undefined for "" (the system's CAs / the upstream bundle). */
export function anchorPem(path: string): string | undefined {
  return path === '' ? undefined : readFileSync(path, 'utf8');
}

/**
 * An HTTPS GET verified against `ca`: resolves with the HTTP status, rejects with the TLS or network
 * error. No client certificate: the identity key stays with whoever holds it (the daemon).
 */
export function httpsStatus(url: URL, ca: string | undefined): Promise<number> {
  return new Promise((resolve, reject) => {
    const request = get(url, { ...(ca ? { ca } : {}), timeout: PROBE_TIMEOUT_MS }, (response) => {
      response.resume();
      resolve(response.statusCode ?? 0);
    });
    request.on('timeout', () => request.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)));
    request.on('error', reject);
  });
}

/** A TLS handshake (server authentication only) with host:port verified against `ca`. */
export function tlsHandshake(host: string, port: number, ca: string | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      ...(isIP(host) ? {} : { servername: host }),
      ...(ca ? { ca } : {}),
      timeout: PROBE_TIMEOUT_MS,
    });
    socket.once('secureConnect', () => {
      socket.destroy();
      resolve();
    });
    socket.once('timeout', () => socket.destroy(new Error(`no answer within ${PROBE_TIMEOUT_MS} ms`)));
    socket.once('error', reject);
  });
}

/** "ECONNREFUSED connect ECONNREFUSED 127.0.0.1:1" → a short reason an operator can act on. */
export function probeError(error: unknown): string {
  const code = (error as { code?: string }).code;
  const message = error instanceof Error ? error.message : String(error);
  return code && !message.includes(code) ? `${code}: ${message}` : message;
}
