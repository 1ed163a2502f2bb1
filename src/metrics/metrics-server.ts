import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname } from 'node:path';
import type { MetricsAddress } from '../config/index.js';
import { connectionCloser } from '../control/index.js';
import { GatewayMetrics } from './gateway-metrics.js';
import { MetricsError } from './metrics-error.js';
import type { MetricsSnapshot } from './metrics-snapshot.js';

interface Log {
  warn(fields: object, message: string): void;
}

/**
 * The Prometheus endpoint: GET /metrics in the text exposition format, on a loopback TCP address or
 * a unix socket (metrics.listen). Read-only and unauthenticated, which is why the config refuses a
 * public address unless told otherwise. A scrape takes one snapshot of the daemon's status.
 */
export class MetricsServer {
  readonly address: MetricsAddress;
  readonly #metrics = new GatewayMetrics();
  readonly #snapshot: () => Promise<MetricsSnapshot>;
  readonly #log: Log;
  #server: Server | undefined;
  #closeServer: (() => Promise<void>) | undefined;

  constructor(address: MetricsAddress, snapshot: () => Promise<MetricsSnapshot>, log: Log) {
    this.address = address;
    this.#snapshot = snapshot;
    this.#log = log;
  }

  /** Where it listens, as an operator writes it (the bound port when 0 was asked). */
  get where(): string {
    if (this.address.kind === 'unix') return `unix:${this.address.path}`;
    const bound = this.#server?.address();
    const port = bound && typeof bound === 'object' ? bound.port : this.address.port;
    return this.address.host.includes(':')
      ? `[${this.address.host}]:${port}`
      : `${this.address.host}:${port}`;
  }

  async listen(): Promise<void> {
    const server = createServer((request, response) => void this.#serve(request, response));
    const closeServer = connectionCloser(server);
    const address = this.address;
    try {
      if (address.kind === 'unix') {
        mkdirSync(dirname(address.path), { recursive: true, mode: 0o700 });
        removeSocketFile(address.path);
      }
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        const ready = () => {
          server.off('error', reject);
          resolve();
        };
        if (address.kind === 'unix') server.listen(address.path, ready);
        else server.listen(address.port, address.host, ready);
      });
      // Owner and group (a local scraping agent in the daemon's group), nobody else.
      if (address.kind === 'unix') chmodSync(address.path, 0o660);
    } catch (cause) {
      server.close();
      throw new MetricsError(
        'EGW_METRICS_LISTEN',
        `cannot serve metrics on ${this.where}: ${(cause as Error).message}`,
        {
          hint: 'pick a free port or a writable socket directory in metrics.listen, or set metrics.listen = "" to turn metrics off',
          cause,
        },
      );
    }
    this.#server = server;
    this.#closeServer = closeServer;
  }

  async close(): Promise<void> {
    const closeServer = this.#closeServer;
    this.#server = undefined;
    this.#closeServer = undefined;
    await closeServer?.();
  }

  async #serve(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const path = (request.url ?? '/').split('?')[0];
    if (path !== '/metrics') {
      response
        .writeHead(404, { 'content-type': 'text/plain; charset=utf-8' })
        .end('only /metrics is served here\n');
      return;
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      response.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    try {
      const text = await this.#metrics.render(await this.#snapshot());
      response.writeHead(200, { 'content-type': this.#metrics.contentType });
      response.end(request.method === 'HEAD' ? undefined : text);
    } catch (error) {
      this.#log.warn({ err: error }, 'metrics scrape failed');
      response.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('metrics unavailable\n');
    }
  }
}

/** A socket file left by a previous run (the daemon's own path: nothing else listens there). */
function removeSocketFile(path: string): void {
  try {
    unlinkSync(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
  }
}
