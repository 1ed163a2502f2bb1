export { type ClockSync, type ClockSyncMethod, kernelClockSync, TIMESYNCD_FLAG } from './kernel-sync.js';
