/**
 * OcspClient against OpenSSL's OCSP responder (`openssl ocsp -index index.txt -port N`) over HTTP,
 * for sensors whose certificates name it in authorityInfoAccess: the verdicts compared with
 * `openssl ocsp -url … -CAfile` on the same certificates; then, with the responder stopped, the cache
 * answering synchronously until nextUpdate (-nmin) while fetches fail with EGW_TRUST_FETCH_FAILED;
 * then the CA's delegated responder (-rsigner responder.pem, extendedKeyUsage OCSPSigning) on the same port.
 */
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OcspClient, type OcspStatus } from '../../src/trust/ocsp/index.js';
import { TrustError } from '../../src/trust/trust-error.js';
import type { CertificateFacts } from '../../src/trust/validation/index.js';
import { freePort, OpensslOcspPki, type RunningResponder } from '../helpers/openssl-ocsp-pki.js';

const minute = 60_000;
const NEXT_UPDATE_MINUTES = 10;
// Whole seconds: index.txt and GeneralizedTime have no milliseconds.
const revokedAt = new Date(Math.floor(Date.now() / 1000) * 1000 - 60 * minute);

let pki: OpensslOcspPki;
let url: string;
let ca: CertificateFacts;
let good: CertificateFacts;
let revoked: CertificateFacts;
let withoutAia: CertificateFacts;
let silentSensor: CertificateFacts;
let silent: Server;
const silentSockets = new Set<Socket>();
let responder: RunningResponder | undefined;
let client: OcspClient;
let port: number;

beforeAll(async () => {
  pki = new OpensslOcspPki();
  port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // A responder that accepts connections and never answers (a real socket, not a stub of ours).
  silent = createServer((socket) => {
    silentSockets.add(socket);
    socket.on('close', () => silentSockets.delete(socket));
  });
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
  const silentAddress = silent.address();
  const silentPort = typeof silentAddress === 'object' && silentAddress ? silentAddress.port : 0;

  ca = pki.ca('ca', '/CN=Sensor CA');
  good = pki.leaf('good', 'ca', { serial: '1001', ocspUrl: url });
  revoked = pki.leaf('revoked', 'ca', { serial: '1002', ocspUrl: url });
  withoutAia = pki.leaf('without-aia', 'ca', { serial: '1003' });
  silentSensor = pki.leaf('silent-sensor', 'ca', {
    serial: '1004',
    ocspUrl: `http://127.0.0.1:${silentPort}/`,
  });
  pki.leaf('responder', 'ca', { serial: '2001', extendedKeyUsage: 'OCSPSigning' });
  pki.writeIndex([
    { certificate: 'good' },
    { certificate: 'revoked', revoked: { at: revokedAt, reason: 'keyCompromise' } },
  ]);
  client = new OcspClient({ timeoutMs: 10_000 });
});

afterAll(async () => {
  client?.stop();
  await responder?.stop();
  for (const socket of silentSockets) socket.destroy();
  await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
  pki?.remove();
});

async function fetchFailure(work: Promise<unknown>): Promise<TrustError> {
  try {
    await work;
  } catch (error) {
    if (error instanceof TrustError) return error;
    throw error;
  }
  throw new Error('expected a TrustError');
}

describe('OcspClient against openssl ocsp as the responder', () => {
  let goodAnswer: OcspStatus;
  let revokedAnswer: OcspStatus;

  it('good and revoked, as openssl ocsp -url says', async () => {
    responder = await pki.startResponder(port, 'index.txt', {
      ca: 'ca',
      signer: 'ca',
      nextUpdateMinutes: NEXT_UPDATE_MINUTES,
    });
    const now = new Date();
    goodAnswer = await client.check(good, ca, now);
    revokedAnswer = await client.check(revoked, ca, now);

    const opensslGood = pki.opensslAsk('good', 'ca', url);
    const opensslRevoked = pki.opensslAsk('revoked', 'ca', url);
    expect(opensslGood, opensslGood.output).toMatchObject({ status: 'good', verified: true });
    expect(opensslRevoked, opensslRevoked.output).toMatchObject({
      status: 'revoked',
      verified: true,
      reason: 'keyCompromise',
    });

    expect(goodAnswer.status).toBe(opensslGood.status);
    expect(revokedAnswer).toMatchObject({ status: opensslRevoked.status, revokedAt, reason: 1 });
    expect(goodAnswer.nextUpdate?.getTime()).toBe(
      goodAnswer.thisUpdate.getTime() + NEXT_UPDATE_MINUTES * minute,
    );
  });

  it('with the responder down: cached() answers until nextUpdate, check() fails with EGW_TRUST_FETCH_FAILED', async () => {
    await responder?.stop();
    responder = undefined;
    // Each answer has its own nextUpdate (the two were asked apart: seconds apart on a loaded machine).
    const nextUpdates = [goodAnswer, revokedAnswer].map((answer) => (answer.nextUpdate as Date).getTime());
    const justBefore = new Date(Math.min(...nextUpdates) - 1000);
    const justAfter = new Date(Math.max(...nextUpdates) + 1000);

    const failure = await fetchFailure(client.check(good, ca, new Date()));
    expect(failure.code).toBe('EGW_TRUST_FETCH_FAILED');
    expect(failure.message).toContain(`OCSP request to ${url}: connect ECONNREFUSED`);
    expect(pki.opensslAsk('good', 'ca', url, 1).status).toBeUndefined(); // openssl cannot ask either

    expect(client.cached(good, ca, new Date())).toEqual(goodAnswer);
    expect(client.cached(revoked, ca, justBefore)).toEqual(revokedAnswer);
    expect(client.cached(good, ca, justAfter)).toBeUndefined();
    expect(client.cached(revoked, ca, justAfter)).toBeUndefined();
  });

  it("the CA's delegated responder (-rsigner responder.pem) on the same port: verified by both", async () => {
    responder = await pki.startResponder(port, 'index.txt', {
      ca: 'ca',
      signer: 'responder',
      nextUpdateMinutes: 2 * NEXT_UPDATE_MINUTES,
    });
    const now = new Date();
    const asking = client.check(revoked, ca, now);
    expect(client.check(revoked, ca, now)).toBe(asking); // one request in flight per certificate
    const answer = await asking;
    expect(answer).toMatchObject({ status: 'revoked', revokedAt, reason: 1 });
    // The newer answer replaced the cached one: it holds past the first responder's nextUpdate.
    const afterFirst = new Date((revokedAnswer.nextUpdate as Date).getTime() + 1000);
    expect(client.cached(revoked, ca, afterFirst)).toEqual(answer);

    const openssl = pki.opensslAsk('revoked', 'ca', url);
    expect(openssl, openssl.output).toMatchObject({ status: 'revoked', verified: true });
  });

  it('a certificate that names no OCSP responder: EGW_TRUST_FETCH_FAILED saying so', async () => {
    const failure = await fetchFailure(client.check(withoutAia, ca, new Date()));
    expect(failure.code).toBe('EGW_TRUST_FETCH_FAILED');
    expect(failure.message).toMatch(/"CN=without-aia" names no OCSP responder/);
    expect(client.cached(withoutAia, ca, new Date())).toBeUndefined();
  });

  it('a responder that accepts and never answers: EGW_TRUST_FETCH_FAILED at the deadline', async () => {
    const impatient = new OcspClient({ timeoutMs: 300 });
    const failure = await fetchFailure(impatient.check(silentSensor, ca, new Date()));
    expect(failure.code).toBe('EGW_TRUST_FETCH_FAILED');
    expect(failure.message).toMatch(/no complete answer within 300 ms/);
  });

  it('the wrong issuer: EGW_TRUST_INVALID_ARGUMENT, nothing asked', async () => {
    const failure = await fetchFailure(client.check(good, good, new Date()));
    expect(failure.code).toBe('EGW_TRUST_INVALID_ARGUMENT');
  });
});
