import { existsSync } from 'node:fs';
import { TIMESYNCD_FLAG } from '../native/clock/index.js';
import type { Verdict } from '../verdicts/index.js';
import type { CheckContext } from './check-context.js';

/**
 * The system clock against the clock floor (validity is judged at the later of the two), and whether
 * NTP synchronised it, as the kernel says (adjtimex) and, where present, systemd-timesyncd.
 */
export function clockChecks(context: CheckContext): Verdict[] {
  const clock = context.clock;
  if (!clock) {
    return [
      {
        name: 'clock vs floor',
        status: 'n/a',
        detail: 'not checked',
        reason: context.stateUnreadable,
      },
    ];
  }
  const floor: Verdict = clock.behind
    ? {
        name: 'clock vs floor',
        status: 'fail',
        detail: `system clock ${clock.system} is BEHIND the floor ${clock.floor} (${clock.source}: ${clock.detail}); certificates are judged at ${clock.judgedAt}`,
        fix: 'set the clock right: let NTP synchronise it (timedatectl set-ntp true, chrony) and check the RTC battery; gatewayctl clock shows the evidence, gatewayctl clock reset lowers a floor set wrongly',
      }
    : {
        name: 'clock vs floor',
        status: 'pass',
        detail: `system clock ${clock.system} is not behind the floor ${clock.floor} (${clock.source})`,
      };
  const timesyncd = existsSync(TIMESYNCD_FLAG)
    ? `; systemd-timesyncd: synchronized (${TIMESYNCD_FLAG})`
    : existsSync('/run/systemd/system')
      ? `; systemd-timesyncd: no ${TIMESYNCD_FLAG}`
      : '';
  const ntp: Verdict = clock.synchronized
    ? {
        name: 'NTP synchronisation',
        status: 'pass',
        detail: `synchronized (${clock.syncDetail})${timesyncd}`,
      }
    : {
        name: 'NTP synchronisation',
        status: 'warn',
        detail: `NOT synchronized (${clock.syncMethod}: ${clock.syncDetail})${timesyncd}`,
        fix: 'enable an NTP client (timedatectl set-ntp true, or chrony) and let it reach a time server: until then the floor does not follow the clock and certificate times may be judged wrongly',
      };
  return [floor, ntp];
}
