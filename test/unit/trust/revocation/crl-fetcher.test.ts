import { once } from 'node:events';
import { mkdtempSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../../../src/store/index.js';
import {
  CrlFetcher,
  type CrlFetcherOptions,
  type CrlFetchFailure,
  CrlStore,
  type CrlUpdate,
  downloadCrl,
  issuerCertificate,
  maySignCrls,
  signerKeyOf,
} from '../../../../src/trust/revocation/index.js';
import { TrustError } from '../../../../src/trust/trust-error.js';
import { buildTestCrl, type TestCa, TestPkiDir } from '../../../helpers/test-crl.js';

type Behaviour = 'crl' | 'not-found' | 'slow' | 'oversized-declared' | 'oversized-streamed' | 'forged';

/** A CRL distribution point on 127.0.0.1 that answers each request with the next behaviour queued. */
class TestDistributionPoint {
  readonly server: Server;
  readonly queue: Behaviour[] = [];
  /** What to answer once the queue is empty. */
  fallback: Behaviour = 'crl';
  crl: Uint8Array = new Uint8Array(0);
  forged: Uint8Array = new Uint8Array(0);
  requests = 0;

  constructor() {
    this.server = createServer((request, response) => this.#answer(request, response));
  }

  async listen(): Promise<string> {
    this.server.listen(0, '127.0.0.1');
    await once(this.server, 'listening');
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/ca.crl`;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    this.server.close();
    await once(this.server, 'close');
  }

  #answer(_request: IncomingMessage, response: ServerResponse): void {
    this.requests++;
    const behaviour = this.queue.shift() ?? this.fallback;
    switch (behaviour) {
      case 'crl':
      case 'forged': {
        const body = behaviour === 'crl' ? this.crl : this.forged;
        response.writeHead(200, { 'content-type': 'application/pkix-crl', 'content-length': body.length });
        response.end(body);
        return;
      }
      case 'not-found':
        response.writeHead(404);
        response.end('no such CRL');
        return;
      case 'slow':
        // Headers and a first chunk, then nothing: the fetch deadline has to end it.
        response.writeHead(200, { 'content-type': 'application/pkix-crl' });
        response.write(this.crl.subarray(0, 10));
        return;
      case 'oversized-declared':
        response.writeHead(200, { 'content-length': 10_000_000 });
        response.write(new Uint8Array(1000));
        return;
      case 'oversized-streamed':
        // No Content-Length: only counting the streamed body can catch it.
        response.writeHead(200, { 'content-type': 'application/pkix-crl' });
        for (let i = 0; i < 8; i++) response.write(new Uint8Array(1024));
        response.end();
        return;
    }
  }
}

const hour = 3_600_000;
let pki: TestPkiDir;
let ca: TestCa;
let rogue: TestCa;
beforeAll(() => {
  pki = new TestPkiDir();
  ca = pki.ca('ca', { cn: 'Fetch CA' });
  rogue = pki.ca('rogue', { cn: 'Rogue' });
});
afterAll(() => pki.remove());

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function crlFor(number: bigint, nextUpdateInMs: number, signer?: TestCa): Uint8Array {
  const now = Date.now();
  return buildTestCrl({
    issuer: ca,
    signingKey: signer?.privateKey,
    thisUpdate: new Date(now - 60_000 + Number(number) * 1000),
    nextUpdate: new Date(now + nextUpdateInMs),
    crlNumber: number,
    entries: [{ serial: number, revokedAt: new Date(now - hour) }],
  });
}

async function setUp(options: Partial<CrlFetcherOptions> = {}) {
  const point = new TestDistributionPoint();
  const url = await point.listen();
  point.crl = crlFor(1n, 24 * hour);
  point.forged = crlFor(2n, 24 * hour, rogue);
  const store = Store.open(join(mkdtempSync(join(tmpdir(), 'egw-fetch-')), 'state.db'));
  const crlStore = new CrlStore(store);
  const fetcher = new CrlFetcher({
    crlStore,
    fetchTimeoutMs: 300,
    maxCrlBytes: 4096,
    refreshBeforeNextUpdateS: 1,
    retryInitialMs: 20,
    retryMaxMs: 100,
    ...options,
  });
  const updates: CrlUpdate[] = [];
  const failures: CrlFetchFailure[] = [];
  fetcher.on('updated', (update) => updates.push(update));
  fetcher.on('failed', (failure) => failures.push(failure));
  cleanups.push(() => point.close());
  cleanups.push(() => store.close());
  cleanups.push(() => fetcher.stop());
  return { point, url, crlStore, fetcher, updates, failures };
}

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((resource) => resource === 'Timeout').length;
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5));
}

describe('CrlFetcher', () => {
  it('fetches a missing CRL, imports it, emits updated, and schedules the refresh before nextUpdate', async () => {
    const { url, crlStore, fetcher, updates, failures } = await setUp();
    fetcher.track(ca.certDer, [url, 'ldap://ignored.example/cn=ca']);
    fetcher.start();
    await until(() => updates.length === 1);
    expect(failures).toEqual([]);
    expect(updates[0]).toMatchObject({ url, crlNumber: 1n, replaced: false, revokedSerialsAdded: 1 });
    expect(crlStore.crlInfo(ca.facts)).toMatchObject({
      source: url,
      distributionPoint: url,
    });
    const [state] = fetcher.scheduled();
    expect(state?.urls).toEqual([url]);
    expect(state?.attempt).toBe(0);
    // nextUpdate is a day away: the next fetch is planned about a day minus refresh_before from now.
    const planned = (state?.nextAttemptAt?.getTime() ?? 0) - Date.now();
    expect(planned).toBeGreaterThan(23 * hour);
    expect(planned).toBeLessThanOrEqual(24 * hour);
  });

  it('refuses 404, a body past the deadline, oversized bodies and a forged CRL, backing off, then recovers', async () => {
    const { point, url, crlStore, fetcher, updates, failures } = await setUp({ random: () => 1 });
    point.queue.push('not-found', 'slow', 'oversized-declared', 'oversized-streamed', 'forged', 'not-found');
    fetcher.track(ca.certDer, [url]);
    fetcher.start();
    await until(() => updates.length === 1);
    expect(failures.map((failure) => failure.error.code)).toEqual(Array(6).fill('EGW_TRUST_FETCH_FAILED'));
    const [notFound, slow, declared, streamed, forged] = failures.map((failure) => failure.error);
    expect(notFound?.status).toBe(404);
    expect(notFound?.message).toMatch(/HTTP 404/);
    expect(slow?.message).toMatch(/no complete answer within 300 ms/);
    expect(declared?.message).toMatch(/Content-Length 10000000 exceeds max_crl_bytes 4096/);
    expect(streamed?.message).toMatch(/body exceeds max_crl_bytes 4096/);
    expect(forged?.message).toMatch(/CRL refused: .*bad signature/);
    expect(forged?.cause).toMatchObject({ code: 'EGW_TRUST_CRL_REJECTED' });
    // Each failure names the CA (subject, signer key, thumbprint, SKI), not a hash of its name alone.
    for (const failure of failures) {
      expect(failure.ca).toEqual({
        subject: 'CN=Fetch CA',
        signerKey: signerKeyOf(ca.facts),
        sha256: [ca.facts.sha256],
        ski: ca.facts.subjectKeyId,
      });
      expect(failure).not.toHaveProperty('issuerNameSha256');
    }
    // Full jitter drawn at its top (random = 1): the ceiling doubles from retry_initial_ms up to retry_max_ms.
    expect(failures.map((failure) => [failure.attempt, failure.retryInMs])).toEqual([
      [1, 20],
      [2, 40],
      [3, 80],
      [4, 100],
      [5, 100],
      [6, 100],
    ]);
    expect(updates[0]).toMatchObject({ url, crlNumber: 1n });
    expect(crlStore.crlInfo(ca.facts)?.crlNumber).toBe(1n);
    expect(fetcher.scheduled()[0]?.attempt).toBe(0);
  });

  it('draws each retry between retry_initial_ms and the doubling ceiling', async () => {
    const { point, url, fetcher, failures } = await setUp({ retryInitialMs: 10, retryMaxMs: 60 });
    point.fallback = 'not-found';
    fetcher.track(ca.certDer, [url]);
    fetcher.start();
    await until(() => failures.length >= 6);
    fetcher.stop();
    failures.forEach((failure, i) => {
      const ceiling = Math.min(60, 10 * 2 ** i);
      expect(failure.retryInMs, `retry ${i}`).toBeGreaterThanOrEqual(10);
      expect(failure.retryInMs, `retry ${i}`).toBeLessThanOrEqual(ceiling);
    });
  });

  it('refreshes refresh_before_next_update_s before nextUpdate, and backs off while the CA serves the same CRL', async () => {
    const { point, url, crlStore, fetcher, updates } = await setUp({ retryInitialMs: 50, retryMaxMs: 50 });
    // Stored: CRL 1 whose nextUpdate is 1.2 s away, so its refresh time (1 s before) is 0.2 s away.
    crlStore.import(crlFor(1n, 1200), [ca.certDer], 'operator', new Date());
    point.crl = crlFor(1n, 1200);
    fetcher.track(ca.certDer, [url]);
    fetcher.start();
    expect(point.requests).toBe(0);
    // CRL 2 is already inside its own refresh window (nextUpdate 0.9 s away): rounds go on, backing off.
    point.crl = crlFor(2n, 900);
    await until(() => updates.length === 1);
    expect(updates[0]?.crlNumber).toBe(2n);
    expect(updates[0]?.replaced).toBe(true);
    await until(() => (fetcher.scheduled()[0]?.attempt ?? 0) >= 3);
    // The same CRL 2 came back each time: no new 'updated', and the rounds count as unsuccessful.
    expect(point.requests).toBeGreaterThanOrEqual(3);
    expect(updates).toHaveLength(1);
  });

  it('refreshNow fetches without start(); stop aborts a fetch in flight and leaves no timers', async () => {
    const baseline = activeTimers();
    const { point, url, fetcher, updates, failures } = await setUp({ fetchTimeoutMs: 60_000 });
    fetcher.track(ca.certDer, [url]);
    await fetcher.refreshNow();
    expect(updates).toHaveLength(1);
    expect(activeTimers()).toBe(baseline); // not started: nothing scheduled

    point.fallback = 'slow';
    point.crl = crlFor(2n, 24 * hour);
    fetcher.start();
    const inFlight = fetcher.refreshNow();
    await until(() => point.requests === 2);
    expect(activeTimers()).toBeGreaterThan(baseline); // the deadline of the fetch in flight
    fetcher.stop();
    await inFlight;
    expect(activeTimers()).toBe(baseline);
    expect(failures).toEqual([]); // an abort by stop() is not a failure
    expect(fetcher.scheduled()[0]?.nextAttemptAt).toBeUndefined();
  });
});

describe('downloadCrl', () => {
  it('refuses schemes other than http and https', async () => {
    await expect(downloadCrl('ldap://x/ca.crl', { timeoutMs: 100, maxBytes: 100 })).rejects.toMatchObject({
      code: 'EGW_TRUST_FETCH_FAILED',
      message: expect.stringMatching(/unsupported scheme ldap:/),
    });
  });

  it('reports a refused connection with its cause', async () => {
    const server = createServer();
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    const port = (server.address() as AddressInfo).port;
    server.close();
    await once(server, 'close');
    const failure = downloadCrl(`http://127.0.0.1:${port}/ca.crl`, { timeoutMs: 2000, maxBytes: 100 });
    await expect(failure).rejects.toMatchObject({ code: 'EGW_TRUST_FETCH_FAILED', status: undefined });
    await expect(failure).rejects.toHaveProperty('cause.code', 'ECONNREFUSED');
  });
});

describe('issuer certificates (CertificateFacts, read as path validation reads them)', () => {
  it('give the CRL cache the distribution points, subject Name, serial and whether the key may sign CRLs', () => {
    const leaf = pki.leaf('with-dp', ca, { serialHex: '00c0ffee', crlUrl: 'http://ca.example/fetch.crl' });
    const facts = issuerCertificate(leaf.certDer);
    expect(facts.crlDistributionPoints).toEqual(['http://ca.example/fetch.crl']);
    expect(facts.subject).toBe('CN=with-dp');
    expect(Buffer.from(facts.serial).toString('hex')).toBe('00c0ffee');
    expect(maySignCrls(facts)).toBe(false); // keyUsage digitalSignature only
    expect(maySignCrls(ca.facts)).toBe(true);
    expect(ca.facts.crlDistributionPoints).toEqual([]);
  });

  it('refuses a certificate it cannot read as EGW_TRUST_MALFORMED naming it', () => {
    let error: unknown;
    try {
      issuerCertificate(ca.certDer.subarray(0, 100), 'candidate issuer certificate #2');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(TrustError);
    expect(error).toMatchObject({
      code: 'EGW_TRUST_MALFORMED',
      message: expect.stringMatching(/^candidate issuer certificate #2: malformed: /),
    });
  });
});
