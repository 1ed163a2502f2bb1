import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { type CommandResult, gatewayctl } from '../helpers/daemon-harness.js';
import { opensslVerifyCsr } from '../helpers/openssl.js';

const factoryCa = new URL('../../scripts/factory-ca.sh', import.meta.url).pathname;
let caDir: string;

beforeAll(() => {
  caDir = join(mkdtempSync(join(tmpdir(), 'egw-ca-')), 'factory-ca');
  execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' });
});

/** A config for the software backend in a fresh directory (the TPM and ATECC608A runs are in their own tests). */
function softwareGateway() {
  const dir = mkdtempSync(join(tmpdir(), 'egw-prov-'));
  const config = join(dir, 'gateway.toml');
  writeFileSync(
    config,
    `[identity]\ncertificate_dir = "${dir}/identity"\n[identity.key]\nbackend = "software"\n` +
      `[identity.key.software]\npath = "${dir}/identity-key.pem"\n`,
  );
  return { dir, config };
}

const json = (result: CommandResult) => JSON.parse(result.stdout);
const statuses = (report: { items: { name: string; status: string }[] }) =>
  Object.fromEntries(report.items.map((item) => [item.name, item.status]));

/** The line CA signs the gateway's CSR (factory-ca.sh), then the technician installs the result. */
function signAndInstall(gw: { dir: string; config: string }, csrPath: string, ...extra: string[]) {
  const issued = join(gw.dir, 'device.crt');
  execFileSync(factoryCa, ['sign', caDir, csrPath, issued], { stdio: 'pipe' });
  const signer = join(caDir, 'intermediate.crt');
  return gatewayctl(
    'provision',
    'install-certs',
    '-c',
    gw.config,
    '--cert',
    issued,
    '--signer',
    signer,
    ...extra,
  );
}

describe('factory CA kit', () => {
  it('makes a P-256 root and intermediate that verify, and refuses to overwrite them', () => {
    const text = execFileSync(
      'openssl',
      ['x509', '-in', join(caDir, 'intermediate.crt'), '-noout', '-text'],
      {
        encoding: 'utf8',
      },
    );
    expect(text).toContain('ASN1 OID: prime256v1');
    expect(text).toMatch(/CA:TRUE, pathlen:0/);
    execFileSync('openssl', ['verify', '-CAfile', join(caDir, 'root.crt'), join(caDir, 'intermediate.crt')]);
    expect(() => execFileSync(factoryCa, ['init', caDir], { stdio: 'pipe' })).toThrow(
      /refusing to overwrite/,
    );
  });
});

describe('gatewayctl provision (software backend)', () => {
  it('factory: key, CSR, signature, certificates; verify passes, exportability n/a (simulated)', async () => {
    const gw = softwareGateway();
    const run = await gatewayctl('provision', 'factory', '--config', gw.config, '--ca-dir', caDir, '--yes');
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\[1\/6\] !! connected to software key .*NOT hardware-backed/m);
    expect(run.stdout).toMatch(/^\[4\/6\] ok signed by the factory CA/m);
    expect(run.stdout).toMatch(/^\[6\/6\] -- lock zones: nothing to lock on this backend$/m);

    const certificate = join(gw.dir, 'identity', 'device.der');
    const text = execFileSync('openssl', ['x509', '-inform', 'DER', '-in', certificate, '-noout', '-text'], {
      encoding: 'utf8',
    });
    expect(text).toMatch(/Subject: CN = device-[0-9A-F]{18}, serialNumber = [0-9A-F]{18}/);
    expect(text).toMatch(/TLS Web Client Authentication, TLS Web Server Authentication/);
    expect(text).toMatch(/CA:FALSE/);
    expect(text).toMatch(/1\.3\.6\.1\.4\.1\.12345\.1\.1:\s+\.\.edge-gateway/);

    const verify = await gatewayctl(
      'provision',
      'verify',
      '--config',
      gw.config,
      '--ca',
      join(caDir, 'root.crt'),
      '--json',
    );
    expect(verify.code).toBe(0);
    const report = json(verify);
    expect(report).toMatchObject({
      ok: true,
      status: 'pass',
      simulated: expect.stringContaining('PKCS#8 file'),
    });
    expect(statuses(report)).toEqual({
      'identity key present': 'pass',
      'key not exportable': 'n/a',
      'device certificate present': 'pass',
      'certificate matches key': 'pass',
      'chain verifies': 'pass',
      'zones locked': 'n/a',
      'key signs': 'pass',
    });
    expect(report.items[1]).toMatchObject({
      status: 'n/a',
      ok: null,
      simulated: true,
      reason: expect.stringMatching(/^the software key store keeps the key in a PKCS#8 file/),
    });
  });

  it('n/a never hides a real failure: a certificate for another key FAILs, exit 1', async () => {
    const gw = softwareGateway();
    const other = softwareGateway();
    expect((await gatewayctl('provision', 'factory', '-c', gw.config, '--ca-dir', caDir)).code).toBe(0);
    expect((await gatewayctl('provision', 'factory', '-c', other.config, '--ca-dir', caDir)).code).toBe(0);
    // The technician's slip: the other gateway's certificate copied onto this one.
    copyFileSync(join(other.dir, 'identity', 'device.der'), join(gw.dir, 'identity', 'device.der'));

    const text = await gatewayctl('provision', 'verify', '-c', gw.config, '--ca', join(caDir, 'root.crt'));
    expect(text.code).toBe(1);
    expect(text.stdout).toContain('  [FAIL] certificate matches key: the certificate is for another key\n');
    expect(text.stdout).toMatch(
      /^ {2}\[ n\/a\] key not exportable: n\/a \(simulated\): the software key store/m,
    );
    expect(text.stdout).toMatch(/^result: FAIL \(2 n\/a, 1 of them because the part is simulated\)$/m);

    const report = json(await gatewayctl('provision', 'verify', '-c', gw.config, '--json'));
    expect(report).toMatchObject({ ok: false, status: 'fail' });
    expect(statuses(report)['certificate matches key']).toBe('fail');
  });

  it('refuses to replace an identity without --force, and replaces it with --force', async () => {
    const gw = softwareGateway();
    expect((await gatewayctl('provision', 'factory', '-c', gw.config, '--ca-dir', caDir)).code).toBe(0);
    const firstKey = readFileSync(join(gw.dir, 'identity-key.pem'), 'utf8');

    const again = await gatewayctl('provision', 'factory', '-c', gw.config, '--ca-dir', caDir, '--json');
    expect(again.code).toBe(1);
    expect(json(again)).toMatchObject({
      ok: false,
      code: 'EGW_PROVISION_EXISTS',
      message: 'this gateway already has an identity (an identity key and a device certificate)',
    });
    expect(readFileSync(join(gw.dir, 'identity-key.pem'), 'utf8')).toBe(firstKey);

    const forced = await gatewayctl(
      'provision',
      'factory',
      '-c',
      gw.config,
      '--ca-dir',
      caDir,
      '--force',
      '--json',
    );
    expect(forced.code).toBe(0);
    expect(json(forced).ok).toBe(true);
    expect(readFileSync(join(gw.dir, 'identity-key.pem'), 'utf8')).not.toBe(firstKey);
  });

  it('hands a CSR to the line CA, then installs what it issued', async () => {
    const gw = softwareGateway();
    const csrPath = join(gw.dir, 'device.csr');
    const made = await gatewayctl('provision', 'factory', '-c', gw.config, '--csr-out', csrPath);
    expect(made.code).toBe(0);
    expect(made.stdout).toContain('next: have the factory CA sign');
    opensslVerifyCsr(readFileSync(csrPath, 'utf8'));
    expect(existsSync(join(gw.dir, 'identity', 'device.der'))).toBe(false);

    const installed = await signAndInstall(gw, csrPath, '--json');
    expect(installed.code).toBe(0);
    expect(json(installed).certificate.subject).toMatch(/^CN=device-/);
    expect(existsSync(join(gw.dir, 'identity', 'device.der'))).toBe(true);
  });

  it('refuses a certificate issued for another key, or by another CA', async () => {
    const gw = softwareGateway();
    const other = softwareGateway();
    await gatewayctl('provision', 'factory', '-c', gw.config, '--csr-out', join(gw.dir, 'a.csr'));
    await gatewayctl('provision', 'factory', '-c', other.config, '--csr-out', join(other.dir, 'b.csr'));
    execFileSync(factoryCa, ['sign', caDir, join(other.dir, 'b.csr'), join(other.dir, 'b.crt')], {
      stdio: 'pipe',
    });
    const wrongKey = await gatewayctl(
      'provision',
      'install-certs',
      '-c',
      gw.config,
      '--cert',
      join(other.dir, 'b.crt'),
      '--signer',
      join(caDir, 'intermediate.crt'),
      '--json',
    );
    expect(json(wrongKey)).toMatchObject({ code: 'EGW_PROVISION_MISMATCH' });
    expect(json(wrongKey).message).toMatch(/is for another key than this gateway's$/);

    execFileSync(factoryCa, ['sign', caDir, join(gw.dir, 'a.csr'), join(gw.dir, 'a.crt')], { stdio: 'pipe' });
    const wrongSigner = await gatewayctl(
      'provision',
      'install-certs',
      '-c',
      gw.config,
      '--cert',
      join(gw.dir, 'a.crt'),
      '--signer',
      join(caDir, 'root.crt'),
      '--json',
    );
    expect(json(wrongSigner).code).toBe('EGW_PROVISION_MISMATCH');
    expect(json(wrongSigner).message).toMatch(
      /was not issued by O=edge-gatewayd factory, CN=edge-gatewayd factory root CA$/,
    );
  });

  it('the factory CA refuses a CSR whose subject is not the device profile', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-prov-'));
    execFileSync('openssl', [
      'ecparam',
      '-name',
      'prime256v1',
      '-genkey',
      '-noout',
      '-out',
      join(dir, 'k.pem'),
    ]);
    execFileSync('openssl', [
      'req',
      '-new',
      '-key',
      join(dir, 'k.pem'),
      '-subj',
      '/CN=laptop',
      '-out',
      join(dir, 'x.csr'),
    ]);
    expect(() =>
      execFileSync(factoryCa, ['sign', caDir, join(dir, 'x.csr'), join(dir, 'x.crt')], { stdio: 'pipe' }),
    ).toThrow(/CSR subject CN must be device-<serial in hex>, found: laptop/);
  });

  it('lock is refused where there is nothing to lock', async () => {
    const gw = softwareGateway();
    const result = await gatewayctl('provision', 'lock', '-c', gw.config, '--yes');
    expect(result.code).toBe(1);
    expect(result.stderr).toBe('gatewayctl: this key backend has no zones to lock\n');
  });
});

describe('gatewayctl provision (TPM 2.0 on swtpm)', () => {
  let swtpm: SwtpmProcess;
  beforeAll(async () => {
    swtpm = await SwtpmProcess.start();
  });
  afterAll(async () => {
    await swtpm?.stop();
  });

  function tpmGateway() {
    const dir = mkdtempSync(join(tmpdir(), 'egw-prov-tpm-'));
    const config = join(dir, 'gateway.toml');
    writeFileSync(
      config,
      `[identity]\ncertificate_dir = "${dir}/identity"\n[identity.key]\nbackend = "tpm"\n` +
        `[identity.key.tpm]\ntcti = "${swtpm.tcti}"\npersistent_handle = 0x81000123\n`,
    );
    return { dir, config };
  }

  it('makes a CSR openssl accepts, and a factory identity whose checklist passes, swtpm n/a (simulated)', async () => {
    const gw = tpmGateway();
    const csrPath = join(gw.dir, 'device.csr');
    const made = await gatewayctl('provision', 'factory', '-c', gw.config, '--csr-out', csrPath);
    expect(made.stderr).toBe('');
    expect(made.stdout).toMatch(
      /^\[1\/4\] !! connected to TPM 2\.0 IBM \(SW TPM\).*: serial [0-9A-F]{18}; NOT hardware-backed/m,
    );
    expect(made.stdout).toMatch(/^\[2\/4\] ok generated the identity key \(persistent handle 0x81000123\)/m);
    // The key's authorization value (issue 17): made with the key, beside the certificates, 0600.
    const auth = statSync(join(gw.dir, 'identity', 'tpm-key-auth'));
    expect({ mode: auth.mode & 0o777, size: auth.size }).toEqual({ mode: 0o600, size: 32 });
    expect(opensslVerifyCsr(readFileSync(csrPath, 'utf8'))).toMatch(
      /Subject: CN = device-[0-9A-F]+, serialNumber = /,
    );

    const installed = await signAndInstall(gw, csrPath);
    expect(installed.code).toBe(0);

    const verify = await gatewayctl('provision', 'verify', '-c', gw.config, '--ca', join(caDir, 'root.crt'));
    // swtpm (over its own TCTI) is a software TPM: its key is in a state file, so exportability
    // cannot be proven; the checklist says so as n/a, not FAIL; every other item passes.
    expect(verify.stdout).toContain(
      '  [ n/a] key not exportable: n/a (simulated): a software TPM (swtpm TCTI) keeps its keys in a state file; only the real part can prove its key never leaves it\n',
    );
    expect(verify.stdout).toMatch(/\[PASS\] chain verifies/);
    expect(verify.stdout).toMatch(/\[PASS\] key signs/);
    expect(verify.stdout).toContain('[ n/a] zones locked: not applicable to this backend');
    expect(verify.stdout).not.toContain('FAIL');
    expect(verify.stdout).toMatch(/^result: PASS \(2 n\/a, 1 of them because the part is simulated\)$/m);
    expect(verify.code).toBe(0);
  });
});

describe('gatewayctl provision (ATECC608A simulator)', () => {
  function ateccGateway() {
    const dir = mkdtempSync(join(tmpdir(), 'egw-prov-atecc-'));
    const config = join(dir, 'gateway.toml');
    writeFileSync(
      config,
      `[identity.key]\nbackend = "atecc608"\n[identity.key.atecc608]\n` +
        `simulator_state = "${dir}/atecc608.json"\nsimulator_timing = false\n`,
    );
    return { dir, config };
  }

  it('provisions slot 0, stores the certificates, locks after --yes, and refuses to lock twice', async () => {
    const gw = ateccGateway();
    const run = await gatewayctl('provision', 'factory', '-c', gw.config, '--ca-dir', caDir, '--yes');
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(
      /^\[1\/6\] !! connected to ATECC608A rev 0x6002 \(hw-sim simulator\): serial 0123[0-9A-F]{12}EE; NOT hardware-backed/m,
    );
    expect(run.stdout).toMatch(/^\[2\/6\] ok generated the identity key \(slot 0\)/m);
    expect(run.stdout).toMatch(/^\[6\/6\] ok locked the configuration and data zones/m);
    expect(run.code).toBe(0);

    const verified = await gatewayctl(
      'provision',
      'verify',
      '-c',
      gw.config,
      '--ca',
      join(caDir, 'root.crt'),
      '--json',
    );
    expect(verified.code).toBe(0);
    const verify = json(verified);
    expect(statuses(verify)).toEqual({
      'identity key present': 'pass',
      'key not exportable': 'n/a', // the simulator's key is in its state file, and it says so
      'device certificate present': 'pass',
      'certificate matches key': 'pass',
      'chain verifies': 'pass',
      'zones locked': 'pass',
      'key signs': 'pass',
    });
    expect(verify.items[1]).toMatchObject({
      simulated: true,
      reason: expect.stringMatching(/^the ATECC608A simulator keeps its "private" key in its state file/),
    });

    // A real failure on the simulated part is still FAIL: the chain up to another line's root.
    const otherRoot = join(mkdtempSync(join(tmpdir(), 'egw-ca-other-')), 'factory-ca');
    execFileSync(factoryCa, ['init', otherRoot], { stdio: 'pipe' });
    const wrongRoot = await gatewayctl(
      'provision',
      'verify',
      '-c',
      gw.config,
      '--ca',
      join(otherRoot, 'root.crt'),
    );
    expect(wrongRoot.code).toBe(1);
    expect(wrongRoot.stdout).toMatch(/^ {2}\[FAIL\] chain verifies: signer .* is not signed by /m);
    expect(wrongRoot.stdout).toMatch(/^ {2}\[ n\/a\] key not exportable: n\/a \(simulated\)/m);
    expect(wrongRoot.stdout).toMatch(/^result: FAIL/m);

    const twice = await gatewayctl('provision', 'lock', '-c', gw.config, '--yes', '--json');
    expect(twice.code).toBe(1);
    expect(json(twice)).toMatchObject({
      code: 'EGW_KEY_LOCKED',
      message: 'the configuration and data zones are already locked; refusing to lock twice',
    });
  });

  it('leaves the zones unlocked without confirmation, says so, and locks later with provision lock', async () => {
    const gw = ateccGateway();
    const run = await gatewayctl('provision', 'factory', '-c', gw.config, '--ca-dir', caDir);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^\[6\/6\] !! lock zones: NOT locked: run `gatewayctl provision lock --yes`/m);
    const before = json(await gatewayctl('provision', 'verify', '-c', gw.config, '--json'));
    expect(before.items.find((item: { name: string }) => item.name === 'zones locked')).toMatchObject({
      status: 'fail',
      ok: false,
      detail: 'config locked, data UNLOCKED',
    });
    const lock = await gatewayctl('provision', 'lock', '-c', gw.config, '--yes');
    expect(lock).toMatchObject({ code: 0, stdout: 'locked the configuration and data zones\n' });
  });

  it("makes a CSR with the part's key that openssl accepts", async () => {
    const gw = ateccGateway();
    const csrPath = join(gw.dir, 'device.csr');
    expect((await gatewayctl('provision', 'factory', '-c', gw.config, '--csr-out', csrPath)).code).toBe(0);
    expect(opensslVerifyCsr(readFileSync(csrPath, 'utf8'))).toMatch(
      /Subject: CN = device-0123[0-9A-F]{12}EE, serialNumber = 0123[0-9A-F]{12}EE/,
    );
  });
});
