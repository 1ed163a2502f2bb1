import { GatewayError } from '../errors/index.js';

/**
 * start() gave up between two of its steps because a stop (SIGTERM from `systemctl stop`, SIGINT)
 * was asked for meanwhile. Not a failure: the stop waits for the step in progress to end, then closes
 * everything that had started, and the daemon exits 0. Without it, a start that carried on after the
 * stop would open listeners nobody closes and send READY=1 after STOPPING=1.
 */
export class StartInterrupted extends GatewayError {
  constructor(before: string) {
    super('EGW_START_INTERRUPTED', `start-up interrupted by a stop, before ${before}`);
  }
}

/** Throws StartInterrupted when a stop has been asked for: called by start() between its steps. */
export function proceedUnlessStopping(stopping: boolean, before: string): void {
  if (stopping) throw new StartInterrupted(before);
}
