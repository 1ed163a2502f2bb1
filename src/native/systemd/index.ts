export { sdNotify } from './sd-notify.js';
export { watchdogIntervalUsec } from './watchdog.js';
