import { describe, expect, it } from 'vitest';
import { demoChecks } from '../../../scripts/demo/checks.js';
import { readFactoryChecklist } from '../../../scripts/demo/factory-checklist.js';
import { type DemoSummary, summaryText } from '../../../scripts/demo/summary.js';
import type { CheckItem, IdentityStatus, ProvisioningReport } from '../../../src/identity/index.js';

const pass = (name: string): CheckItem => ({ name, status: 'pass', ok: true, detail: 'fine' });
const simulatedKey: CheckItem = {
  name: 'key not exportable',
  status: 'n/a',
  ok: null,
  detail: 'ATECC608A rev 0x6002 (hw-sim simulator) keeps the key in a file',
  reason: 'the ATECC608A simulator keeps its "private" key in its state file',
  simulated: true,
};

/** `gatewayctl provision verify --json` as the simulated ATECC608A gives it, with `items` in place. */
function verifyJson(items: CheckItem[]): string {
  const failed = items.some((item) => item.status === 'fail');
  const report: ProvisioningReport = {
    ok: !failed,
    status: failed ? 'fail' : 'pass',
    serial: '0123AABBCCDDEEFFEE',
    backend: 'atecc608',
    simulated: 'the ATECC608A simulator keeps its "private" key in its state file',
    items,
  };
  return JSON.stringify(report);
}

/** The demo's summary with the factory checklist filled in (the rest as if it stopped after enrolment). */
function summaryWith(stdout: string, exitCode: number): DemoSummary {
  const summary: DemoSummary = {
    ok: false,
    error: null,
    checks: [],
    keyStore: null,
    factoryChecklist: readFactoryChecklist(stdout, '', exitCode).checklist,
    // Enrolled, so that the only verdicts on the screen are the checklist's and the shutdown's.
    identity: {
      state: 'operational',
      presenting: 'operational',
      subject: 'CN=device-0123AABBCCDDEEFFEE',
      issuer: 'CN=est-ca',
      notAfter: '2027-01-01T00:00:00.000Z',
      renewAt: null,
    } as unknown as IdentityStatus,
    sensors: null,
    messages: null,
    latency: null,
    daemon: { ready: null, reloaded: false, stopping: null, exit: null, warnings: [], errors: [] },
    timings: {},
    shutdown: [{ step: 'broker', ok: true, ms: 1, error: null }],
    identityKey: null,
    sensorTrust: null,
    upstream: null,
    fleet: null,
  };
  summary.checks = demoChecks(summary, 0, false);
  summary.ok = summary.checks.every((check) => check.ok); // as scripts/demo.ts does
  return summary;
}

describe("the demo's factory checklist", () => {
  it('shows what the simulator cannot prove as n/a (simulated) with its reason, and no FAIL line', () => {
    const items = [pass('identity key present'), simulatedKey, pass('chain verifies'), pass('key signs')];
    const { checklist, text } = readFactoryChecklist(verifyJson(items), '', 0);
    expect(checklist).toEqual({
      result: 'PASS',
      failed: [],
      notApplicable: [{ name: 'key not exportable', reason: simulatedKey.reason, simulated: true }],
    });
    expect(text).toContain(
      '  [ n/a] key not exportable: n/a (simulated): the ATECC608A simulator keeps its "private" key in its state file\n',
    );
    const screen = summaryText(summaryWith(verifyJson(items), 0));
    expect(screen).toContain('factory check  PASS (gatewayctl provision verify)\n');
    expect(screen).toContain(
      'n/a (simulated): key not exportable: the ATECC608A simulator keeps its "private" key in its state file\n',
    );
    expect(screen).toContain('[PASS] factory identity checklist');
    expect(screen).toMatch(/^result: PASS$/m);
    expect(screen).not.toContain('FAIL');
  });

  it('still shows a real failure as FAIL, in the summary and in the checks', () => {
    const wrong: CheckItem = {
      name: 'certificate matches key',
      status: 'fail',
      ok: false,
      detail: 'the certificate is for another key',
    };
    const summary = summaryWith(verifyJson([pass('identity key present'), simulatedKey, wrong]), 1);
    expect(summary.factoryChecklist).toMatchObject({ result: 'FAIL', failed: ['certificate matches key'] });
    expect(summary.checks[0]).toMatchObject({ name: 'factory identity checklist', ok: false });
    const screen = summaryText(summary);
    expect(screen).toContain(
      'factory check  FAIL (gatewayctl provision verify): failed certificate matches key\n',
    );
    expect(screen).toContain('[FAIL] factory identity checklist');
  });

  it('a passing report with a failing exit, or no report at all, is a FAIL', () => {
    expect(readFactoryChecklist(verifyJson([pass('key signs')]), '', 1).checklist.result).toBe('FAIL');
    const crashed = readFactoryChecklist('', 'gatewayctl: cannot reach the part\n', 1).checklist;
    expect(crashed).toEqual({
      result: null,
      failed: ['gatewayctl provision verify: gatewayctl: cannot reach the part'],
      notApplicable: [],
    });
    expect(summaryText(summaryWith('', 1))).toContain('factory check  FAIL (gatewayctl provision verify)');
  });
});
