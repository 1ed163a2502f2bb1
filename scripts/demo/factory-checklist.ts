import { type ProvisioningReport, provisioningReportText } from '../../src/identity/index.js';

/** `gatewayctl provision verify` in the demo's summary: its verdict, what failed, what was n/a and why. */
export interface FactoryChecklist {
  result: 'PASS' | 'FAIL' | null;
  failed: string[];
  notApplicable: { name: string; reason: string; simulated: boolean }[];
}

/**
 * Reads `gatewayctl provision verify --json` (its verdicts, not its text, so an n/a is never taken
 * for a FAIL nor a FAIL missed) and gives the summary's part and the checklist as a person reads it.
 */
export function readFactoryChecklist(
  stdout: string,
  stderr: string,
  exitCode: number | null,
): { checklist: FactoryChecklist; text: string } {
  let report: ProvisioningReport;
  try {
    report = JSON.parse(stdout) as ProvisioningReport;
    if (!Array.isArray(report.items)) throw new Error('no items');
  } catch {
    const why = (stderr || stdout).trim() || `exit ${exitCode}`;
    return {
      checklist: { result: null, failed: [`gatewayctl provision verify: ${why}`], notApplicable: [] },
      text: `${stdout}${stderr}`,
    };
  }
  // The exit status counts too: a report that passes with a failing exit is not a pass.
  const passed = report.status === 'pass' && exitCode === 0;
  return {
    checklist: {
      result: passed ? 'PASS' : 'FAIL',
      failed: report.items.filter((item) => item.status === 'fail').map((item) => item.name),
      notApplicable: report.items
        .filter((item) => item.status === 'n/a')
        .map((item) => ({
          name: item.name,
          reason: item.reason ?? item.detail,
          simulated: item.simulated === true,
        })),
    },
    text: `${provisioningReportText(report)}${stderr}`,
  };
}
