export { type Verdict, type VerdictStatus, worstStatus } from './verdict.js';
export { verdictLine } from './verdict-line.js';
