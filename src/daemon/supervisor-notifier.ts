import { sdNotify, watchdogIntervalUsec } from '../native/systemd/index.js';

/**
 * What the daemon tells systemd (sd_notify(3)): READY, STATUS, RELOADING, STOPPING and watchdog
 * keep-alives. Without NOTIFY_SOCKET every call is a silent no-op.
 */
export class SupervisorNotifier {
  readonly watchdogUsec: number | undefined = watchdogIntervalUsec();
  #watchdogTimer: NodeJS.Timeout | undefined;
  #failures = 0;

  constructor(private readonly onSendFailure: (errno: number, message: string) => void = () => {}) {}

  get supervised(): boolean {
    return Boolean(process.env.NOTIFY_SOCKET);
  }

  ready(status: string): void {
    this.#send(`READY=1\nSTATUS=${status}`);
  }

  status(status: string): void {
    this.#send(`STATUS=${status}`);
  }

  /** Type=notify-reload wants MONOTONIC_USEC with RELOADING=1; plain Type=notify ignores it. */
  reloading(): void {
    const monotonicUsec = process.hrtime.bigint() / 1000n;
    this.#send(`RELOADING=1\nMONOTONIC_USEC=${monotonicUsec}\nSTATUS=reloading configuration`);
  }

  stopping(status: string): void {
    this.stopWatchdog();
    this.#send(`STOPPING=1\nSTATUS=${status}`);
  }

  /**
   * Pings at half the interval systemd asked for, from the event loop itself: a blocked loop misses
   * its pings and systemd restarts the daemon, which is the point.
   */
  startWatchdog(): void {
    if (!this.watchdogUsec || this.#watchdogTimer) return;
    const periodMs = Math.max(1, Math.floor(this.watchdogUsec / 2000));
    this.#send('WATCHDOG=1');
    this.#watchdogTimer = setInterval(() => this.#send('WATCHDOG=1'), periodMs);
  }

  stopWatchdog(): void {
    clearInterval(this.#watchdogTimer);
    this.#watchdogTimer = undefined;
  }

  #send(message: string): void {
    const result = sdNotify(message);
    // Report the first few failures only: a broken notify socket must not flood the journal.
    if (result < 0 && this.#failures++ < 3) this.onSendFailure(-result, message.split('\n')[0] ?? '');
  }
}
