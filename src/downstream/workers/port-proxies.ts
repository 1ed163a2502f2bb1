import type {
  CommandMessage,
  CommandSource,
  OutboxFull,
  TelemetryMessage,
  TelemetrySink,
} from '../proxy-ports.js';
import type { MainToWorker, WorkerToMain } from './worker-protocol.js';

type Post = (message: WorkerToMain) => void;

/**
 * The proxy's two ports inside a sensor worker: telemetry and commands go to the main thread, where
 * the one outbox writer is. accept() resolves with the main thread's answer, so a sensor's 2.04 still
 * waits for the commit there (and OutboxFull still becomes 5.03 + Max-Age).
 */
export class PortTelemetrySink implements TelemetrySink {
  readonly #post: Post;
  readonly #pending = new Map<
    number,
    { resolve: (r: undefined | OutboxFull) => void; reject: (e: Error) => void }
  >();
  #next = 1;

  constructor(post: Post) {
    this.#post = post;
  }

  accept(message: TelemetryMessage): Promise<undefined | OutboxFull> {
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#pending.set(id, { resolve, reject });
      this.#post({ type: 'telemetry', id, message });
    });
  }

  answered(answer: Extract<MainToWorker, { type: 'telemetryAnswer' }>): void {
    const pending = this.#pending.get(answer.id);
    if (!pending) return;
    this.#pending.delete(answer.id);
    if (answer.error !== undefined) pending.reject(new Error(answer.error));
    else pending.resolve(answer.result);
  }
}

/** Commands for the sensors of this worker: subscriptions held by the main thread's CommandSource. */
export class PortCommandSource implements CommandSource {
  readonly #post: Post;
  readonly #deliver = new Map<number, (command: CommandMessage) => void>();
  #next = 1;

  constructor(post: Post) {
    this.#post = post;
  }

  subscribe(sensorId: string, deliver: (command: CommandMessage) => void): () => void {
    const subscription = this.#next++;
    this.#deliver.set(subscription, deliver);
    this.#post({ type: 'subscribe', subscription, sensorId });
    return () => {
      if (!this.#deliver.delete(subscription)) return;
      this.#post({ type: 'unsubscribe', subscription });
    };
  }

  delivered(sensorId: string, commandId: string): void {
    this.#post({ type: 'delivered', sensorId, commandId });
  }

  command(message: Extract<MainToWorker, { type: 'command' }>): void {
    this.#deliver.get(message.subscription)?.(message.command);
  }
}

/**
 * The main thread's side of one worker's ports: telemetry into the real sink, subscriptions on the
 * real source (ended when the worker goes). Returns the handler for the worker's messages it serves.
 */
export class PortsHost {
  readonly #sink: TelemetrySink | undefined;
  readonly #source: CommandSource | undefined;
  readonly #post: (message: MainToWorker) => void;
  readonly #subscriptions = new Map<number, () => void>();

  constructor(
    sink: TelemetrySink | undefined,
    source: CommandSource | undefined,
    post: (message: MainToWorker) => void,
  ) {
    this.#sink = sink;
    this.#source = source;
    this.#post = post;
  }

  /** True when the message was one of the ports'. */
  handle(message: WorkerToMain): boolean {
    switch (message.type) {
      case 'telemetry':
        this.#telemetry(message.id, message.message);
        return true;
      case 'subscribe': {
        const stop = this.#source?.subscribe(message.sensorId, (command) =>
          this.#post({ type: 'command', subscription: message.subscription, command }),
        );
        if (stop) this.#subscriptions.set(message.subscription, stop);
        return true;
      }
      case 'unsubscribe':
        this.#subscriptions.get(message.subscription)?.();
        this.#subscriptions.delete(message.subscription);
        return true;
      case 'delivered':
        this.#source?.delivered(message.sensorId, message.commandId);
        return true;
      default:
        return false;
    }
  }

  #telemetry(id: number, message: TelemetryMessage): void {
    if (!this.#sink) {
      this.#post({ type: 'telemetryAnswer', id, error: 'no telemetry sink' });
      return;
    }
    this.#sink.accept(message).then(
      (result) => this.#post({ type: 'telemetryAnswer', id, ...(result ? { result } : {}) }),
      (error: unknown) =>
        this.#post({ type: 'telemetryAnswer', id, error: String((error as Error)?.message ?? error) }),
    );
  }

  /** The worker is gone: its subscriptions end (its sensors subscribe again in the next one). */
  close(): void {
    for (const stop of this.#subscriptions.values()) stop();
    this.#subscriptions.clear();
  }
}
