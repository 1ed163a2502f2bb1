import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { Store } from '../../src/store/index.js';
import { SensorNames } from '../../src/trust/index.js';
import {
  type CommandResult,
  type GatewayFixture,
  gatewayctl,
  gatewayFixture,
} from '../helpers/daemon-harness.js';
import { OpensslPki } from '../helpers/openssl-pki.js';

// gatewayctl against a temporary config and state database, with no daemon running: every change
// must land in the database and say it applies at the daemon's next start.
const NOT_RUNNING = 'edge-gatewayd is not running: the change applies at its next start';

let fixture: GatewayFixture;
let pki: OpensslPki;

/** gatewayctl with the fixture's config. */
function ctl(...args: string[]): Promise<CommandResult> {
  return gatewayctl(...args, '-c', fixture.configPath);
}

/** gatewayctl --json, expecting exit status 0, parsed. */
async function ctlJson(...args: string[]): Promise<Record<string, unknown>> {
  const result = await ctl(...args, '--json');
  expect(result, result.stderr).toMatchObject({ code: 0 });
  return JSON.parse(result.stdout) as Record<string, unknown>;
}

beforeAll(() => {
  fixture = gatewayFixture();
  pki = new OpensslPki();
  pki.ca('ca', '/CN=Line 2 Sensor CA/O=Acme');
  pki.ca('other-root', '/CN=Other Root');
  pki.ca('other-issuing', '/CN=Other Issuing');
  pki.selfSignedLeaf('sensor', '/CN=thermo-0042');
});

describe('gatewayctl sensors ca', () => {
  it('registers a CA, prints the nonce and openssl commands that, run as printed, make an accepted proof', async () => {
    const text = await ctl('sensors', 'ca', 'add', pki.path('ca.pem'), '--ca-key', pki.path('ca.key'));
    expect(text.code, text.stderr).toBe(0);
    const nonce = /nonce\s+([0-9a-f]{32}) \(valid until /.exec(text.stdout)?.[1] ?? '';
    expect(nonce).not.toBe('');
    expect(text.stdout).toContain(`openssl req -new -key ${pki.path('ca.key')} -subj "/CN=${nonce}"`);

    // Adding again (here with --json) issues a fresh nonce; the first one is gone.
    const added = await ctlJson('sensors', 'ca', 'add', pki.path('ca.pem'), '--ca-key', pki.path('ca.key'));
    const registration = added.registration as { nonce: string; caSha256: string; expiresAt: string };
    expect(registration.nonce).not.toBe(nonce);
    expect(registration.caSha256).toBe(pki.sha256('ca'));
    expect(Date.parse(registration.expiresAt) - Date.now()).toBeGreaterThan(3_500_000);
    const commands = added.commands as string[];
    expect(commands).toHaveLength(3);
    const listed = await ctlJson('sensors', 'ca', 'list');
    expect(listed.registrations).toMatchObject([{ nonce: registration.nonce }]);

    // A proof for the replaced nonce: refused, exit 1, the failed check named.
    pki.verificationCertificate('stale', nonce, { signer: 'ca' });
    const wrong = await ctl('sensors', 'ca', 'verify', '--cert', pki.path('stale.pem'));
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toContain(`gatewayctl: no pending CA registration has the nonce "${nonce}"`);
    expect(wrong.stderr).toContain('hint: `gatewayctl sensors ca list` shows the pending nonces');
    const wrongJson = await ctl('sensors', 'ca', 'verify', '--cert', pki.path('stale.pem'), '--json');
    expect(wrongJson.code).toBe(1);
    expect(JSON.parse(wrongJson.stdout)).toMatchObject({ ok: false, code: 'EGW_TRUST_PROOF_REJECTED' });

    // The operator runs the printed openssl commands where the CA key is, then verifies here.
    for (const command of commands.slice(0, 2)) {
      const run = spawnSync('sh', ['-c', command], { cwd: pki.dir, encoding: 'utf8' });
      expect(run.status, `${command}: ${run.stderr}`).toBe(0);
    }
    expect(commands[2]).toBe('gatewayctl sensors ca verify --cert verification.pem');
    const verified = await ctl('sensors', 'ca', 'verify', '--cert', pki.path('verification.pem'));
    expect(verified.code, verified.stderr).toBe(0);
    expect(verified.stdout).toContain(
      `verified CA CN=Line 2 Sensor CA, O=Acme (${pki.sha256('ca')}): trusted in bundle sensors, with a new group enrollment`,
    );
    expect(verified.stdout).toContain(NOT_RUNNING);

    const trusted = await ctlJson('trust', 'list', '--bundle', 'sensors');
    expect(trusted.certificates).toMatchObject([
      { sha256: pki.sha256('ca'), role: 'anchor', source: 'operator' },
    ]);
    const enrolled = await ctlJson('sensors', 'list');
    expect(enrolled.enrollments).toMatchObject([
      { kind: 'group', sha256: pki.sha256('ca'), enabled: true, constraints: {} },
    ]);
    expect((await ctlJson('sensors', 'ca', 'list')).registrations).toEqual([]);
  });
});

describe('gatewayctl sensors enrollments', () => {
  it('enrolls by thumbprint and by certificate, adds a constrained group, disables and removes', async () => {
    const thumbprint = 'AB'.repeat(32).match(/../g)?.join(':') ?? '';
    const byThumbprint = await ctl('sensors', 'enroll', '--thumbprint', thumbprint, '--label', 'spare');
    expect(byThumbprint.code, byThumbprint.stderr).toBe(0);
    expect(byThumbprint.stdout).toBe(`enrolled individual ${'ab'.repeat(32)} (spare)\n${NOT_RUNNING}\n`);

    const byCert = await ctlJson('sensors', 'enroll', '--cert', pki.path('sensor.pem'));
    expect(byCert).toMatchObject({
      ok: true,
      created: true,
      enrollment: { kind: 'individual', sha256: pki.sha256('sensor'), label: 'thermo-0042', enabled: true },
      daemon: 'not-running',
      daemonMessage: NOT_RUNNING,
    });

    const group = await ctlJson(
      'sensors',
      'group',
      'add',
      '--ca',
      pki.path('other-root.pem'),
      '--device-type',
      'thermo',
      '--device-type',
      'hygro',
      '--cn-pattern',
      'thermo-[0-9]+',
    );
    expect(group).toMatchObject({
      enrollment: {
        kind: 'group',
        sha256: pki.sha256('other-root'),
        label: 'CN=Other Root',
        constraints: { deviceTypes: ['thermo', 'hygro'], cnPattern: 'thermo-[0-9]+' },
      },
    });
    // Not in the sensors bundle yet: said, not refused.
    expect((group.warnings as string[])[0]).toContain('is not in the "sensors" bundle');

    const badPattern = await ctl(
      'sensors',
      'group',
      'add',
      '--ca',
      pki.sha256('other-root'),
      '--cn-pattern',
      '(',
    );
    expect(badPattern.code).toBe(1);
    expect(badPattern.stderr).toContain('CN pattern "(" is not a regular expression');

    const disabled = await ctl('sensors', 'disable', pki.sha256('other-root'), '--group');
    expect(disabled.code, disabled.stderr).toBe(0);
    expect(disabled.stdout).toContain(
      `disabled group enrollment ${pki.sha256('other-root')} (CN=Other Root)`,
    );
    expect(disabled.stdout).toContain(NOT_RUNNING);
    const list = await ctl('sensors', 'list');
    expect(list.stdout).toMatch(
      new RegExp(
        `group\\s+disabled\\s+${pki.sha256('other-root')}\\s+CN=Other Root\\s+device types thermo, hygro; CN /thermo-\\[0-9\\]\\+/`,
      ),
    );

    // Without --group the thumbprint names an individual enrollment: there is none for this CA.
    const missing = await ctl('sensors', 'remove', pki.sha256('other-root'), '--json');
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({ ok: false, code: 'EGW_TRUST_NOT_FOUND' });
    expect((await ctlJson('sensors', 'remove', pki.sha256('other-root'), '--group')).removed).toMatchObject({
      kind: 'group',
    });
    expect((await ctlJson('sensors', 'remove', thumbprint)).removed).toMatchObject({
      sha256: 'ab'.repeat(32),
    });

    const kinds = ((await ctlJson('sensors', 'list')).enrollments as { kind: string; sha256: string }[]).map(
      (entry) => [entry.kind, entry.sha256],
    );
    expect(kinds).toEqual([
      ['individual', pki.sha256('sensor')],
      ['group', pki.sha256('ca')],
    ]);
  });

  it('refuses a malformed thumbprint (exit 1) and a missing choice of --thumbprint/--cert (usage, exit 2)', async () => {
    const malformed = await ctl('sensors', 'enroll', '--thumbprint', 'abc');
    expect(malformed.code).toBe(1);
    expect(malformed.stderr).toContain(
      '"abc" is not a SHA-256 thumbprint: expected 64 hex digits (colons allowed)',
    );
    const neither = await ctl('sensors', 'enroll');
    expect(neither.code).toBe(2);
    expect(neither.stderr).toContain('give --thumbprint <sha256> or --cert <sensor.pem>');
    expect((await ctl('sensors', 'bogus')).code).toBe(2);
  });
});

describe('gatewayctl sensors list: the upstream names bound to each enrollment', () => {
  it("shows each enrollment's names (text and --json), and names bound to enrollments not listed", async () => {
    const own = gatewayFixture();
    const run = (...args: string[]) => gatewayctl(...args, '-c', own.configPath);
    expect((await run('sensors', 'group', 'add', '--ca', pki.path('ca.pem'), '--label', 'line 2')).code).toBe(
      0,
    );
    expect((await run('sensors', 'enroll', '--thumbprint', 'cd'.repeat(32), '--label', 'spare')).code).toBe(
      0,
    );
    // Bound as the daemon binds them when a sensor is admitted; 'ef…' is a sensor_ca_files anchor.
    const store = Store.open(own.dbPath);
    const names = new SensorNames(store);
    names.claim('th-2', `group:${pki.sha256('ca')}`, { label: 'line 2' });
    names.claim('SN-0042', `group:${pki.sha256('ca')}`, { label: 'line 2' });
    names.claim('th-9', `group:${'ef'.repeat(32)}`, { label: 'sensor_ca_files' });
    store.close();

    const text = await run('sensors', 'list');
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/CONSTRAINTS\s+NAMES\n/);
    expect(text.stdout).toMatch(
      new RegExp(`group\\s+enabled\\s+${pki.sha256('ca')}\\s+line 2\\s+none\\s+SN-0042, th-2\\n`),
    );
    expect(text.stdout).toMatch(
      new RegExp(`individual\\s+enabled\\s+${'cd'.repeat(32)}\\s+spare\\s+-\\s+-\\n`),
    );
    expect(text.stdout).toContain('names bound to enrollments not listed above');
    expect(text.stdout).toMatch(new RegExp(`th-9\\s+group:${'ef'.repeat(32)}\\s+\\S+\\s+sensor_ca_files\\n`));

    const json = await run('sensors', 'list', '--json');
    expect(json.code, json.stderr).toBe(0);
    expect(JSON.parse(json.stdout)).toMatchObject({
      enrollments: [
        { kind: 'individual', sha256: 'cd'.repeat(32), names: [] },
        { kind: 'group', sha256: pki.sha256('ca'), names: ['SN-0042', 'th-2'] },
      ],
      otherNames: [{ name: 'th-9', enrollment: `group:${'ef'.repeat(32)}`, label: 'sensor_ca_files' }],
    });
  });
});

describe('gatewayctl sensors block', () => {
  it('blocks and unblocks by thumbprint and by serial', async () => {
    const serial = pki.serial('sensor');
    const bySerial = await ctlJson('sensors', 'block', `00${serial}`, '--reason', 'stolen');
    expect(bySerial).toMatchObject({
      created: true,
      blocked: { kind: 'serial', value: serial.toLowerCase().replace(/^0+/, ''), reason: 'stolen' },
      daemon: 'not-running',
    });
    const byThumbprint = await ctl('sensors', 'block', pki.sha256('sensor').toUpperCase());
    expect(byThumbprint.code, byThumbprint.stderr).toBe(0);
    expect(byThumbprint.stdout).toBe(`blocked thumbprint ${pki.sha256('sensor')}\n${NOT_RUNNING}\n`);
    // Forced to be a serial, 64 hex digits are one (a different entry).
    expect((await ctlJson('sensors', 'block', pki.sha256('sensor'), '--serial')).blocked).toMatchObject({
      kind: 'serial',
    });

    const blocked = (await ctlJson('sensors', 'blocked')).blocked as { kind: string }[];
    expect(blocked.map((entry) => entry.kind)).toEqual(['serial', 'sha256', 'serial']);
    expect((await ctl('sensors', 'blocked')).stdout).toContain('stolen');

    expect((await ctl('sensors', 'unblock', serial)).code).toBe(0);
    expect((await ctl('sensors', 'unblock', pki.sha256('sensor'))).code).toBe(0);
    expect((await ctl('sensors', 'unblock', pki.sha256('sensor'), '--serial')).code).toBe(0);
    const again = await ctl('sensors', 'unblock', serial);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain(`the deny list has no serial ${serial.toLowerCase().replace(/^0+/, '')}`);
    expect((await ctlJson('sensors', 'blocked')).blocked).toEqual([]);
  });
});

describe('gatewayctl sensors block, a negative serial (lenient_serials)', () => {
  it('takes the serial as openssl prints it, after -- (-0FFEFE) or as -text shows it ((Negative)0F:FE:FE)', async () => {
    const dashed = await gatewayctl(
      'sensors',
      'block',
      '--serial',
      '--json',
      '-c',
      fixture.configPath,
      '--',
      '-0FFEFE',
    );
    expect(dashed.code, dashed.stderr).toBe(0);
    expect(JSON.parse(dashed.stdout)).toMatchObject({
      created: true,
      blocked: { kind: 'serial', value: '-ffefe' },
    });
    // The same entry, typed as `openssl x509 -text` shows a long negative serial.
    const shown = await ctlJson('sensors', 'block', '(Negative)0F:FE:FE', '--serial');
    expect(shown).toMatchObject({ created: false, blocked: { kind: 'serial', value: '-ffefe' } });
    expect((await ctl('sensors', 'unblock', '(Negative)0ffefe')).code).toBe(0);
    expect((await ctlJson('sensors', 'blocked')).blocked).toEqual([]);
  });
});

describe('gatewayctl trust', () => {
  it('imports a multi-certificate PEM and exports exactly it again', async () => {
    const bundleFile = pki.write('upstream.pem', pki.pem('other-root') + pki.pem('other-issuing'));
    const imported = await ctlJson('trust', 'import', '--bundle', 'upstream', bundleFile);
    expect(imported).toMatchObject({
      bundle: 'upstream',
      imported: [
        { role: 'anchor', sha256: pki.sha256('other-root'), source: 'operator' },
        { role: 'anchor', sha256: pki.sha256('other-issuing') },
      ],
      daemon: 'not-running',
    });
    const exported = await ctl('trust', 'export', '--bundle', 'upstream');
    expect(exported.code, exported.stderr).toBe(0);
    expect(exported.stdout).toBe(readFileSync(bundleFile, 'latin1'));
    const toFile = await ctlJson('trust', 'export', '--bundle', 'upstream', '-o', pki.path('exported.pem'));
    expect(toFile).toMatchObject({ bundle: 'upstream', count: 2, file: pki.path('exported.pem') });
    expect(readFileSync(pki.path('exported.pem'), 'latin1')).toBe(readFileSync(bundleFile, 'latin1'));
  });

  it('imports intermediates, lists roles, removes by thumbprint', async () => {
    const text = await ctl(
      'trust',
      'import',
      '--bundle',
      'sensors',
      '--intermediate',
      pki.path('other-issuing.pem'),
    );
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toBe(
      `added intermediate ${pki.sha256('other-issuing')} CN=Other Issuing to sensors\n${NOT_RUNNING}\n`,
    );
    const listed = (await ctlJson('trust', 'list', '--bundle', 'sensors')).certificates as { role: string }[];
    expect(listed.map((entry) => entry.role)).toEqual(['anchor', 'intermediate']);
    const removed = await ctlJson('trust', 'remove', '--bundle', 'sensors', pki.sha256('other-issuing'));
    expect(removed.removed).toMatchObject({ role: 'intermediate', subject: 'CN=Other Issuing' });
    const again = await ctl('trust', 'remove', '--bundle', 'sensors', pki.sha256('other-issuing'), '--json');
    expect(again.code).toBe(1);
    expect(JSON.parse(again.stdout)).toMatchObject({ ok: false, code: 'EGW_TRUST_NOT_FOUND' });
    expect((await ctl('trust', 'import', '--bundle', 'elsewhere', pki.path('ca.pem'))).code).toBe(2);
  });
});
