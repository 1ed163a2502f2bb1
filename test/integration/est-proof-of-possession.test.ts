import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EstServer, type EstServerOptions } from '../../hw-sim/est-server/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { EstClient, EstError } from '../../src/identity/index.js';
import { InProcessKeyStore, type KeyStore, SoftwareKeyDevice } from '../../src/keys/index.js';
import { buildCsr, type CsrProfile, pemBlocks } from '../../src/pki/index.js';
import { type ChannelBinding, keyStorePrivateKey, TlsClientContext } from '../../src/tls/index.js';
import { type GatewayFixture, gatewayctl, gatewayFixture } from '../helpers/daemon-harness.js';
import { readyDaemon, waitForIdentity } from '../helpers/identity-status.js';
import { ateccKeyStore, TestPki, tpmKeyStore } from '../helpers/tls-peers.js';

/**
 * Proof of possession with channel binding (RFC 7030 §3.5): the CSR carries the tls-unique (TLS 1.2)
 * or tls-exporter (TLS 1.3) value of the connection that posts it, and is signed by the key store
 * after that handshake. Our client against the hw-sim EST server with PoP required, with software and
 * hardware keys (swtpm, ATECC608A simulator); then the daemon end to end.
 */
const CHALLENGE_PASSWORD = '1.2.840.113549.1.9.7';
const profile: CsrProfile = {
  serial: '0123ABCD',
  commonName: 'device-{serial}',
  sanDns: [],
  sanUri: [],
  serverAuth: false,
  deviceType: 'edge-gateway',
  deviceTypeOid: '1.3.6.1.4.1.12345.1.1',
};

let dir: string;
let pki: TestPki;
const servers: EstServer[] = [];
const contexts: TlsClientContext[] = [];
const stores: KeyStore[] = [];
const swtpms: SwtpmProcess[] = [];
const services: ServiceSupervisor[] = [];

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'egw-est-pop-'));
  pki = TestPki.create(join(dir, 'pki'));
});
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  for (const context of contexts.splice(0)) context.free();
  for (const server of servers.splice(0)) await server.stop();
  for (const store of stores.splice(0)) await store.close();
  for (const swtpm of swtpms.splice(0)) await swtpm.stop();
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function startEst(options: Partial<EstServerOptions> = {}): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: mkdtempSync(join(dir, 'est-')),
    factoryCaPem: [readFileSync(pki.factoryRoot, 'utf8')],
    proofOfPossession: 'required',
    ...options,
  });
  servers.push(server);
  return server;
}

function softwareStore(): KeyStore {
  const params = { path: join(mkdtempSync(join(dir, 'sw-')), 'key.pem'), certificateDir: dir };
  new SoftwareKeyDevice(params).generateKey({ overwrite: false });
  const store = new InProcessKeyStore(new SoftwareKeyDevice(params));
  stores.push(store);
  return store;
}

/** An EST client whose TLS client certificate (factory CA) is for `store`'s key, which signs the handshake. */
async function clientFor(server: EstServer, store: KeyStore): Promise<EstClient> {
  const context = new TlsClientContext({
    ca: pemBlocks(server.rootPem),
    certificateChain: await pki.clientChain(store, profile.serial),
    privateKey: keyStorePrivateKey(store, await store.publicKey()),
  });
  contexts.push(context);
  return new EstClient({ url: server.url, context, timeoutMs: 20_000 });
}

/** Bound enrolment as the lifecycle does it; returns the binding the CSR carried. */
async function enrolBound(server: EstServer, store: KeyStore): Promise<ChannelBinding> {
  const est = await clientFor(server, store);
  const cas = await est.cacerts();
  expect((await est.csrattrs()).map((attribute) => attribute.oid)).toContain(CHALLENGE_PASSWORD);
  let used: ChannelBinding | undefined;
  const outcome = await est.enrollBound(
    'simpleenroll',
    async (binding) => {
      used = binding;
      const challengePassword = Buffer.from(binding.value).toString('base64');
      return (await buildCsr(store, profile, { challengePassword })).der;
    },
    cas,
  );
  if (outcome.status !== 'issued') throw new Error('expected a certificate');
  // Issued for the key in the store.
  expect(Buffer.from(outcome.certificate.publicKey.rawData)).toEqual(Buffer.from(await store.publicKey()));
  return used as ChannelBinding;
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

const runDaemon = (fixture: GatewayFixture) => readyDaemon(fixture, services);

describe('EST proof of possession: the CSR carries the binding of the connection that posts it', () => {
  it('software key, TLS 1.3: tls-exporter (32 bytes), accepted by the server', async () => {
    const server = await startEst();
    const binding = await enrolBound(server, softwareStore());
    expect(binding.type).toBe('tls-exporter');
    expect(binding.value).toHaveLength(32);
    expect(server.auditEntries().filter((entry) => entry.issued)).toHaveLength(1);
  });

  it('software key, TLS 1.2-only server: tls-unique (the client Finished, 12 bytes), accepted', async () => {
    const server = await startEst({ maxTlsVersion: 'TLSv1.2' });
    const binding = await enrolBound(server, softwareStore());
    expect(binding.type).toBe('tls-unique');
    expect(binding.value).toHaveLength(12);
  });

  it('swtpm: the TPM signs the handshake and, after it, the bound CSR (TLS 1.3 and TLS 1.2)', async () => {
    const tpm = await tpmKeyStore(mkdtempSync(join(dir, 'tpm-')));
    swtpms.push(tpm.swtpm);
    stores.push(tpm.store);
    expect((await enrolBound(await startEst(), tpm.store)).type).toBe('tls-exporter');
    expect((await enrolBound(await startEst({ maxTlsVersion: 'TLSv1.2' }), tpm.store)).type).toBe(
      'tls-unique',
    );
  });

  it('ATECC608A simulator: the same, TLS 1.3 and TLS 1.2', async () => {
    const store = await ateccKeyStore(mkdtempSync(join(dir, 'atecc-')));
    stores.push(store);
    expect((await enrolBound(await startEst(), store)).type).toBe('tls-exporter');
    expect((await enrolBound(await startEst({ maxTlsVersion: 'TLSv1.2' }), store)).type).toBe('tls-unique');
  });

  for (const maxTlsVersion of ['TLSv1.3', 'TLSv1.2'] as const) {
    it(`refuses a CSR carrying the binding of another connection (replayed), ${maxTlsVersion}`, async () => {
      const server = await startEst({ maxTlsVersion });
      const store = softwareStore();
      const est = await clientFor(server, store);
      const cas = await est.cacerts();
      // Connection A: the CSR is made for it, then A is dropped before posting.
      let replayed: Uint8Array | undefined;
      await expect(
        est.enrollBound(
          'simpleenroll',
          async (binding) => {
            const challengePassword = Buffer.from(binding.value).toString('base64');
            replayed = (await buildCsr(store, profile, { challengePassword })).der;
            throw new Error('stop before posting');
          },
          cas,
        ),
      ).rejects.toThrow('stop before posting');
      // Connection B posts A's CSR.
      const error = await failure(est.enrollBound('simpleenroll', async () => replayed as Uint8Array, cas));
      expect(error.status).toBe(401);
      expect(error.bodyExcerpt).toContain('Proof of Possession Mismatch');
      expect(error.hint).toMatch(/proof of possession/);
      expect(error.hint).not.toMatch(/username|password/);
      expect(server.auditEntries().filter((entry) => entry.issued)).toHaveLength(0);
    });
  }

  it('PoP required, client without PoP: refused, and the hint says proof of possession, not username/password', async () => {
    const server = await startEst();
    const store = softwareStore();
    const est = await clientFor(server, store);
    const cas = await est.cacerts();
    const error = await failure(est.simpleenroll((await buildCsr(store, profile)).der, cas));
    expect(error.status).toBe(401);
    expect(error.bodyExcerpt).toContain('Proof of Possession Mismatch');
    expect(error.hint).toMatch(/proof of possession/);
    expect(error.hint).toContain('identity.est.proof_of_possession');
    expect(error.hint).not.toMatch(/username/);
  });

  it('PoP optional: a CSR without binding is issued, one with a wrong binding is refused; csrattrs stays silent', async () => {
    const server = await startEst({ proofOfPossession: 'optional' });
    const store = softwareStore();
    const est = await clientFor(server, store);
    const cas = await est.cacerts();
    expect((await est.csrattrs()).map((attribute) => attribute.oid)).not.toContain(CHALLENGE_PASSWORD);
    expect((await est.simpleenroll((await buildCsr(store, profile)).der, cas)).status).toBe('issued');
    const wrong = await buildCsr(store, profile, {
      challengePassword: Buffer.alloc(32, 7).toString('base64'),
    });
    expect((await failure(est.simpleenroll(wrong.der, cas))).status).toBe(401);
  });
});

// ---- the daemon end to end: zero touch with PoP ----

const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;

/** An EST server (PoP required) that trusts a fresh factory CA, and a gateway provisioned by it. */
async function popSetUp(
  serverOptions: Partial<EstServerOptions>,
  extra = '',
  keySection = '',
): Promise<{ est: EstServer; fixture: GatewayFixture }> {
  const caDir = join(mkdtempSync(join(dir, 'factory-')), 'factory');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
  const est = await startEst({
    factoryCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')],
    ...serverOptions,
  });
  const fixture = gatewayFixture();
  const anchor = join(fixture.dir, 'est-root.pem');
  writeFileSync(anchor, est.rootPem);
  const estSection =
    `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${anchor}"\ntimeout_ms = 5000\n${extra}` +
    '[identity.renewal]\nretry_initial_ms = 200\nretry_max_ms = 1000\n';
  if (keySection) {
    // A hardware key: the fixture's [identity.key] (software) is replaced, not added to.
    writeFileSync(
      fixture.configPath,
      `[store]\npath = "${fixture.dbPath}"\n[control]\nsocket = "${fixture.socketPath}"\n` +
        `[identity]\ncertificate_dir = "${fixture.dir}/identity"\n${keySection}${estSection}`,
    );
  } else {
    fixture.writeConfig(estSection);
  }
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
  return { est, fixture };
}

describe('zero touch with proof of possession (daemon)', () => {
  it('"auto" (default) follows /csrattrs: enrols against a PoP-required server over TLS 1.3', async () => {
    const { est, fixture } = await popSetUp({});
    const service = await runDaemon(fixture);
    const status = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(status.presenting).toBe('operational');
    expect(est.auditEntries().filter((entry) => entry.issued)).toHaveLength(1);
    const csrattrs = service.logRecords().find((record) => record.event === 'identity.csrattrs');
    expect(csrattrs?.honoured).toContain('challengePassword');
  });

  it('swtpm key, TLS 1.2-only server: the daemon enrols with tls-unique, CSR signed in the TPM', async () => {
    const swtpm = await SwtpmProcess.start();
    swtpms.push(swtpm);
    const { est, fixture } = await popSetUp(
      { maxTlsVersion: 'TLSv1.2' },
      '',
      `[identity.key]\nbackend = "tpm"\n[identity.key.tpm]\ntcti = "${swtpm.tcti}"\npersistent_handle = 0x81000300\n`,
    );
    await runDaemon(fixture);
    const status = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(status.keyBackend).toBe('tpm');
    expect(est.auditEntries().filter((entry) => entry.issued)).toHaveLength(1);
  });

  it('"never" against a PoP-required server: not enrolled, and the hint says proof of possession', async () => {
    const { est, fixture } = await popSetUp({}, 'proof_of_possession = "never"\n');
    const service = await runDaemon(fixture);
    const status = await waitForIdentity(fixture, (s) => s.lastError !== null);
    expect(status.presenting).toBe('factory');
    expect(status.lastError).toContain('Proof of Possession Mismatch');
    const retry = service.logRecords().find((record) => record.event === 'identity.retry');
    expect(String(retry?.hint)).toMatch(/proof of possession/);
    expect(String(retry?.hint)).not.toMatch(/username/);
    expect(est.auditEntries().some((entry) => entry.status === 401)).toBe(true);
  });
});
