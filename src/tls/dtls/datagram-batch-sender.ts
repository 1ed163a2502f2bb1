import type dgram from 'node:dgram';
import { constants } from 'node:os';
import { MMSG, type UdpSyscalls, udpSyscalls } from '../../native/libc/index.js';
import { TlsError } from '../tls-error.js';

/** Where a datagram goes. The same object for many datagrams (a session's peer) is encoded once. */
export interface DatagramDestination {
  readonly address: string;
  readonly port: number;
}

export interface DatagramBatchSenderOptions {
  /** A datagram could not be sent (EGW_DTLS_SEND; counted by the owner, never thrown). */
  failed(error: TlsError): void;
  /** false: every datagram through node:dgram at once (as before batching). Default true. */
  batch?: boolean;
  /** For tests: the system calls (default: libc's through koffi, null where unavailable). */
  syscalls?: UdpSyscalls | null;
}

export interface DatagramBatchSenderStats {
  /** Datagrams handed to sendmmsg(2) and taken by the kernel. */
  batched: number;
  /** sendmmsg(2) calls that sent at least one datagram. */
  batches: number;
  /** Datagrams sent through node:dgram instead (no batching here, large, libuv had sends queued, EAGAIN). */
  viaSocket: number;
  /** Datagrams that failed (also told to `failed`). */
  failures: number;
}

/** Datagrams a batch holds before it is flushed early (libuv reads at most 32 per socket and turn). */
const SLOTS = 64;
/** Largest datagram copied into a slot; larger ones (never on the data path: MTU-sized) go through node:dgram. */
const SLOT_DATA_BYTES = 2048;
const HEADERS = 0;
const IOVECS = HEADERS + SLOTS * MMSG.HEADER_BYTES;
const NAMES = IOVECS + SLOTS * MMSG.IOVEC_BYTES;
const DATA = NAMES + SLOTS * MMSG.SOCKADDR_BYTES;
const ARENA_BYTES = DATA + SLOTS * SLOT_DATA_BYTES;
const { EINTR, EAGAIN, ENOBUFS, EPERM, ENOSYS } = constants.errno;
const ERRNO_NAMES = new Map(Object.entries(constants.errno).map(([name, value]) => [value, name]));

/**
 * Sends the datagrams of one event-loop turn with one sendmmsg(2) on the socket's descriptor instead
 * of one node:dgram send each. Why: under CoAP load, dgram's send was the largest single cost of the
 * daemon (a send wrap, an address lookup deferred to the next tick, a callback tick and a sendmsg
 * per datagram: 26 % of busy time in --cpu-prof); a batch costs one koffi call and the kernel's own
 * per-datagram work.
 *
 * Datagrams queue in order in native memory (data copied, so the caller may reuse its buffer) and go
 * out in the check phase of the turn (setImmediate): after every datagram libuv read in that turn's
 * poll phase was processed, before the loop waits again. Order is kept for the whole socket, hence
 * per peer: while node:dgram still holds sends of ours (queued by libuv after EAGAIN, or waiting for
 * their address lookup), the whole batch goes through node:dgram behind them; when the kernel says
 * EAGAIN part-way, the rest goes through node:dgram (libuv queues it and sends once writable). A
 * datagram the kernel refuses (EACCES, EINVAL, …) is reported to `failed` and skipped, never thrown.
 * Works on any bound dgram socket (one per worker thread with reusePort); without sendmmsg (not
 * 64-bit Linux/glibc) or without the descriptor, every datagram goes through node:dgram.
 */
export class DatagramBatchSender {
  readonly #socket: dgram.Socket;
  readonly #failed: (error: TlsError) => void;
  readonly #syscalls: UdpSyscalls | null;
  #memory: unknown;
  #base = 0;
  #view: Buffer | undefined;
  /** The socket's descriptor once known; -1: none (not bound yet, closed, or not to be had). */
  #fd = -1;
  /** node:dgram's state and the handle the descriptor belongs to (the state drops it on close). */
  #handle: SocketHandle | undefined;
  #ipv6Socket = false;
  #count = 0;
  /** The originals of the queued datagrams, for the node:dgram path. */
  readonly #queued: (Buffer | undefined)[] = new Array(SLOTS).fill(undefined);
  readonly #queuedTo: (DatagramDestination | undefined)[] = new Array(SLOTS).fill(undefined);
  #scheduled = false;
  /** node:dgram sends of ours not called back yet: until they are, batches would overtake them. */
  #viaSocketPending = 0;
  #closed = false;
  /** False once the kernel refused sendmmsg itself. */
  #batching = true;
  /** The encoded sockaddr of each destination (null: not encodable here; node:dgram sends it). */
  readonly #names = new WeakMap<DatagramDestination, Buffer | null>();
  readonly #stats: DatagramBatchSenderStats = { batched: 0, batches: 0, viaSocket: 0, failures: 0 };
  readonly #flushNow = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(socket: dgram.Socket, options: DatagramBatchSenderOptions) {
    this.#socket = socket;
    this.#failed = options.failed;
    this.#syscalls =
      options.batch === false ? null : options.syscalls !== undefined ? options.syscalls : udpSyscalls();
  }

  /** Queues one datagram to `to` (sent in this turn's check phase, or sooner when the batch is full). */
  send(datagram: Buffer, to: DatagramDestination): void {
    if (this.#closed) return;
    const name = datagram.length <= SLOT_DATA_BYTES ? this.#nameOf(to) : null;
    if (name === null) {
      // Behind whatever is queued: order on the socket is send order.
      this.flush();
      this.#viaSocket(datagram, to);
      return;
    }
    if (this.#count === SLOTS) this.flush();
    const view = this.#view as Buffer;
    const slot = this.#count++;
    this.#queued[slot] = datagram;
    this.#queuedTo[slot] = to;
    datagram.copy(view, DATA + slot * SLOT_DATA_BYTES);
    view.writeUInt32LE(datagram.length, IOVECS + slot * MMSG.IOVEC_BYTES + 8);
    name.copy(view, NAMES + slot * MMSG.SOCKADDR_BYTES);
    view.writeUInt32LE(name.length, HEADERS + slot * MMSG.HEADER_BYTES + MMSG.NAME_LENGTH);
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushNow);
    }
  }

  /** Sends what is queued now. */
  flush(): void {
    const count = this.#count;
    if (count === 0) return;
    this.#count = 0;
    let next = 0;
    if (this.#stillOpen() && this.#viaSocketPending === 0 && this.#socket.getSendQueueCount() === 0) {
      next = this.#sendBatch(count);
    }
    for (let slot = next; slot < count; slot++) {
      this.#viaSocket(this.#queued[slot] as Buffer, this.#queuedTo[slot] as DatagramDestination);
    }
    this.#queued.fill(undefined, 0, count);
    this.#queuedTo.fill(undefined, 0, count);
  }

  stats(): DatagramBatchSenderStats {
    return { ...this.#stats };
  }

  /** Flushes, then frees the native memory; later sends are dropped (the socket is closing). */
  close(): void {
    if (this.#closed) return;
    this.flush();
    this.#closed = true;
    if (this.#memory !== undefined) this.#syscalls?.release(this.#memory);
    this.#memory = undefined;
    this.#view = undefined;
  }

  /** sendmmsg over slots [0, count); returns the first slot not handled (the rest go through node:dgram). */
  #sendBatch(count: number): number {
    const syscalls = this.#syscalls as UdpSyscalls;
    let next = 0;
    while (next < count) {
      const sent = syscalls.sendmmsg(
        this.#fd,
        this.#base + HEADERS + next * MMSG.HEADER_BYTES,
        count - next,
        0,
      );
      if (sent > 0) {
        next += sent;
        this.#stats.batched += sent;
        this.#stats.batches++;
        continue;
      }
      const errno = syscalls.errno();
      if (errno === EINTR) continue;
      if (errno === EAGAIN || errno === ENOBUFS) return next; // libuv waits for writable
      if (errno === ENOSYS || (errno === EPERM && this.#stats.batches === 0)) {
        // No sendmmsg here (a seccomp filter without it, an old kernel): node:dgram from now on.
        // (EPERM after batches went out is a firewall rule refusing this datagram: counted below.)
        this.#batching = false;
        this.#fd = -1;
        return next;
      }
      const to = this.#queuedTo[next] as DatagramDestination;
      const name = ERRNO_NAMES.get(errno) ?? `errno ${errno}`;
      this.#fail(new TlsError('EGW_DTLS_SEND', `cannot send a datagram to ${describe(to)}: ${name}`));
      next++;
    }
    return next;
  }

  #viaSocket(datagram: Buffer, to: DatagramDestination): void {
    this.#stats.viaSocket++;
    this.#viaSocketPending++;
    try {
      this.#socket.send(datagram, to.port, to.address, (error) => {
        this.#viaSocketPending--;
        if (error) this.#fail(sendError(to, error));
      });
    } catch (error) {
      // node:dgram throws for a port out of range or a socket not running.
      this.#viaSocketPending--;
      this.#fail(sendError(to, error));
    }
  }

  #fail(error: TlsError): void {
    this.#stats.failures++;
    this.#failed(error);
  }

  /** The destination's sockaddr, or null when this datagram must go through node:dgram. */
  #nameOf(to: DatagramDestination): Buffer | null {
    if (!this.#attach()) return null;
    let name = this.#names.get(to);
    if (name === undefined) {
      name = encodeName(this.#syscalls as UdpSyscalls, this.#ipv6Socket, to);
      this.#names.set(to, name);
    }
    return name;
  }

  /** Finds the descriptor and the native memory on first use (the socket must be bound by then). */
  #attach(): boolean {
    if (this.#fd >= 0) return true;
    if (this.#syscalls === null || this.#closed || !this.#batching) return false;
    const handle = handleOf(this.#socket);
    const fd = handle?.handle.fd;
    if (!handle || typeof fd !== 'number' || fd < 0) return false;
    if (this.#memory === undefined) {
      const { memory, address, view } = this.#syscalls.allocate(ARENA_BYTES);
      this.#memory = memory;
      this.#base = address;
      this.#view = view;
      for (let slot = 0; slot < SLOTS; slot++) {
        const header = HEADERS + slot * MMSG.HEADER_BYTES;
        const iovec = IOVECS + slot * MMSG.IOVEC_BYTES;
        // Addresses of user memory fit in 48 bits (x64, arm64): written as 6 bytes, the upper 2 are 0.
        view.writeUIntLE(address + NAMES + slot * MMSG.SOCKADDR_BYTES, header + MMSG.NAME, 6);
        view.writeUIntLE(address + iovec, header + MMSG.IOV, 6);
        view.writeUInt32LE(1, header + MMSG.IOV_LENGTH);
        view.writeUIntLE(address + DATA + slot * SLOT_DATA_BYTES, iovec, 6);
      }
    }
    this.#ipv6Socket = this.#socket.address().family === 'IPv6';
    this.#handle = handle;
    this.#fd = fd;
    return true;
  }

  /**
   * Whether the descriptor is still the socket's: once closed, its number may already belong to
   * another file, so nothing more is written to it (node:dgram then refuses the rest, counted).
   */
  #stillOpen(): boolean {
    if (this.#fd < 0) return false;
    const handle = this.#handle as SocketHandle;
    if (handle.state.handle === handle.handle) return true;
    this.#fd = -1;
    this.#batching = false;
    return false;
  }
}

interface SocketHandle {
  state: { handle?: { fd?: unknown } | null };
  handle: { fd?: unknown };
}

/**
 * The handle (and so the descriptor) of a dgram socket. node:dgram has no public accessor
 * (Socket#_handle is deprecated, DEP0112, and warns): it is read from the socket's internal state.
 * Undefined when that is not there (another Node.js): node:dgram then sends everything.
 */
function handleOf(socket: dgram.Socket): SocketHandle | undefined {
  const key = Object.getOwnPropertySymbols(socket).find((symbol) => symbol.description === 'state symbol');
  const state = key
    ? (socket as unknown as Record<symbol, SocketHandle['state'] | undefined>)[key]
    : undefined;
  const handle = state?.handle;
  return state && handle ? { state, handle } : undefined;
}

/** struct sockaddr_in (IPv4 socket) or sockaddr_in6 (IPv6 socket, IPv4 peers mapped); null if not encodable. */
function encodeName(syscalls: UdpSyscalls, ipv6Socket: boolean, to: DatagramDestination): Buffer | null {
  const port = to.port;
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) return null;
  const address = to.address;
  if (!ipv6Socket) {
    const name = Buffer.alloc(16);
    if (syscalls.inetPton(MMSG.AF_INET, address, name.subarray(4, 8)) !== 1) return null;
    name.writeUInt16LE(MMSG.AF_INET, 0);
    name.writeUInt16BE(port, 2);
    return name;
  }
  // A zone (fe80::1%eth0) needs its interface index: node:dgram resolves it.
  if (address.includes('%')) return null;
  const name = Buffer.alloc(28);
  const bytes = name.subarray(8, 24);
  if (syscalls.inetPton(MMSG.AF_INET6, address, bytes) !== 1) {
    const v4 = Buffer.alloc(4);
    if (syscalls.inetPton(MMSG.AF_INET, address, v4) !== 1) return null;
    bytes.writeUInt16BE(0xffff, 10); // ::ffff:a.b.c.d
    v4.copy(bytes, 12);
  }
  name.writeUInt16LE(MMSG.AF_INET6, 0);
  name.writeUInt16BE(port, 2);
  return name;
}

function sendError(to: DatagramDestination, error: unknown): TlsError {
  const reason =
    error instanceof Error ? ((error as { code?: string }).code ?? error.message) : String(error);
  return new TlsError('EGW_DTLS_SEND', `cannot send a datagram to ${describe(to)}: ${reason}`, {
    cause: error,
  });
}

function describe(to: DatagramDestination): string {
  return to.address.includes(':') ? `[${to.address}]:${to.port}` : `${to.address}:${to.port}`;
}
