import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { DtlsPeer, DtlsServer } from '../../src/tls/dtls/dtls-server.js';
import { type DtlsPki, makeDtlsPki, run, startEchoServer, waitFor } from '../helpers/dtls-pki.js';

/** Interop with `openssl s_client -dtls1_2`: mutual auth, session resumption, renegotiation refused. */
let pki: DtlsPki;
let server: DtlsServer;
let port: number;

beforeAll(async () => {
  pki = makeDtlsPki();
  ({ server, port } = await startEchoServer(pki));
});

afterAll(async () => {
  await server?.close();
  pki?.remove();
});

function sClient(extra: string[], input = '') {
  return run(
    'openssl',
    [
      's_client',
      '-dtls1_2',
      '-connect',
      `127.0.0.1:${port}`,
      '-cert',
      pki.file('sensor.pem'),
      '-key',
      pki.file('sensor.key'),
      '-CAfile',
      pki.file('ca.pem'),
      '-verify_return_error',
      ...extra,
    ],
    { input, timeoutMs: 20_000 },
  );
}

describe('DtlsServer with openssl s_client -dtls1_2', () => {
  it('resumes a session saved with -sess_out when it comes back with -sess_in', async () => {
    const sessionFile = pki.file('s_client.session');
    const before = server.stats();
    const first = await sClient(['-sess_out', sessionFile]);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('New, TLSv1.2, Cipher is ECDHE-ECDSA-AES128-GCM-SHA256');
    expect(first.stdout).toContain('Verify return code: 0 (ok)');

    const sessions = waitFor<[DtlsPeer]>(server, 'session');
    const second = await sClient(['-sess_in', sessionFile]);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('Reused, TLSv1.2');
    const [peer] = await sessions;
    expect(peer.resumed).toBe(true);
    expect(peer.identity.subject).toBe('CN=sensor'); // the identity survives resumption
    const after = server.stats();
    expect(after.handshakesResumed).toBe(before.handshakesResumed + 1);
    expect(after.handshakesCompleted).toBe(before.handshakesCompleted + 2);
  });

  it('delivers application data with the peer identity', async () => {
    const received = waitFor<[Buffer, DtlsPeer]>(server, 'message');
    const result = await sClient([], 'hello from s_client\n');
    const [data, peer] = await received;
    expect(result.code).toBe(0);
    expect(data.toString()).toBe('hello from s_client\n');
    expect(peer.identity.subject).toBe('CN=sensor');
  });

  it('refuses a client-initiated renegotiation ("R" in s_client)', async () => {
    const before = server.stats().renegotiationsRefused;
    const ended = waitFor<[DtlsPeer, string]>(server, 'sessionEnd');
    const result = await sClient([], 'R\n');
    await ended;
    expect(result.stdout + result.stderr).toMatch(/RENEGOTIATING/);
    expect(result.stderr).toMatch(/no renegotiation/);
    expect(server.stats().renegotiationsRefused).toBe(before + 1);
  });
});
