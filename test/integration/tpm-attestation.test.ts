import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type AttestationPolicy, AttestationVerifier, EstServer } from '../../hw-sim/est-server/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { manufacturerCaPem, SwtpmProcess } from '../../hw-sim/tpm/index.js';
import {
  decodeChallengeAnswer,
  encodeChallengeRequest,
  encodeEvidenceBundles,
} from '../../src/identity/attestation/index.js';
import type { AttestationIdentity, TpmEvidence } from '../../src/keys/index.js';
import { createDevice, type TpmKeyDevice } from '../../src/keys/tpm/index.js';
import { type GatewayFixture, gatewayctl } from '../helpers/daemon-harness.js';
import { readyDaemon, waitForIdentity } from '../helpers/identity-status.js';

/**
 * TPM attestation at enrolment (issue 17 item 5) under swtpm manufactured with EK certificates by a
 * simulated TPM vendor CA (swtpm_setup --create-ek-cert + swtpm_localca), against the hw-sim EST
 * server's verifier. End to end with the built daemon where the gateway can be made to fail (PCRs,
 * nonce lifetime, manufacturer CA); at the verifier, with evidence from two real TPMs, where only a
 * forger could (an AK the EK does not vouch for, an identity key from another TPM).
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
const SELECTION = 'sha256:0,1,2,3,4,5,6,7';
/** After TPM2_Startup(CLEAR), PCRs 0–15 are all zeros: the golden values of a TPM nothing measured into. */
const ZERO_PCRS = Object.fromEntries([0, 1, 2, 3, 4, 5, 6, 7].map((pcr) => [pcr, '00'.repeat(32)]));

let work: string;
let caDir: string;
let vendorCa: string;
const services: ServiceSupervisor[] = [];
const servers: EstServer[] = [];
const tpms: SwtpmProcess[] = [];

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'egw-attest-'));
  caDir = join(work, 'factory');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
  vendorCa = join(work, 'tpm-vendor-ca');
});
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  for (const server of servers.splice(0)) await server.stop();
  for (const tpm of tpms.splice(0)) await tpm.stop();
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function policy(overrides: Partial<AttestationPolicy> = {}): AttestationPolicy {
  return {
    manufacturerCaPem: [manufacturerCaPem(vendorCa)],
    pcrSelection: SELECTION,
    pcrValues: ZERO_PCRS,
    ...overrides,
  };
}

async function manufacturedTpm(): Promise<SwtpmProcess> {
  const tpm = await SwtpmProcess.start({ ekCertificateCaDir: vendorCa });
  tpms.push(tpm);
  return tpm;
}

async function attestingEst(
  attestation: AttestationPolicy,
  options: { lifetimeSeconds?: number } = {},
): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: mkdtempSync(join(work, 'est-')),
    factoryCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')],
    attestation,
    ...options,
  });
  servers.push(server);
  return server;
}

/** A gateway with its key in `tpm`, attestation on, provisioned with a factory certificate. */
async function attestedGateway(est: EstServer, tpm: SwtpmProcess, tpmExtra = ''): Promise<GatewayFixture> {
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
      `[identity.key]\nbackend = "tpm"\n[identity.key.tpm]\ntcti = "${tpm.tcti}"\npersistent_handle = 0x81000400\n${tpmExtra}` +
      `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${dir}/est-root.pem"\ntimeout_ms = 5000\n` +
      '[identity.renewal]\nretry_initial_ms = 200\nretry_max_ms = 1000\njitter_fraction = 0\n' +
      `[identity.attestation]\nmode = "tpm"\npcr_selection = "${SELECTION}"\n`,
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
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

describe('attested enrolment (swtpm with EK certificates)', () => {
  it('enrols with TPM evidence: challenge, then a CSR whose certify and quote the server accepts', async () => {
    const tpm = await manufacturedTpm();
    const est = await attestingEst(policy());
    const fixture = await attestedGateway(est, tpm);
    await runDaemon(fixture);
    const status = await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(status.keyBackend).toBe('tpm');
    const paths = est.auditEntries().map((entry) => `${entry.status} ${entry.path}`);
    expect(paths).toContain('200 /.well-known/est/attest-challenge');
    expect(est.auditEntries().filter((entry) => entry.issued)).toHaveLength(1);
  });

  it('attests a key under a PCR policy (identity.key.tpm.pcr_policy): TPM2_Certify with its auth value', async () => {
    const tpm = await manufacturedTpm();
    const est = await attestingEst(policy());
    const fixture = await attestedGateway(est, tpm, 'pcr_policy = "sha256:7"\n');
    const service = await runDaemon(fixture);
    await waitForIdentity(fixture, (s) => s.state === 'operational');
    expect(est.auditEntries().filter((entry) => entry.issued)).toHaveLength(1);
    await service.stop(); // swtpm serves one connection: let tpm2_readpublic in
    // The certified key really is the policy key: no userWithAuth, an authPolicy.
    const key = execFileSync('tpm2_readpublic', ['-c', '0x81000400'], {
      env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti, TSS2_LOG: 'all+NONE' },
      encoding: 'utf8',
    });
    expect(key).not.toMatch(/userwithauth/);
    expect(key).toMatch(/authorization policy: [0-9a-f]{64}/);
  });

  it('renews with fresh evidence: simplereenroll under the operational certificate is attested too', async () => {
    const tpm = await manufacturedTpm();
    const est = await attestingEst(policy(), { lifetimeSeconds: 8 });
    const fixture = await attestedGateway(est, tpm);
    await runDaemon(fixture);
    const first = await waitForIdentity(fixture, (s) => s.state === 'operational');
    const renewed = await waitForIdentity(
      fixture,
      (s) => s.state === 'operational' && s.serial !== first.serial,
    );
    expect(renewed.subject).toBe(first.subject);
    const answered = est.auditEntries().map((entry) => `${entry.status} ${entry.path}`);
    expect(
      answered.filter((line) => line === '200 /.well-known/est/attest-challenge').length,
    ).toBeGreaterThanOrEqual(2);
    expect(est.auditEntries().some((entry) => entry.issued && entry.path.endsWith('/simplereenroll'))).toBe(
      true,
    );
  });

  it('a request the CA keeps pending (202) comes back as the same request and is issued, not refused', async () => {
    const tpm = await manufacturedTpm();
    const est = await attestingEst(policy());
    est.faults.pending = { count: 1, retryAfterSeconds: 1 };
    const fixture = await attestedGateway(est, tpm);
    await runDaemon(fixture);
    await waitForIdentity(fixture, (s) => s.state === 'operational');
    const statuses = est.auditEntries().map((entry) => entry.status);
    expect(statuses).toContain(202);
    expect(statuses).not.toContain(403);
  });

  it('refuses a quote whose PCRs differ from the policy (a PCR extended after the policy was set)', async () => {
    const tpm = await manufacturedTpm();
    const est = await attestingEst(policy());
    const fixture = await attestedGateway(est, tpm);
    // Nothing else holds the swtpm connection now: the daemon is not running yet.
    execFileSync('tpm2_pcrextend', [`7:sha256=${'ab'.repeat(32)}`], {
      env: { ...process.env, TPM2TOOLS_TCTI: tpm.tcti, TSS2_LOG: 'all+NONE' },
      stdio: 'pipe',
    });
    await runDaemon(fixture);
    await refusedWith(est, fixture, /PCR digest mismatch/);
  });

  it('refuses evidence for a challenge that expired (stale nonce)', async () => {
    const tpm = await manufacturedTpm();
    const est = await attestingEst(policy({ challengeTtlSeconds: 0 }));
    const fixture = await attestedGateway(est, tpm);
    await runDaemon(fixture);
    await refusedWith(est, fixture, /stale nonce: the challenge expired/);
  });

  it('refuses an EK certificate from a manufacturer the policy does not trust', async () => {
    const tpm = await manufacturedTpm();
    const est = await attestingEst(
      policy({ manufacturerCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')] }),
    );
    const fixture = await attestedGateway(est, tpm);
    await runDaemon(fixture);
    await refusedWith(est, fixture, /does not chain to a trusted TPM manufacturer CA/);
  });
});

describe('the verifier against forged evidence from two real TPMs', () => {
  /** A TPM with an identity key, opened in this process (closed by the caller). */
  async function tpmWithKey(): Promise<{ device: TpmKeyDevice; spki: Uint8Array }> {
    const tpm = await manufacturedTpm();
    const device = createDevice({
      tcti: tpm.tcti,
      persistentHandle: 0x81000400,
      certificateDir: mkdtempSync(join(work, 'certs-')),
    });
    return { device, spki: device.generateKey({ overwrite: false }) };
  }

  function identify(device: TpmKeyDevice): AttestationIdentity {
    return device.attest({ step: 'identify' }) as AttestationIdentity;
  }

  function answer(device: TpmKeyDevice, challenge: ReturnType<typeof decodeChallengeAnswer>): TpmEvidence {
    return device.attest({ step: 'evidence', ...challenge, pcrSelection: SELECTION }) as TpmEvidence;
  }

  it('accepts honest evidence once; its nonce is never good again, the same request after a 202 is', async () => {
    const a = await tpmWithKey();
    try {
      const verifier = new AttestationVerifier(policy());
      const id = identify(a.device);
      const challenge = decodeChallengeAnswer(verifier.challenge(encodeChallengeRequest(id)));
      const bundles = encodeEvidenceBundles({ ...answer(a.device, challenge), ...id, ...challenge });
      expect(() => verifier.verify([bundles], a.spki)).not.toThrow();
      expect(() => verifier.verify([bundles], a.spki)).toThrow(/stale nonce: .* already used/);

      // Answered 202: the client repeats the same request (RFC 7030 §4.2.3), which is accepted…
      const second = decodeChallengeAnswer(verifier.challenge(encodeChallengeRequest(id)));
      const pending = encodeEvidenceBundles({ ...answer(a.device, second), ...id, ...second });
      verifier.keepPending(verifier.verify([pending], a.spki));
      expect(() => verifier.verify([pending], a.spki)).not.toThrow();
      // …but new evidence under that nonce (the TPM opens the same credential again) is not.
      const again = encodeEvidenceBundles({ ...answer(a.device, second), ...id, ...second });
      expect(() => verifier.verify([again], a.spki)).toThrow(/stale nonce: .* already used/);
    } finally {
      a.device.close();
    }
  });

  it("refuses an AK the EK does not vouch for: another TPM's AK presented with this TPM's EK certificate", async () => {
    const a = await tpmWithKey();
    const b = await tpmWithKey();
    try {
      const verifier = new AttestationVerifier(policy());
      const ekA = identify(a.device).ekCertificate;
      const idB = identify(b.device);
      // The forger asks for a challenge for (EK of A, AK of B): only TPM A could open it, for an AK it lacks.
      const forged = decodeChallengeAnswer(
        verifier.challenge(encodeChallengeRequest({ ekCertificate: ekA, akPublic: idB.akPublic })),
      );
      expect(() => answer(b.device, forged)).toThrow(); // TPM B cannot activate a credential for A's EK
      // So it answers with a nonce it can open (its own challenge) under the forged challenge's id.
      const own = decodeChallengeAnswer(verifier.challenge(encodeChallengeRequest(idB)));
      const bundles = encodeEvidenceBundles({
        ...answer(b.device, own),
        challengeId: forged.challengeId,
        akPublic: idB.akPublic,
        ekCertificate: ekA,
      });
      expect(() => verifier.verify([bundles], b.spki)).toThrow(/AK not certified by the EK/);
    } finally {
      a.device.close();
      b.device.close();
    }
  });

  it("refuses a CSR key outside the attested TPM (TPM A's evidence, TPM B's identity key)", async () => {
    const a = await tpmWithKey();
    const b = await tpmWithKey();
    try {
      const verifier = new AttestationVerifier(policy());
      const id = identify(a.device);
      const challenge = decodeChallengeAnswer(verifier.challenge(encodeChallengeRequest(id)));
      const bundles = encodeEvidenceBundles({ ...answer(a.device, challenge), ...id, ...challenge });
      expect(() => verifier.verify([bundles], b.spki)).toThrow(/identity key outside the attested TPM/);
    } finally {
      a.device.close();
      b.device.close();
    }
  });
});
