import type { CaseOutcome } from './limbo-runner.js';

export interface Tally {
  right: number;
  wrong: number;
  skipped: number;
}

/** What `npm run -s limbo` prints: the core families (138 cases) and the whole suite. */
export function summarize(outcomes: readonly CaseOutcome[]): { core: Tally; all: Tally } {
  return { core: tally(outcomes.filter((outcome) => outcome.core)), all: tally(outcomes) };
}

export function tally(outcomes: readonly CaseOutcome[]): Tally {
  const counts: Tally = { right: 0, wrong: 0, skipped: 0 };
  for (const outcome of outcomes) counts[outcome.verdict]++;
  return counts;
}

/**
 * The report for people: right/wrong/skipped per id prefix, skip reasons, every wrong case with our
 * reason, and which reasons the FAILURE cases counted right were refused for (a right answer for an
 * unrelated reason is still right by limbo's convention: this shows how many are).
 */
export function table(outcomes: readonly CaseOutcome[]): string {
  const lines: string[] = [];
  const row = (label: string, counts: Tally) =>
    `${label.padEnd(34)} ${String(counts.right).padStart(5)} ${String(counts.wrong).padStart(5)} ${String(counts.skipped).padStart(7)}`;
  lines.push(
    `${'id prefix'.padEnd(34)} ${'right'.padStart(5)} ${'wrong'.padStart(5)} ${'skipped'.padStart(7)}`,
  );
  for (const [group, members] of groupBy(outcomes, (outcome) => outcome.group)) {
    lines.push(row(`${group}${members[0]?.core ? '' : ' (not core)'}`, tally(members)));
  }
  const { core, all } = summarize(outcomes);
  lines.push(row('core', core), row('all', all), '');

  lines.push('skipped, by reason (core / all):');
  for (const [reason, members] of groupBy(skippedOf(outcomes), (outcome) => outcome.skip ?? '')) {
    lines.push(`  ${members.filter((outcome) => outcome.core).length} / ${members.length}  ${reason}`);
  }
  lines.push('');

  const wrong = outcomes.filter((outcome) => outcome.verdict === 'wrong');
  lines.push(`wrong (${wrong.length}): id, expected → ours, our reason code`);
  for (const outcome of wrong) {
    const why = outcome.reason === undefined ? 'accepted' : `${outcome.reason}: ${outcome.detail ?? ''}`;
    lines.push(`  ${outcome.id}  ${outcome.expected} → ${outcome.ours}  ${clip(why, 150)}`);
    for (const note of outcome.notes) lines.push(`      note: ${clip(note, 150)}`);
  }
  lines.push('');

  const refusedRight = outcomes.filter(
    (outcome) => outcome.verdict === 'right' && outcome.expected === 'FAILURE',
  );
  lines.push('FAILURE cases counted right, by our reason code (core / all):');
  for (const [reason, members] of groupBy(refusedRight, (outcome) => outcome.reason ?? '')) {
    lines.push(`  ${members.filter((outcome) => outcome.core).length} / ${members.length}  ${reason}`);
  }
  return `${lines.join('\n')}\n`;
}

function skippedOf(outcomes: readonly CaseOutcome[]): CaseOutcome[] {
  return outcomes.filter((outcome) => outcome.verdict === 'skipped');
}

/** Groups in order of first appearance, core groups first. */
function groupBy(
  outcomes: readonly CaseOutcome[],
  key: (outcome: CaseOutcome) => string,
): Map<string, CaseOutcome[]> {
  const groups = new Map<string, CaseOutcome[]>();
  const ordered = [...outcomes].sort((a, b) => Number(b.core) - Number(a.core));
  for (const outcome of ordered) {
    const members = groups.get(key(outcome));
    if (members === undefined) groups.set(key(outcome), [outcome]);
    else members.push(outcome);
  }
  return groups;
}

function clip(text: string, length: number): string {
  return text.length <= length ? text : `${text.slice(0, length - 1)}…`;
}
