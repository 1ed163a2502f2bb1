import { execFileSync } from 'node:child_process';
import { X509Certificate as NodeX509 } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import Database from 'better-sqlite3';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EstServer, type EstServerOptions, independentEstServer } from '../../hw-sim/est-server/index.js';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { IdentityStatus } from '../../src/identity/index.js';
import { type GatewayFixture, gatewayctl, gatewayFixture, startDaemon } from '../helpers/daemon-harness.js';

/**
 * Zero touch against the way an independent, widely deployed open-source EST server answers out of
 * the box (issue 17 items 1 and 7): each behaviour of the hw-sim EST server alone, then all together.
 * The built daemon enrols over real HTTPS with its factory identity; nothing else tells it to.
 */
const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
let caDir: string;
const services: ServiceSupervisor[] = [];
const servers: EstServer[] = [];
const BASIC = { username: 'estuser', password: 'estpwd' };

beforeAll(() => {
  caDir = join(mkdtempSync(join(tmpdir(), 'egw-est-interop-')), 'factory');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
});
afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  for (const server of servers.splice(0)) {
    await server.stop();
    rmSync(server.ca.stateDir, { recursive: true, force: true });
  }
});

async function startEst(options: Partial<EstServerOptions>): Promise<EstServer> {
  const server = await EstServer.start({
    stateDir: mkdtempSync(join(tmpdir(), 'egw-est-')),
    factoryCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')],
    ...options,
  });
  servers.push(server);
  return server;
}

/** A provisioned gateway for `est` (Basic credentials when the server wants them), started. */
async function enrollingGateway(
  est: EstServer,
  basic = false,
  renewal = '',
): Promise<{ fixture: GatewayFixture; service: ServiceSupervisor }> {
  const fixture = gatewayFixture();
  const anchor = join(fixture.dir, 'est-root.pem');
  writeFileSync(anchor, est.rootPem);
  const credentials = basic ? `username = "${BASIC.username}"\npassword = "${BASIC.password}"\n` : '';
  fixture.writeConfig(
    `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${anchor}"\ntimeout_ms = 5000\n${credentials}` +
      `[identity.renewal]\nretry_initial_ms = 200\nretry_max_ms = 1000\n${renewal}[log]\nlevel = "debug"\n`,
  );
  const provisioned = await gatewayctl('provision', 'factory', '-c', fixture.configPath, '--ca-dir', caDir);
  expect(provisioned.code, provisioned.stderr).toBe(0);
  const service = startDaemon(fixture.configPath);
  services.push(service);
  await service.waitReady();
  return { fixture, service };
}

async function identityStatus(fixture: GatewayFixture): Promise<IdentityStatus> {
  const result = await gatewayctl('identity', 'status', '--json', '--socket', fixture.socketPath);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as IdentityStatus;
}

/** Operational, or the gateway's own account of why not (attempts and lastError). */
async function operational(fixture: GatewayFixture): Promise<IdentityStatus> {
  // A ceiling against hangs, not a timing assertion: a failing attempt is reported at once.
  const giveUpAt = Date.now() + 45_000;
  for (;;) {
    const status = await identityStatus(fixture);
    if (status.state === 'operational') return status;
    if (status.attempts >= 2 || Date.now() > giveUpAt) {
      throw new Error(`no operational identity: ${status.lastError ?? JSON.stringify(status)}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The issued certificate, as the EST server saw it go out (from its audit) and the gateway holds it. */
function issuedOnce(est: EstServer): NonNullable<ReturnType<EstServer['auditEntries']>[number]['issued']> {
  const issued = est.auditEntries().filter((entry) => entry.issued);
  expect(issued).toHaveLength(1);
  return issued[0]?.issued as NonNullable<(typeof issued)[number]['issued']>;
}

/** The chain of the committed identity, PEM, as the gateway stored it. */
function activeChainPem(fixture: GatewayFixture): string {
  const db = new Database(fixture.dbPath, { readonly: true });
  try {
    const row = db.prepare("SELECT chain_pem FROM identity_certificates WHERE status = 'active'").get();
    return (row as { chain_pem: string }).chain_pem;
  } finally {
    db.close();
  }
}

function logLines(service: ServiceSupervisor): Record<string, unknown>[] {
  return service.stdout
    .split('\n')
    .filter((line) => line.startsWith('{'))
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('zero touch against an independent EST server, one behaviour at a time', () => {
  it('csrattrs: valid base64 followed by one NUL byte', async () => {
    const est = await startEst({ csrattrsTrailingNul: true });
    const { fixture, service } = await enrollingGateway(est);
    await operational(fixture);
    issuedOnce(est);
    // The attributes were used, not dropped: the CSR honoured what they asked for, and the NUL is counted.
    const lines = logLines(service);
    const csrattrs = lines.find((line) => line.event === 'identity.csrattrs');
    expect(csrattrs?.honoured).toEqual(expect.arrayContaining(['ecdsaWithSha256', 'serialNumber']));
    const ignored = lines.find((line) => line.event === 'est.body_ignored_bytes');
    expect(ignored).toMatchObject({ operation: 'csrattrs', ignored: 1, values: ['00'] });
    expect(lines.some((line) => line.event === 'identity.csrattrs_unusable')).toBe(false);
  });

  it('base64 wrapped at 64 columns with CRLF, and a NUL after the last CRLF', async () => {
    const est = await startEst({ wrapBase64: true, csrattrsTrailingNul: true });
    const { fixture, service } = await enrollingGateway(est);
    await operational(fixture);
    issuedOnce(est);
    expect(logLines(service).some((line) => line.event === 'identity.csrattrs_unusable')).toBe(false);
  });

  it('no Content-Transfer-Encoding header, PKCS#7 Content-Type spelled differently', async () => {
    const est = await startEst({
      contentTransferEncoding: false,
      pkcs7ContentType: 'Application/PKCS7-MIME; smime-type=CERTS-ONLY; name="cert.p7c"',
    });
    const { fixture } = await enrollingGateway(est);
    await operational(fixture);
    issuedOnce(est);
  });

  it('leaf-only /simpleenroll and root-only /cacerts from a one-level CA', async () => {
    const est = await startEst({ enrollResponse: 'leaf', cacerts: 'root', issueFromRoot: true });
    const { fixture } = await enrollingGateway(est);
    const status = await operational(fixture);
    const root = new NodeX509(est.rootPem);
    expect(status.issuer).toBe(issuedOnce(est).issuer);
    expect(issuedOnce(est).issuer).toContain(
      root.subject
        .split('\n')
        .find((part) => part.startsWith('CN='))
        ?.slice(3),
    );
  });

  it('TLS 1.2 only', async () => {
    const est = await startEst({ maxTlsVersion: 'TLSv1.2' });
    // The server really refuses TLS 1.3 (else this test would prove nothing).
    const version = await new Promise<string | null>((resolve, reject) => {
      const socket = connect(
        { port: est.port, host: '127.0.0.1', ca: est.rootPem, minVersion: 'TLSv1.2' },
        () => {
          resolve(socket.getProtocol());
          socket.end();
        },
      );
      socket.on('error', reject);
    });
    expect(version).toBe('TLSv1.2');
    const { fixture } = await enrollingGateway(est);
    await operational(fixture);
    issuedOnce(est);
  });

  it('HTTP Basic required in addition to the client certificate', async () => {
    const est = await startEst({ basicAuth: BASIC });
    const { fixture } = await enrollingGateway(est, true);
    await operational(fixture);
    const enrol = est.auditEntries().find((entry) => entry.issued);
    expect(enrol?.client?.authorized).toBe(true);
  });

  it('issued certificates without extendedKeyUsage and subjectAltName', async () => {
    const est = await startEst({ bareCertificates: true });
    const { fixture } = await enrollingGateway(est);
    const status = await operational(fixture);
    const certificate = new NodeX509(activeChainPem(fixture));
    expect(certificate.serialNumber.toLowerCase()).toBe(status.serial?.toLowerCase());
    expect(certificate.subjectAltName).toBeUndefined();
    expect(certificate.keyUsage).toBeUndefined(); // node: the extended key usages; none
  });
});

describe('an unusable /csrattrs is advice lost, never a reason to stop', () => {
  for (const [name, answer] of [
    ['a body that is no CsrAttrs', { status: 200, body: '<html>csrattrs disabled</html>' }],
    ['an HTTP error', { status: 500, body: 'csrattrs: internal error' }],
  ] as const) {
    it(`${name}: logged with what the server said, enrolment goes on`, async () => {
      const est = await startEst({});
      est.faults.csrattrsAnswer = answer;
      const { fixture, service } = await enrollingGateway(est);
      await operational(fixture);
      issuedOnce(est);
      const warning = logLines(service).find((line) => line.event === 'identity.csrattrs_unusable');
      expect(warning?.msg).toContain(answer.status === 200 ? 'csrattrs' : '500');
      expect(JSON.stringify(warning)).toContain(answer.body.slice(0, 12));
    });
  }
});

describe('zero touch against all of it at once', () => {
  it('enrols against the independent server profile, then proves the new identity to it', async () => {
    const est = await startEst(independentEstServer(BASIC));
    const { fixture } = await enrollingGateway(est, true);
    const status = await operational(fixture);
    expect(status.presenting).toBe('operational');
    const issued = issuedOnce(est);
    // The proof after install: a call authenticated by the new certificate.
    const proof = est
      .auditEntries()
      .filter((entry) => entry.path.endsWith('/cacerts') && entry.client?.serial === issued.serial);
    expect(proof.length).toBeGreaterThanOrEqual(1);
  });

  it('renews with /simplereenroll authenticated by the bare certificate the one-level CA issued', async () => {
    const est = await startEst({ ...independentEstServer(BASIC), lifetimeSeconds: 8 });
    const { fixture } = await enrollingGateway(est, true, 'jitter_fraction = 0\n');
    const first = await operational(fixture);
    const giveUpAt = Date.now() + 45_000; // a ceiling against hangs, not a timing assertion
    let renewed = first;
    while (renewed.serial === first.serial) {
      if (Date.now() > giveUpAt)
        throw new Error(`never renewed: ${renewed.lastError ?? JSON.stringify(renewed)}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
      renewed = await identityStatus(fixture);
    }
    expect(renewed.state).toBe('operational');
    const reenrol = est
      .auditEntries()
      .find((entry) => entry.issued && entry.path.endsWith('/simplereenroll'));
    expect(reenrol?.client?.serial.toLowerCase()).toBe(first.serial?.toLowerCase());
  });
});
