export type { CheckContext } from './check-context.js';
export { type CheckOptions, type CheckReport, runChecks } from './run-checks.js';
