import koffi from 'koffi';

type SdNotify = (unsetEnvironment: number, state: string) => number;

let bound: SdNotify | undefined;

/**
 * libsystemd's sd_notify(3), bound through koffi on first use.
 *
 * We call the C library rather than spawning `systemd-notify`: with NotifyAccess=main, systemd only
 * accepts messages whose sender is the main PID, and a child process is not.
 * Returns > 0 when sent, 0 when NOTIFY_SOCKET is unset (not under systemd), < 0 (-errno) on failure.
 */
export function sdNotify(state: string): number {
  if (!process.env.NOTIFY_SOCKET) return 0; // not supervised: a silent no-op, and no library needed
  if (!bound) {
    const lib = koffi.load('libsystemd.so.0');
    bound = lib.func('int sd_notify(int unset_environment, const char *state)') as SdNotify;
  }
  return bound(0, state);
}
