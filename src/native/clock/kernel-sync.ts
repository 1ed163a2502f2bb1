import { existsSync } from 'node:fs';
import koffi from 'koffi';

/** How the synchronisation state was learned. */
export type ClockSyncMethod = 'adjtimex' | 'timesyncd-flag' | 'none';

export interface ClockSync {
  /** True only when the kernel (or, failing that, systemd-timesyncd) says NTP has set the clock. */
  synchronized: boolean;
  method: ClockSyncMethod;
  /** Why, in words (for status output). */
  detail: string;
}

/** adjtimex(2) returns TIME_ERROR (5) while STA_UNSYNC (or STA_CLOCKERR) is set. */
const TIME_ERROR = 5;
/** Larger than struct timex on every ABI (208 bytes on 64-bit); zeroed: modes = 0, a read-only query. */
const TIMEX_BYTES = 512;
/** systemd-timesyncd touches it at its first synchronisation of a boot (it lives in tmpfs /run). */
export const TIMESYNCD_FLAG = '/run/systemd/timesync/synchronized';

type Adjtimex = (timex: Buffer) => number;
let adjtimex: Adjtimex | null | undefined;

function bind(): Adjtimex | null {
  if (adjtimex !== undefined) return adjtimex;
  try {
    adjtimex = koffi.load('libc.so.6').func('int adjtimex(_Inout_ uint8_t *buf)') as Adjtimex;
  } catch {
    adjtimex = null; // not glibc: the flag file decides
  }
  return adjtimex;
}

/**
 * Whether the system clock is NTP-synchronised, as `timedatectl show -p NTPSynchronized` means it:
 * the kernel's STA_UNSYNC flag is clear (adjtimex(2) with modes 0 does not return TIME_ERROR). Every
 * NTP daemon (systemd-timesyncd, chrony, ntpd) clears it once it has disciplined the clock, and
 * nothing on a sensor or network path can set it, so it is the kernel's word, not a file's.
 *
 * The shipped unit has ProtectClock=yes, whose seccomp filter refuses even a read-only adjtimex with
 * EPERM (systemd#26413): then systemd-timesyncd's flag file (root-owned, in tmpfs /run, created at
 * its first synchronisation of this boot) stands in. Neither available: not synchronised (the floor
 * then only moves on signed evidence).
 */
export function kernelClockSync(): ClockSync {
  const call = bind();
  if (call) {
    const state = call(Buffer.alloc(TIMEX_BYTES));
    if (state >= 0) {
      return state === TIME_ERROR
        ? {
            synchronized: false,
            method: 'adjtimex',
            detail: 'kernel: STA_UNSYNC set (no NTP synchronisation)',
          }
        : { synchronized: true, method: 'adjtimex', detail: 'kernel: NTP-synchronised (STA_UNSYNC clear)' };
    }
  }
  if (existsSync(TIMESYNCD_FLAG)) {
    return {
      synchronized: true,
      method: 'timesyncd-flag',
      detail: `adjtimex unavailable (seccomp); ${TIMESYNCD_FLAG} present`,
    };
  }
  return {
    synchronized: false,
    method: 'none',
    detail: call
      ? `adjtimex refused (seccomp, e.g. ProtectClock=yes) and no ${TIMESYNCD_FLAG}`
      : `no adjtimex binding and no ${TIMESYNCD_FLAG}`,
  };
}
