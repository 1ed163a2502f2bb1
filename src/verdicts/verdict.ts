/**
 * One line of a technician's or operator's checklist (`gatewayctl provision verify`, the demo's
 * summary; meant for `gatewayctl check` too): pass, warn, fail, or n/a with the reason it does not
 * apply. "n/a" is never a softer "fail": a check may say it only when the thing cannot be proven on
 * this part for a reason known up front (a simulator, a backend without zones), and says that reason.
 */
export type VerdictStatus = 'pass' | 'warn' | 'fail' | 'n/a';

export interface Verdict {
  name: string;
  status: VerdictStatus;
  /** What was found. */
  detail: string;
  /** Why the check does not apply (status n/a), e.g. "the simulator keeps its key in a state file". */
  reason?: string;
  /**
   * The part is simulated (a simulator, swtpm, the software key store): on an n/a, the reason it
   * does not apply; on gatewayctl check's identity key (pass or warn), the machine-readable marker.
   */
  simulated?: true;
  /** What to do about a warn or fail. */
  fix?: string;
}

const RANK: Record<VerdictStatus, number> = { 'n/a': 0, pass: 0, warn: 1, fail: 2 };

/** The worst of a list of verdicts; n/a counts as pass (it is not a finding), an empty list passes. */
export function worstStatus(verdicts: readonly Pick<Verdict, 'status'>[]): 'pass' | 'warn' | 'fail' {
  const worst = Math.max(0, ...verdicts.map((verdict) => RANK[verdict.status]));
  return worst === 2 ? 'fail' : worst === 1 ? 'warn' : 'pass';
}
