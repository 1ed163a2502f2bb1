/** How one piece of the demo was stopped. */
export interface TeardownStep {
  step: string;
  ok: boolean;
  ms: number;
  error: string | null;
}

/**
 * What the demo started, stopped in reverse order whatever happened (success, a failed step, Ctrl-C):
 * each step runs even when an earlier one failed, and has a ceiling so a hung child cannot keep the
 * demo (and its swtpm, mosquitto, …) alive. run() is idempotent: the signal handler and the normal
 * path can both call it.
 */
export class Teardown {
  readonly #steps: { name: string; stop: () => Promise<unknown> | unknown; timeoutMs: number }[] = [];
  #done: Promise<TeardownStep[]> | undefined;

  /** Registers a stop action, run before every action registered earlier. */
  add(name: string, stop: () => Promise<unknown> | unknown, timeoutMs = 15_000): void {
    this.#steps.push({ name, stop, timeoutMs });
  }

  run(report: (step: TeardownStep) => void = () => undefined): Promise<TeardownStep[]> {
    this.#done ??= (async () => {
      const results: TeardownStep[] = [];
      for (const { name, stop, timeoutMs } of this.#steps.reverse()) {
        const started = performance.now();
        let timer: NodeJS.Timeout | undefined;
        let error: string | null = null;
        try {
          await Promise.race([
            Promise.resolve().then(stop),
            new Promise((_, reject) => {
              timer = setTimeout(() => reject(new Error(`still running after ${timeoutMs} ms`)), timeoutMs);
            }),
          ]);
        } catch (caught) {
          error = caught instanceof Error ? caught.message : String(caught);
        } finally {
          clearTimeout(timer);
        }
        const step = { step: name, ok: error === null, ms: Math.round(performance.now() - started), error };
        results.push(step);
        report(step);
      }
      return results;
    })();
    return this.#done;
  }
}
