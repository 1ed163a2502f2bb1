import { isIP } from 'node:net';
import { z } from 'zod';

/** Where the metrics endpoint listens: a TCP address or a unix socket, parsed from `metrics.listen`. */
export type MetricsAddress = { kind: 'tcp'; host: string; port: number } | { kind: 'unix'; path: string };

/**
 * `metrics.listen`: "" (off), "unix:/absolute/path", "127.0.0.1:9464" or "[::1]:9464". Names only
 * (no DNS): what a scrape reaches must be known when the config is checked. Undefined when malformed.
 */
export function parseMetricsListen(value: string): MetricsAddress | undefined {
  if (value.startsWith('unix:')) {
    const path = value.slice('unix:'.length);
    return path.startsWith('/') && Buffer.byteLength(path) <= 107 ? { kind: 'unix', path } : undefined;
  }
  const match = /^(?:\[([0-9A-Fa-f:.]+)\]|([0-9.]+)):([0-9]{1,5})$/.exec(value);
  if (!match) return undefined;
  const host = (match[1] ?? match[2]) as string;
  const port = Number(match[3]);
  if (isIP(host) === 0 || port < 1 || port > 65_535) return undefined;
  if (match[1] !== undefined && isIP(host) !== 6) return undefined;
  return { kind: 'tcp', host, port };
}

/** 127.0.0.0/8, ::1 and ::ffff:127.x: only this machine reaches them. */
export function isLoopback(host: string): boolean {
  const v4 = host.toLowerCase().replace(/^::ffff:/, '');
  if (isIP(v4) === 4) return v4.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/**
 * [metrics]: the Prometheus endpoint. Off by default; a non-loopback address is refused unless
 * allow_non_loopback says so, because the figures describe the fleet and the gateway's health to
 * anyone who can reach the port (the endpoint has no authentication).
 */
export function metricsSchema() {
  return z
    .strictObject({
      listen: z
        .string()
        .refine((value) => value === '' || parseMetricsListen(value) !== undefined, {
          message:
            'an address such as "127.0.0.1:9464", "[::1]:9464" or "unix:/run/edge-gatewayd/metrics.sock", or "" for off',
        })
        .default(''),
      allow_non_loopback: z.boolean().default(false),
    })
    .superRefine((metrics, context) => {
      const address = parseMetricsListen(metrics.listen);
      if (address?.kind === 'tcp' && !isLoopback(address.host) && !metrics.allow_non_loopback) {
        context.addIssue({
          code: 'custom',
          path: ['listen'],
          message:
            'a loopback address ("127.0.0.1:9464", "[::1]:9464") or a unix socket, because the endpoint has no authentication (a local agent can forward it); to serve it on another interface on purpose, set metrics.allow_non_loopback = true',
        });
      }
    })
    .prefault({});
}
