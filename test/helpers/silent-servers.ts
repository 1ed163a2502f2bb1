import { createServer, type Server, type Socket } from 'node:net';

/**
 * Servers that accept connections and never say a word (not even a TLS ServerHello), as a stalled
 * or black-holed peer does — or a port or unix socket another process holds. A test keeps one set
 * and closes it after each case.
 */
export class SilentServers {
  readonly #servers: Server[] = [];
  readonly #held: Socket[] = [];

  /** Connections accepted so far and held open. */
  get held(): number {
    return this.#held.length;
  }

  /** Listens on `where` (loopback TCP port 0 by default, or a unix socket path): "127.0.0.1:port" or the path. */
  async listen(where: { path: string } | { port: 0 } = { port: 0 }): Promise<string> {
    const server = createServer((socket) => {
      this.#held.push(socket);
    });
    this.#servers.push(server);
    await new Promise<void>((resolve) =>
      'path' in where ? server.listen(where.path, resolve) : server.listen(0, '127.0.0.1', resolve),
    );
    const address = server.address();
    return typeof address === 'string' ? address : `127.0.0.1:${address?.port}`;
  }

  /** Drops every held connection and closes every server. */
  async close(): Promise<void> {
    for (const socket of this.#held.splice(0)) socket.destroy();
    await Promise.all(
      this.#servers.splice(0).map((server) => new Promise((resolve) => server.close(resolve))),
    );
  }
}
