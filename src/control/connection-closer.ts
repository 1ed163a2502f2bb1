import type { Server, Socket } from 'node:net';

/**
 * Follows `server`'s open connections from now on, so that closing it does not wait for clients
 * that keep theirs open: the function returned destroys them and resolves once the server has
 * closed. For the control socket and the metrics endpoint (an http.Server is a net.Server).
 */
export function connectionCloser(server: Server): () => Promise<void> {
  const connections = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    connections.add(socket);
    socket.on('close', () => connections.delete(socket));
  });
  return async () => {
    for (const socket of connections) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}
