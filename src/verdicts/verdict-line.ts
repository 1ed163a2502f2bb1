import type { Verdict, VerdictStatus } from './verdict.js';

const MARK: Record<VerdictStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL', 'n/a': ' n/a' };

/**
 * `  [PASS] name: detail`; `  [ n/a] name: n/a (simulated): reason`: an n/a line gives its reason in
 * place of the detail, so a person sees why it is not a FAIL. A warn or fail adds its fix.
 */
export function verdictLine(verdict: Verdict): string {
  let text = verdict.detail;
  if (verdict.status === 'n/a') {
    text = `${verdict.simulated ? 'n/a (simulated): ' : ''}${verdict.reason ?? verdict.detail}`;
  } else if (verdict.fix && verdict.status !== 'pass') {
    text = `${text}; fix: ${verdict.fix}`;
  }
  return `  [${MARK[verdict.status]}] ${verdict.name}: ${text}`;
}
