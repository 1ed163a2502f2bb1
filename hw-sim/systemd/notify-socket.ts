import koffi from 'koffi';

/**
 * The receiving end of sd_notify(3): a unix datagram socket, as systemd binds for a Type=notify
 * service. Node's dgram has no unix datagram sockets, so this binds one through libc with koffi.
 *
 * Test and demo equipment only: it stands in for systemd, it is not part of the daemon.
 */
const AF_UNIX = 1;
const SOCK_DGRAM = 2;
const SOCK_NONBLOCK = 0o4000;
const SOCK_CLOEXEC = 0o2000000;
const SUN_PATH_MAX = 108;
const EAGAIN = 11;

interface Libc {
  socket: (domain: number, type: number, protocol: number) => number;
  bind: (fd: number, addr: Buffer, length: number) => number;
  recv: (fd: number, buffer: Buffer, length: number, flags: number) => number;
  close: (fd: number) => number;
  errno: () => number;
}

let libc: Libc | undefined;
function bindLibc(): Libc {
  if (libc) return libc;
  const lib = koffi.load('libc.so.6');
  libc = {
    socket: lib.func('int socket(int, int, int)'),
    bind: lib.func('int bind(int, const void *, uint32_t)'),
    recv: lib.func('intptr_t recv(int, _Out_ void *, size_t, int)'),
    close: lib.func('int close(int)'),
    errno: () => koffi.errno(),
  };
  return libc;
}

export class NotifySocket {
  readonly path: string;
  /** Every message received, in order, each as its list of KEY=VALUE lines. */
  readonly messages: string[][] = [];
  readonly #fd: number;
  readonly #timer: NodeJS.Timeout;
  readonly #waiters = new Set<() => void>();
  readonly #buffer = Buffer.alloc(4096);
  #closed = false;

  constructor(path: string, pollMs = 5) {
    const c = bindLibc();
    if (Buffer.byteLength(path) >= SUN_PATH_MAX) throw new Error(`notify socket path too long: ${path}`);
    const fd = c.socket(AF_UNIX, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) throw new Error(`socket(AF_UNIX, SOCK_DGRAM) failed: errno ${c.errno()}`);
    const address = Buffer.alloc(2 + SUN_PATH_MAX);
    address.writeUInt16LE(AF_UNIX, 0);
    address.write(path, 2);
    if (c.bind(fd, address, address.length) < 0) {
      const errno = c.errno();
      c.close(fd);
      throw new Error(`bind(${path}) failed: errno ${errno}`);
    }
    this.path = path;
    this.#fd = fd;
    // Polling keeps this dependency-free; 5 ms is far below anything a test or the demo waits for.
    this.#timer = setInterval(() => this.drain(), pollMs);
  }

  /** Resolves with the first message (past or future) that `matches`; rejects after `timeoutMs`. */
  waitFor(
    matches: (lines: string[]) => boolean,
    timeoutMs = 30_000,
    what = 'notify message',
  ): Promise<string[]> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const found = this.messages.find(matches);
        if (!found) return false;
        this.#waiters.delete(check);
        clearTimeout(timer);
        resolve(found);
        return true;
      };
      const timer = setTimeout(() => {
        this.#waiters.delete(check);
        reject(new Error(`no ${what} within ${timeoutMs} ms; received: ${JSON.stringify(this.messages)}`));
      }, timeoutMs);
      if (!check()) this.#waiters.add(check);
    });
  }

  /** Resolves with the first message carrying `key=value` exactly. */
  waitForLine(line: string, timeoutMs?: number): Promise<string[]> {
    return this.waitFor((lines) => lines.includes(line), timeoutMs, `"${line}"`);
  }

  close(): void {
    if (this.#closed) return;
    clearInterval(this.#timer);
    this.drain();
    this.#closed = true;
    bindLibc().close(this.#fd);
  }

  /** Reads every message waiting on the socket now (also polled every pollMs). */
  drain(): void {
    if (this.#closed) return;
    const c = bindLibc();
    for (;;) {
      const length = c.recv(this.#fd, this.#buffer, this.#buffer.length, 0);
      if (length < 0) {
        const errno = c.errno();
        if (errno !== EAGAIN) throw new Error(`recv on notify socket failed: errno ${errno}`);
        break;
      }
      this.messages.push(this.#buffer.toString('utf8', 0, length).split('\n').filter(Boolean));
    }
    for (const waiter of [...this.#waiters]) waiter();
  }
}
