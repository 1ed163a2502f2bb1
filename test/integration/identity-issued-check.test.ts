import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EstServer, type IssueFault } from '../../hw-sim/est-server/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { type GatewayFixture, gatewayctl, gatewayFixture, startDaemon } from '../helpers/daemon-harness.js';
import { waitForIdentity } from '../helpers/identity-status.js';

/**
 * What the EST server issues is checked before the gateway installs it: an end entity, for the key
 * asked for, named as asked, clientAuth when an EKU is present, chained to the EST trust anchor,
 * valid now. Each refusal is logged with its reason, the gateway keeps its factory identity, the
 * status says why — and it enrols once the CA is fixed. The built daemon against the hw-sim EST
 * server issuing broken certificates (faults.issueFault, faults.wrongCa).
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
let caDir: string;
const services: ServiceSupervisor[] = [];
const servers: EstServer[] = [];

beforeAll(() => {
  caDir = join(mkdtempSync(join(tmpdir(), 'egw-issued-factory-')), 'factory');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
});
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  for (const server of servers.splice(0)) {
    await server.stop();
    rmSync(server.ca.stateDir, { recursive: true, force: true });
  }
});

async function startEst(options: Partial<Parameters<typeof EstServer.start>[0]> = {}): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: mkdtempSync(join(tmpdir(), 'egw-issued-est-')),
    factoryCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')],
    ...options,
  });
  servers.push(server);
  return server;
}

async function enrollingGateway(
  est: EstServer,
): Promise<{ fixture: GatewayFixture; daemon: ServiceSupervisor }> {
  const fixture = gatewayFixture();
  const anchor = join(fixture.dir, 'est-root.pem');
  writeFileSync(anchor, est.rootPem);
  fixture.writeConfig(
    `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${anchor}"\ntimeout_ms = 5000\n` +
      '[identity.renewal]\nretry_initial_ms = 200\nretry_max_ms = 1000\n',
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
  const daemon = startDaemon(fixture.configPath);
  services.push(daemon);
  await daemon.waitReady();
  return { fixture, daemon };
}

/** Enrols against a CA that issues `broken` certificates: refused for `reason`, then fixed. */
async function refusedThenFixed(
  est: EstServer,
  breakIt: () => void,
  fixIt: () => void,
  reason: RegExp,
): Promise<void> {
  breakIt();
  const { fixture, daemon } = await enrollingGateway(est);
  const refused = await waitForIdentity(fixture, (s) => s.attempts >= 1);
  expect(refused.presenting).toBe('factory');
  expect(refused.pending).toBeNull();
  expect(refused.lastError).toMatch(reason);
  // The server did answer 200: the status says it was refused, and why.
  expect(refused.request?.lastAnswer?.status).toBe(200);
  expect(refused.request?.lastAnswer?.text).toMatch(reason);
  expect(est.auditEntries().some((entry) => entry.issued)).toBe(true);
  const logged = daemon.logRecords().find((record) => record.event === 'identity.certificate_refused');
  expect(String(logged?.reason)).toMatch(reason);
  fixIt();
  const fixed = await waitForIdentity(fixture, (s) => s.state === 'operational');
  expect(fixed.presenting).toBe('operational');
  expect(fixed.request).toBeNull();
}

const faultCases: [IssueFault, RegExp][] = [
  ['other-key', /is not for this gateway's key/],
  ['other-subject', /is for subject "CN=another-device", not the CN the request asked for/],
  ['other-san', /names dns:another-device\.example in its subjectAltName, which the request did not ask for/],
  ['eku-without-client-auth', /extended key usage without clientAuth/],
  ['expired', /the issued certificate \w+ expired at/],
  ['not-yet-valid', /the issued certificate \w+ is not valid before/],
];

describe('issued certificates are checked before they are installed', () => {
  for (const [fault, reason] of faultCases) {
    it(`refuses a certificate with fault ${fault}, keeps its identity, enrols once the CA is fixed`, async () => {
      const est = await startEst();
      await refusedThenFixed(
        est,
        () => {
          est.faults.issueFault = fault;
        },
        () => delete est.faults.issueFault,
        reason,
      );
    });
  }

  it('refuses a CA certificate (CA:TRUE), never taking it as the leaf of the answer', async () => {
    const est = await startEst({ enrollResponse: 'chain' });
    await refusedThenFixed(
      est,
      () => {
        est.faults.issueFault = 'ca-true';
      },
      () => delete est.faults.issueFault,
      /holds only CA certificates \(basicConstraints CA:TRUE\)|is a CA certificate/,
    );
  });

  it('refuses a chain that ends at a root the answer brought along, not the EST trust anchor', async () => {
    // The unrelated CA comes with the leaf: the chain is complete, but not to the pinned anchor.
    const est = await startEst({ enrollResponse: 'chain' });
    await refusedThenFixed(
      est,
      () => {
        est.faults.wrongCa = true;
      },
      () => {
        est.faults.wrongCa = false;
      },
      /chains to ".*wrong CA.*", which is neither the EST trust anchor nor a CA from \/cacerts/,
    );
  });
});
