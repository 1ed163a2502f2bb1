import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EstServer, type EstServerOptions } from '../../hw-sim/est-server/index.js';
import { EstClient, EstError } from '../../src/identity/index.js';
import { pemBlocks } from '../../src/pki/index.js';
import { privateKeyFromPkcs8, TlsClientContext } from '../../src/tls/index.js';
import { TestPki } from '../helpers/tls-peers.js';

/**
 * The EST client against the hw-sim EST server in the shapes real servers answer in (RFC 7030 quirks
 * from DESIGN.md): leaf-only or chain answers, root-only cacerts, unwrapped base64, labels, Basic auth,
 * pending, errors. TLS runs on our own client stream with a factory certificate.
 */
let dir: string;
let pki: TestPki;
let client: { pkcs8: Uint8Array; chain: Uint8Array[] };
let rogue: { pkcs8: Uint8Array; chain: Uint8Array[] };
let csrDer: Uint8Array;
const servers: EstServer[] = [];
const contexts: TlsClientContext[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egw-est-client-'));
  pki = TestPki.create(join(dir, 'pki'));
  client = pki.softwareClient('0123ABCD');
  rogue = pki.rogueClient('0123ABCD');
  execFileSync(
    'openssl',
    [
      'req',
      '-new',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-keyout',
      join(dir, 'device.key'),
      '-subj',
      '/CN=device-0123ABCD/serialNumber=0123ABCD',
      '-outform',
      'DER',
      '-out',
      join(dir, 'device.csr'),
    ],
    { stdio: 'pipe' },
  );
  csrDer = new Uint8Array(readFileSync(join(dir, 'device.csr')));
});

afterEach(async () => {
  for (const context of contexts.splice(0)) context.free();
  for (const server of servers.splice(0)) await server.stop();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function setUp(options: Partial<EstServerOptions> = {}, who = client) {
  const server = await EstServer.start({
    stateDir: mkdtempSync(join(dir, 'est-')),
    factoryCaPem: [readFileSync(pki.factoryRoot, 'utf8')],
    ...options,
  });
  servers.push(server);
  const context = new TlsClientContext({
    ca: pemBlocks(server.rootPem),
    certificateChain: who.chain,
    privateKey: privateKeyFromPkcs8(who.pkcs8),
  });
  contexts.push(context);
  return { server, context, est: new EstClient({ url: server.url, context, timeoutMs: 10_000 }) };
}

async function failure(promise: Promise<unknown>): Promise<EstError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(EstError);
    return error as EstError;
  }
  throw new Error('expected an EstError');
}

describe('EstClient against the hw-sim EST server', () => {
  it('enrols; builds the chain from /cacerts when the answer holds only the leaf', async () => {
    // Line-wrapped (RFC 2045) bodies here; the other cases get the server's one-line default.
    const { est } = await setUp({ enrollResponse: 'leaf', cacerts: 'chain', wrapBase64: true });
    const cas = await est.cacerts();
    expect(cas).toHaveLength(2);
    const outcome = await est.simpleenroll(csrDer, cas);
    if (outcome.status !== 'issued') throw new Error('expected a certificate');
    expect(outcome.certificate.subject).toBe('CN=device-0123ABCD, 2.5.4.5=0123ABCD');
    expect(outcome.chain).toHaveLength(3); // leaf, issuing CA, root
    expect(outcome.chain[2]?.subject).toBe(outcome.chain[2]?.issuer);
  });

  it('takes a chain answer with root-only /cacerts and unwrapped base64', async () => {
    const { est } = await setUp({ enrollResponse: 'chain', cacerts: 'root' });
    const cas = await est.cacerts();
    expect(cas).toHaveLength(1);
    const outcome = await est.simpleenroll(csrDer, cas);
    expect(outcome.status === 'issued' && outcome.chain.length).toBe(3);
  });

  it('says clearly when neither answer holds the issuing CA', async () => {
    const { est } = await setUp({ enrollResponse: 'leaf', cacerts: 'root' });
    const error = await failure(est.simpleenroll(csrDer, await est.cacerts()));
    expect(error.code).toBe('EGW_EST_BAD_CERTIFICATE');
    expect(error.message).toMatch(/does not chain to the EST CA certificates/);
  });

  it('lists /csrattrs', async () => {
    const { est } = await setUp();
    const attributes = await est.csrattrs();
    expect(attributes.map((attribute) => attribute.oid)).toEqual(
      expect.arrayContaining(['1.2.840.10045.4.3.2', '2.5.4.5']),
    );
    expect(JSON.stringify(attributes)).toContain('1.3.6.1.4.1.12345.1.1');
  });

  it('reports 202 Retry-After as pending', async () => {
    const { server, est } = await setUp();
    server.faults.pending = { count: 1, retryAfterSeconds: 7 };
    const cas = await est.cacerts();
    expect(await est.simpleenroll(csrDer, cas)).toEqual({
      status: 'pending',
      retryAfterMs: 7000,
      message: expect.stringMatching(/pending approval/),
    });
    expect((await est.simpleenroll(csrDer, cas)).status).toBe('issued');
  });

  it('uses HTTP Basic when the server wants it in addition to the certificate', async () => {
    const { server, context, est } = await setUp({ basicAuth: { username: 'gw', password: 's3cret' } });
    const cas = await est.cacerts();
    const refused = await failure(est.simpleenroll(csrDer, cas));
    expect(refused.code).toBe('EGW_EST_HTTP');
    expect(refused.status).toBe(401);
    expect(refused.hint).toMatch(/username\/password/);
    expect(refused.retryable).toBe(false);
    const withBasic = new EstClient({
      url: server.url,
      context,
      basicAuth: { username: 'gw', password: 's3cret' },
    });
    expect((await withBasic.simpleenroll(csrDer, cas)).status).toBe('issued');
  });

  it('says in a 401 hint what the server asked for (its WWW-Authenticate), not a guess', async () => {
    const { server, context, est } = await setUp({ basicAuth: { username: 'gw', password: 's3cret' } });
    const cas = await est.cacerts();
    const missing = await failure(est.simpleenroll(csrDer, cas));
    expect(missing.hint).toContain('WWW-Authenticate: Basic realm="est"');
    expect(missing.hint).toMatch(/wants HTTP Basic in addition to the certificate/);
    const wrong = new EstClient({
      url: server.url,
      context,
      basicAuth: { username: 'gw', password: 'not-it' },
    });
    expect((await failure(wrong.simpleenroll(csrDer, cas))).hint).toMatch(
      /refused the HTTP Basic credentials/,
    );
    // No challenge from a server without Basic: the certificate is what it refused (none was sent).
    const { server: certificateOnly } = await setUp();
    const anonymous = new TlsClientContext({ ca: pemBlocks(certificateOnly.rootPem) });
    contexts.push(anonymous);
    const noCertificate = await failure(
      new EstClient({ url: certificateOnly.url, context: anonymous }).simpleenroll(csrDer, cas),
    );
    expect(noCertificate.status).toBe(401);
    expect(noCertificate.hint).toMatch(
      /without a WWW-Authenticate challenge: it did not accept the TLS client certificate/,
    );
  });

  it('reaches a labelled server only with its label', async () => {
    const { server, context } = await setUp({ label: 'gateways' });
    const labelled = new EstClient({ url: server.url, label: 'gateways', context });
    expect(await labelled.cacerts()).toHaveLength(2);
    const unlabelled = await failure(new EstClient({ url: server.url, context }).cacerts());
    expect(unlabelled.status).toBe(404);
    expect(unlabelled.hint).toMatch(/label/);
  });

  it('reports a server error with its status, body excerpt and what to do; 5xx is retryable', async () => {
    const { server, est } = await setUp();
    server.faults.failNext = { status: 503, count: 1, body: 'CA offline for maintenance' };
    const error = await failure(est.cacerts());
    expect(error.message).toMatch(/answered 503: CA offline for maintenance/);
    expect(error.bodyExcerpt).toBe('CA offline for maintenance');
    expect(error.retryable).toBe(true);
  });

  it('is refused (403) with a certificate from another CA', async () => {
    const { est } = await setUp({}, rogue);
    const error = await failure(est.simpleenroll(csrDer, []));
    expect(error.status).toBe(403);
  });

  it('does not talk to a server that does not chain to its explicit trust anchor', async () => {
    const { server } = await setUp();
    const context = new TlsClientContext({
      ca: pki.trustBundle, // another CA than the EST server's
      certificateChain: client.chain,
      privateKey: privateKeyFromPkcs8(client.pkcs8),
    });
    contexts.push(context);
    const error = await failure(new EstClient({ url: server.url, context }).cacerts());
    expect(error.code).toBe('EGW_EST_UNREACHABLE');
    expect(error.message).toMatch(/unknown CA|unable to get local issuer|certificate/i);
  });

  it('refuses a non-https URL with a hint', () => {
    expect(() => new EstClient({ url: 'http://est.example', context: undefined as never })).toThrow(
      /not https/,
    );
  });
});
