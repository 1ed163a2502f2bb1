import { describe, expect, it } from 'vitest';
import { verdictLine, worstStatus } from '../../../src/verdicts/index.js';

describe('verdicts', () => {
  it('n/a is not a finding: the worst of pass and n/a is pass; warn and fail still win', () => {
    expect(worstStatus([])).toBe('pass');
    expect(worstStatus([{ status: 'pass' }, { status: 'n/a' }])).toBe('pass');
    expect(worstStatus([{ status: 'n/a' }, { status: 'warn' }])).toBe('warn');
    expect(worstStatus([{ status: 'n/a' }, { status: 'fail' }, { status: 'warn' }])).toBe('fail');
  });

  it('an n/a line gives its reason and says when the part is simulated; a fail gives its fix', () => {
    expect(
      verdictLine({
        name: 'key not exportable',
        status: 'n/a',
        detail: 'kept in a file',
        reason: 'the simulator keeps its key in its state file',
        simulated: true,
      }),
    ).toBe('  [ n/a] key not exportable: n/a (simulated): the simulator keeps its key in its state file');
    expect(
      verdictLine({ name: 'zones locked', status: 'n/a', detail: 'not applicable to this backend' }),
    ).toBe('  [ n/a] zones locked: not applicable to this backend');
    expect(verdictLine({ name: 'broker', status: 'fail', detail: 'refused', fix: 'start it' })).toBe(
      '  [FAIL] broker: refused; fix: start it',
    );
    expect(verdictLine({ name: 'clock', status: 'warn', detail: 'no NTP' })).toBe('  [WARN] clock: no NTP');
  });
});
