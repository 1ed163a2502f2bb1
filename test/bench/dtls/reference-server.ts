import { spawn } from 'node:child_process';
import { pinServer, referenceServerBinary } from '../load/index.js';
import type { ServerUnderTest } from './servers-under-test.js';

/**
 * The floor of the handshake figures: the minimal C DTLS 1.2 server on the system's OpenSSL
 * (test/bench/load/dtls-reference-server.c: stateless cookies, mutual auth, RFC 5077 tickets, one SSL
 * per peer on one socket) with the daemon's own dedicated server key, certificate and sensor CA, so
 * that the load generator's client (same certificate, same cipher) sees the same handshake. Pinned
 * like the daemon (core 0).
 */
export async function startReferenceServer(daemon: ServerUnderTest): Promise<ServerUnderTest> {
  const files = daemon.serverFiles;
  if (!files)
    throw new Error(
      'the reference server needs the daemon with a dedicated server key (server_key = "file")',
    );
  const child = spawn(
    referenceServerBinary(),
    ['--port', '0', '--cert', files.certFile, '--key', files.keyFile, '--ca', files.clientCaFile],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const line = await new Promise<string>((resolve, reject) => {
    child.stdout?.once('data', (chunk: Buffer) => resolve(chunk.toString()));
    child.once('exit', (code) => reject(new Error(`dtls-reference-server exited with ${code}`)));
    child.once('error', reject);
  });
  await pinServer(child.pid);
  const { port } = JSON.parse(line) as { port: number };
  return {
    name: 'C reference server (OpenSSL DTLS, nothing else)',
    pid: child.pid,
    target: { ...daemon.target, port, ...(child.pid ? { serverPid: child.pid } : {}) },
    getPath: '/',
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGINT');
      await exited;
    },
  };
}
