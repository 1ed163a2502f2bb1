export type { CheckContext } from './check-context.js';
export { databaseCheck, type StateDatabase } from './database-check.js';
export { type CheckOptions, type CheckReport, runChecks } from './run-checks.js';
export { type SystemdHost, systemdCheck } from './systemd-check.js';
