import { verdictLine } from '../verdicts/index.js';
import type { ProvisioningReport } from './provisioning-check.js';

/**
 * `gatewayctl provision verify` for a person (the demo prints it too). The result line counts the
 * n/a items so a PASS on a simulator never reads as "everything was proven".
 */
export function provisioningReportText(report: ProvisioningReport): string {
  const lines = [`identity of gateway ${report.serial} (${report.backend}):`];
  for (const item of report.items) lines.push(verdictLine(item));
  const notApplicable = report.items.filter((item) => item.status === 'n/a');
  const simulated = notApplicable.filter((item) => item.simulated).length;
  const note =
    notApplicable.length === 0
      ? ''
      : ` (${notApplicable.length} n/a${simulated > 0 ? `, ${simulated} of them because the part is simulated` : ''})`;
  lines.push(`result: ${report.status === 'pass' ? 'PASS' : 'FAIL'}${note}`);
  return `${lines.join('\n')}\n`;
}
