import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pinServer, referenceServerBinary } from '../load/index.js';
import type { ServerUnderTest } from './servers-under-test.js';

/**
 * The floor of the handshake figures: the minimal C DTLS 1.2 server on the system's OpenSSL
 * (test/bench/load/dtls-reference-server.c: stateless cookies, mutual auth, RFC 5077 tickets, one SSL
 * per peer on one socket) with the daemon's own dedicated server key, certificate and sensor CA, so
 * that the load generator's client (same certificate, same cipher) sees the same handshake. Pinned
 * like the daemon (core 0).
 *
 * `openssl: 'node'` runs the same C code inside a node process bound to node's own OpenSSL
 * (reference-in-node.ts): the floor on the library the daemon uses (node 24/26 bundle 3.5; the
 * system's is 3.0 here, and their DTLS handshake costs differ).
 */
export async function startReferenceServer(
  daemon: ServerUnderTest,
  openssl: 'system' | 'node' = 'system',
): Promise<ServerUnderTest> {
  const files = daemon.serverFiles;
  if (!files)
    throw new Error(
      'the reference server needs the daemon with a dedicated server key (server_key = "file")',
    );
  const args = ['--port', '0', '--cert', files.certFile, '--key', files.keyFile, '--ca', files.clientCaFile];
  const inNode = join(dirname(fileURLToPath(import.meta.url)), 'reference-in-node.js');
  const child = spawn(
    openssl === 'node' ? process.execPath : referenceServerBinary(),
    openssl === 'node' ? [inNode, ...args] : args,
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
    name:
      openssl === 'node'
        ? "C reference server on node's OpenSSL (OpenSSL DTLS, nothing else)"
        : 'C reference server (OpenSSL DTLS, nothing else)',
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
