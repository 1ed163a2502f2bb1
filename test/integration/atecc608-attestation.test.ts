import { execFileSync } from 'node:child_process';
import { createPublicKey, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  type DeviceAttestationPolicy,
  DeviceAttestationVerifier,
  EstServer,
} from '../../hw-sim/est-server/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import {
  decodeNonceChallenge,
  deviceSignedMessage,
  encodeDeviceEvidenceBundles,
  encodeNonceChallengeRequest,
} from '../../src/identity/attestation/index.js';
import type { IdentityStatus } from '../../src/identity/index.js';
import { type GatewayFixture, gatewayctl, provisionFactory } from '../helpers/daemon-harness.js';
import { readyDaemon, waitForIdentity } from '../helpers/identity-status.js';

/**
 * ATECC608A attestation at enrolment (issue 17 item 5, last sentence): the simulated part is
 * provisioned by the factory CA kit (scripts/factory-ca.sh: root → intermediate "signer" → device
 * certificate of the slot-0 key), which is the simulated manufacturer PKI (Trust&Go's root → signer →
 * device). The hw-sim EST server trusts that root; the built daemon enrols with the evidence. Where
 * only a forger could fail (evidence for another key, a replayed nonce), at the verifier with a
 * device key certified by the same kit.
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;

let work: string;
let caDir: string;
let otherCaDir: string;
const services: ServiceSupervisor[] = [];
const servers: EstServer[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'egw-atecc-attest-'));
  caDir = join(work, 'factory');
  otherCaDir = join(work, 'other-manufacturer');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
  execFileSync(factoryCa, ['init', otherCaDir], { stdio: 'pipe', env: { ...process.env, CA_NAME: 'other' } });
});
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  for (const server of servers.splice(0)) await server.stop();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function policy(overrides: Partial<DeviceAttestationPolicy> = {}): DeviceAttestationPolicy {
  return { manufacturerCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')], ...overrides };
}

async function attestingEst(
  deviceAttestation: DeviceAttestationPolicy,
  options: { tlsClientRoots?: string[] } = {},
): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: mkdtempSync(join(work, 'est-')),
    // The TLS client certificates the server accepts (the same factory certificate, by default).
    factoryCaPem: (options.tlsClientRoots ?? [caDir]).map((dir) =>
      readFileSync(join(dir, 'root.crt'), 'utf8'),
    ),
    deviceAttestation,
  });
  servers.push(server);
  return server;
}

/** A gateway with its key in the simulated ATECC608A, provisioned by `provisioningCa`, attestation on. */
async function attestedGateway(est: EstServer, extra = '', provisioningCa = caDir): Promise<GatewayFixture> {
  const dir = mkdtempSync(join(work, 'gw-'));
  writeFileSync(join(dir, 'est-root.pem'), est.rootPem);
  const fixture: GatewayFixture = {
    dir,
    keyPath: '',
    configPath: join(dir, 'gateway.toml'),
    dbPath: join(dir, 'state.db'),
    socketPath: join(dir, 'control.sock'),
    writeConfig: () => undefined,
  };
  writeFileSync(
    fixture.configPath,
    `[store]\npath = "${fixture.dbPath}"\n[control]\nsocket = "${fixture.socketPath}"\n` +
      `[identity]\ncertificate_dir = "${dir}/identity"\n` +
      `[identity.key]\nbackend = "atecc608"\n[identity.key.atecc608]\nsimulator_state = "${dir}/atecc608.json"\nsimulator_timing = false\n` +
      `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${dir}/est-root.pem"\ntimeout_ms = 5000\n` +
      `[identity.renewal]\nretry_initial_ms = 200\nretry_max_ms = 1000\njitter_fraction = 0\n${extra}` +
      '[identity.attestation]\nmode = "atecc608"\n',
  );
  await provisionFactory(fixture.configPath, provisioningCa);
  return fixture;
}

/** The refusal the operator sees in `gatewayctl identity status`, and the server's audit of it. */
async function refusedWith(est: EstServer, fixture: GatewayFixture, reason: RegExp): Promise<void> {
  const status = await waitForIdentity(fixture, (s) => s.lastError !== null && reason.test(s.lastError));
  expect(status.state).not.toBe('operational');
  expect(status.lastError).toMatch(/\b403\b/);
  expect(est.auditEntries().some((entry) => entry.status === 403 && reason.test(entry.reason ?? ''))).toBe(
    true,
  );
  expect(est.auditEntries().some((entry) => entry.issued)).toBe(false);
}

const runDaemon = (fixture: GatewayFixture) => readyDaemon(fixture, services);

describe('ATECC608A-attested enrolment (simulated part, factory kit as the manufacturer PKI)', () => {
  it('enrols with the device chain and a device-key signature over the nonce and the CSR key', async () => {
    const est = await attestingEst(policy());
    const fixture = await attestedGateway(est);
    await runDaemon(fixture);
    const status = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(status.keyBackend).toBe('atecc608');
    const paths = est.auditEntries().map((entry) => `${entry.status} ${entry.path}`);
    expect(paths).toContain('200 /.well-known/est/attest-challenge');
    expect(est.auditEntries().filter((entry) => entry.issued)).toHaveLength(1);
  });

  it('with rotate_key, the device key vouches for the rotated key at renewal', async () => {
    const est = await attestingEst(policy());
    const fixture = await attestedGateway(est, 'rotate_key = true\n');
    await runDaemon(fixture);
    await waitForIdentity(fixture, (s) => s.state === 'operational');
    const result = await gatewayctl('identity', 'renew', '--now', '--json', '--socket', fixture.socketPath);
    expect(result.code, result.stdout + result.stderr).toBe(0);
    expect((JSON.parse(result.stdout) as IdentityStatus).keyLocation).toBe('rotated key A');
    const challenges = est
      .auditEntries()
      .filter((entry) => entry.status === 200 && entry.path.endsWith('/attest-challenge'));
    expect(challenges).toHaveLength(2);
    expect(est.auditEntries().some((entry) => entry.issued && entry.path.endsWith('/simplereenroll'))).toBe(
      true,
    );
  });

  it('a request the CA keeps pending (202) comes back as the same request and is issued, not refused', async () => {
    const est = await attestingEst(policy());
    est.faults.pending = { count: 1, retryAfterSeconds: 1 };
    const fixture = await attestedGateway(est);
    await runDaemon(fixture);
    await waitForIdentity(fixture, (s) => s.state === 'operational');
    const statuses = est.auditEntries().map((entry) => entry.status);
    expect(statuses).toContain(202);
    expect(statuses).not.toContain(403);
  });

  it('refuses a device chain from a manufacturer root the policy does not trust', async () => {
    // TLS lets the device in (the server accepts both roots for client certificates), the
    // attestation policy trusts only the first manufacturer.
    const est = await attestingEst(policy(), { tlsClientRoots: [caDir, otherCaDir] });
    const fixture = await attestedGateway(est, '', otherCaDir);
    await runDaemon(fixture);
    await refusedWith(est, fixture, /does not chain to a trusted manufacturer root/);
  });

  it('refuses evidence for a nonce that expired (stale nonce)', async () => {
    const est = await attestingEst(policy({ challengeTtlSeconds: 0 }));
    const fixture = await attestedGateway(est);
    await runDaemon(fixture);
    await refusedWith(est, fixture, /stale nonce: the challenge expired/);
  });
});

describe('the ATECC608A verifier against forged evidence', () => {
  /** A device key certified by the factory kit (openssl + factory-ca.sh), and its chain. */
  function certifiedDevice() {
    const dir = mkdtempSync(join(work, 'device-'));
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(dir, 'device.key'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    execFileSync('openssl', [
      'req',
      '-new',
      '-key',
      join(dir, 'device.key'),
      '-subj',
      '/CN=device-0123AB/serialNumber=0123AB',
      '-out',
      join(dir, 'device.csr'),
    ]);
    execFileSync(factoryCa, ['sign', caDir, join(dir, 'device.csr'), join(dir, 'device.crt')], {
      stdio: 'pipe',
    });
    const der = (file: string) =>
      new Uint8Array(
        Buffer.from(
          readFileSync(file, 'utf8')
            .replace(/-----[^-]+-----/g, '')
            .replace(/\s/g, ''),
          'base64',
        ),
      );
    return {
      privateKey,
      spki: new Uint8Array(createPublicKey(privateKey).export({ type: 'spki', format: 'der' })),
      deviceCertificate: der(join(dir, 'device.crt')),
      signerCertificate: der(join(caDir, 'intermediate.crt')),
    };
  }

  function evidence(
    device: ReturnType<typeof certifiedDevice>,
    challenge: ReturnType<typeof decodeNonceChallenge>,
    spki: Uint8Array,
  ): Uint8Array {
    const signature = sign('sha256', deviceSignedMessage(challenge.nonce, spki), {
      key: device.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    return encodeDeviceEvidenceBundles({ ...device, challengeId: challenge.challengeId, signature });
  }

  it('accepts honest evidence once; the same nonce is refused the second time', () => {
    const device = certifiedDevice();
    const verifier = new DeviceAttestationVerifier(policy());
    const challenge = decodeNonceChallenge(verifier.challenge(encodeNonceChallengeRequest()));
    const bundles = evidence(device, challenge, device.spki);
    expect(() => verifier.verify([bundles], device.spki)).not.toThrow();
    expect(() => verifier.verify([bundles], device.spki)).toThrow(/stale nonce: .* already used/);
  });

  it("refuses evidence for another key than the CSR's", () => {
    const device = certifiedDevice();
    const other = new Uint8Array(
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'der' }),
    );
    const verifier = new DeviceAttestationVerifier(policy());
    const challenge = decodeNonceChallenge(verifier.challenge(encodeNonceChallengeRequest()));
    // Genuine evidence for the device key, presented in a CSR for another key.
    const bundles = evidence(device, challenge, device.spki);
    expect(() => verifier.verify([bundles], other)).toThrow(/device signature does not verify/);
  });

  it('refuses a device certificate its signer certificate did not issue', () => {
    const device = certifiedDevice();
    const verifier = new DeviceAttestationVerifier(policy());
    const challenge = decodeNonceChallenge(verifier.challenge(encodeNonceChallengeRequest()));
    const signature = sign('sha256', deviceSignedMessage(challenge.nonce, device.spki), {
      key: device.privateKey,
      dsaEncoding: 'ieee-p1363',
    });
    const otherSigner = readFileSync(join(otherCaDir, 'intermediate.crt'), 'utf8');
    const bundles = encodeDeviceEvidenceBundles({
      ...device,
      signerCertificate: new Uint8Array(
        Buffer.from(otherSigner.replace(/-----[^-]+-----/g, '').replace(/\s/g, ''), 'base64'),
      ),
      challengeId: challenge.challengeId,
      signature,
    });
    expect(() => verifier.verify([bundles], device.spki)).toThrow(/not issued by the signer certificate/);
  });
});
