import koffi from 'koffi';

/**
 * The two libc calls the DTLS socket's batched send path needs (datagram-batch-sender.ts), bound
 * through koffi. Only on 64-bit little-endian Linux (x64, arm64: the boards and runtimes the project
 * supports), where struct mmsghdr is 64 bytes and the layout below holds; elsewhere `udpSyscalls()`
 * is null and the caller sends each datagram through node:dgram.
 */
export interface UdpSyscalls {
  /** sendmmsg(2) on the vector at `vector` (an address): messages sent (a prefix), or -1 with `errno()` set. */
  sendmmsg(fd: number, vector: number, count: number, flags: number): number;
  /** inet_pton(3): 1 when `text` is an address of `family` (written to `out`), else 0. */
  inetPton(family: number, text: string, out: Uint8Array): number;
  /** errno of the last call on this thread. */
  errno(): number;
  /** Native memory of `bytes` bytes (never moved by the GC), its address, and a Buffer over it. */
  allocate(bytes: number): { memory: unknown; address: number; view: Buffer };
  release(memory: unknown): void;
}

/** Layout of the structures (Linux, LP64). */
export const MMSG = {
  /** struct mmsghdr: struct msghdr (56 bytes) + unsigned msg_len, padded. */
  HEADER_BYTES: 64,
  NAME: 0,
  NAME_LENGTH: 8,
  IOV: 16,
  IOV_LENGTH: 24,
  /** struct iovec: base pointer + size_t length. */
  IOVEC_BYTES: 16,
  /** Room for a struct sockaddr_in6 (28 bytes; sockaddr_in is 16). */
  SOCKADDR_BYTES: 32,
  AF_INET: 2,
  AF_INET6: 10,
} as const;

let bound: UdpSyscalls | null | undefined;

export function udpSyscalls(): UdpSyscalls | null {
  if (bound !== undefined) return bound;
  if (process.platform !== 'linux' || (process.arch !== 'x64' && process.arch !== 'arm64')) {
    bound = null;
    return bound;
  }
  try {
    const libc = koffi.load('libc.so.6');
    const sendmmsg = libc.func('int sendmmsg(int, uintptr_t, unsigned int, int)');
    const inetPton = libc.func('int inet_pton(int, const char *, _Out_ uint8_t *)');
    bound = {
      sendmmsg: sendmmsg as UdpSyscalls['sendmmsg'],
      inetPton: inetPton as UdpSyscalls['inetPton'],
      errno: () => koffi.errno(),
      allocate: (bytes) => {
        const memory = koffi.alloc('uint8_t', bytes);
        const view = Buffer.from(koffi.view(memory, bytes));
        view.fill(0);
        return { memory, address: Number(koffi.address(memory)), view };
      },
      release: (memory) => koffi.free(memory),
    };
  } catch {
    bound = null; // not glibc (musl names it libc.so): node:dgram it is
  }
  return bound;
}
