import { chmodSync, mkdirSync, unlinkSync } from 'node:fs';
import { createConnection, createServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { GatewayError } from '../errors/index.js';
import { connectionCloser } from './connection-closer.js';
import { ControlError } from './control-error.js';
import { LineSplitter } from './line-splitter.js';
import type { ControlRequest, ControlResponse } from './protocol.js';

export type ControlHandler = (params: unknown) => unknown | Promise<unknown>;

/**
 * The daemon's side of the control socket. Owner-only (0600): whoever can open it can act on the
 * daemon. A stale socket left by a crash is replaced; a live one (another daemon) is an error.
 */
export class ControlServer {
  readonly path: string;
  readonly #handlers = new Map<string, ControlHandler>();
  #closeServer: (() => Promise<void>) | undefined;

  constructor(path: string) {
    this.path = path;
  }

  handle(method: string, handler: ControlHandler): this {
    this.#handlers.set(method, handler);
    return this;
  }

  async listen(): Promise<void> {
    mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    await removeStaleSocket(this.path);
    const server = createServer((socket) => this.#serve(socket));
    const closeServer = connectionCloser(server);
    // The umask closes the window between bind() and chmod() in which the socket would be world-usable.
    const previousUmask = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(this.path, () => {
          server.off('error', reject);
          resolve();
        });
      });
    } catch (cause) {
      throw new ControlError(
        'EGW_CONTROL_LISTEN',
        `cannot listen on control socket ${this.path}: ${(cause as Error).message}`,
        {
          hint: `check that ${dirname(this.path)} is writable by the edge-gatewayd user (RuntimeDirectory= in the unit creates it)`,
          cause,
        },
      );
    } finally {
      process.umask(previousUmask);
    }
    chmodSync(this.path, 0o600);
    this.#closeServer = closeServer;
  }

  async close(): Promise<void> {
    const closeServer = this.#closeServer;
    this.#closeServer = undefined;
    await closeServer?.();
  }

  #serve(socket: Socket): void {
    socket.on('error', () => socket.destroy());
    const splitter = new LineSplitter(
      (line) => void this.#answer(socket, line),
      () => {
        reply(socket, {
          id: 0,
          error: { code: 'EGW_CONTROL_BAD_REQUEST', message: 'request line too long' },
        });
        socket.end();
      },
    );
    socket.on('data', (chunk) => splitter.push(chunk));
  }

  async #answer(socket: Socket, line: string): Promise<void> {
    let request: ControlRequest;
    try {
      request = JSON.parse(line) as ControlRequest;
      if (typeof request !== 'object' || request === null || typeof request.method !== 'string')
        throw new Error();
    } catch {
      reply(socket, {
        id: 0,
        error: {
          code: 'EGW_CONTROL_BAD_REQUEST',
          message: 'a request is one JSON object with "id" and "method" per line',
        },
      });
      return;
    }
    const id = typeof request.id === 'number' ? request.id : 0;
    const handler = this.#handlers.get(request.method);
    if (!handler) {
      const known = [...this.#handlers.keys()].join(', ');
      reply(socket, {
        id,
        error: {
          code: 'EGW_CONTROL_UNKNOWN_METHOD',
          message: `unknown method "${request.method}" (known: ${known})`,
        },
      });
      return;
    }
    try {
      reply(socket, { id, result: await handler(request.params) });
    } catch (cause) {
      const error =
        cause instanceof GatewayError
          ? { code: cause.code, message: cause.message, ...(cause.hint ? { hint: cause.hint } : {}) }
          : { code: 'EGW_INTERNAL', message: String((cause as Error)?.message ?? cause) };
      reply(socket, { id, error });
    }
  }
}

function reply(socket: Socket, response: ControlResponse): void {
  if (!socket.destroyed) socket.write(`${JSON.stringify(response)}\n`);
}

/** Removes a socket file nobody listens on; refuses when a daemon is still answering on it. */
async function removeStaleSocket(path: string): Promise<void> {
  const alive = await new Promise<boolean>((resolve) => {
    const probe = createConnection(path);
    probe.once('connect', () => {
      probe.destroy();
      resolve(true);
    });
    probe.once('error', () => resolve(false));
  });
  if (alive) {
    throw new ControlError('EGW_CONTROL_IN_USE', `another edge-gatewayd is already listening on ${path}`, {
      hint: 'stop it first (systemctl stop edge-gatewayd), or give this instance another control.socket',
    });
  }
  try {
    unlinkSync(path);
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code !== 'ENOENT') throw cause;
  }
}
