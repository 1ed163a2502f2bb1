import { closeSync, fdatasync, fdatasyncSync, fstatSync, openSync, statSync } from 'node:fs';

interface Waiter {
  resolve(): void;
  reject(error: Error): void;
}

/**
 * fsync of a WAL-mode database's -wal file on libuv's thread pool, so that a commit made with
 * synchronous=NORMAL (frames written to the file, no fsync) becomes as durable as one made with FULL
 * (which fsyncs the WAL at commit) without blocking the event loop for the 5–8 ms a disk sync takes.
 *
 * Syncs coalesce: callers that ask while one is in flight share the next one (which starts when the
 * first ends and covers everything written before it started) — a group commit of the fsyncs.
 *
 * fsync acts on the file (the inode), so our own descriptor syncs SQLite's writes. The -wal file
 * keeps its inode while a connection holds the database open; should it be replaced anyway (deleted
 * by a last other connection and made again), the descriptor is opened again before the sync.
 */
export class WalSync {
  readonly #path: string;
  #fd: number | undefined;
  #ino = 0;
  /** Callers whose writes the sync in flight covers. */
  #inFlight: Waiter[] | undefined;
  /** Callers who asked while one was in flight: the next sync is theirs. */
  #next: Waiter[] = [];
  #closed = false;
  #syncs = 0;
  /** Descriptors of a replaced -wal file that a sync in flight may still use: closed after it. */
  #retired: number[] = [];

  constructor(databasePath: string) {
    this.#path = `${databasePath}-wal`;
  }

  /** fsyncs started since open. */
  get syncs(): number {
    return this.#syncs;
  }

  /** Resolves once everything written to the WAL before this call is on disk. */
  sync(): Promise<void> {
    if (this.#closed) return Promise.reject(new Error(`${this.#path} is closed`));
    return new Promise((resolve, reject) => {
      this.#next.push({ resolve, reject });
      if (!this.#inFlight) this.#start();
    });
  }

  /** Syncs what is written (blocking: at shutdown), settles every caller, and closes the descriptor. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const waiters = [...(this.#inFlight ?? []), ...this.#next];
    this.#inFlight = this.#inFlight && [];
    this.#next = [];
    let failure: Error | undefined;
    try {
      if (waiters.length > 0) fdatasyncSync(this.#descriptor());
    } catch (cause) {
      failure = cause as Error;
    }
    for (const waiter of waiters) failure ? waiter.reject(failure) : waiter.resolve();
    // A sync in flight still uses the descriptor: it closes it when it ends.
    if (!this.#inFlight) this.#closeDescriptor();
  }

  #start(): void {
    const waiters = this.#next;
    this.#next = [];
    let fd: number;
    try {
      fd = this.#descriptor();
    } catch (cause) {
      for (const waiter of waiters) waiter.reject(cause as Error);
      return;
    }
    this.#inFlight = waiters;
    this.#syncs++;
    fdatasync(fd, (error) => {
      const settled = this.#inFlight ?? [];
      this.#inFlight = undefined;
      for (const waiter of settled) error ? waiter.reject(error) : waiter.resolve();
      for (const retired of this.#retired.splice(0)) closeSync(retired);
      if (this.#closed) this.#closeDescriptor();
      else if (this.#next.length > 0) this.#start();
    });
  }

  /** Our descriptor of the -wal file, opened (again) when there is none or the file was replaced. */
  #descriptor(): number {
    const ino = statSync(this.#path).ino;
    if (this.#fd !== undefined && ino === this.#ino) return this.#fd;
    if (this.#fd !== undefined && this.#inFlight) this.#retired.push(this.#fd);
    else this.#closeDescriptor();
    const fd = openSync(this.#path, 'r');
    this.#fd = fd;
    this.#ino = fstatSync(fd).ino;
    return fd;
  }

  #closeDescriptor(): void {
    if (this.#fd === undefined) return;
    closeSync(this.#fd);
    this.#fd = undefined;
  }
}
