import type dgram from 'node:dgram';

/** What SO_RCVBUF a socket asked for and what the kernel gave it. */
export interface ReceiveBufferSize {
  requestedBytes: number;
  /** As the kernel reports it (Linux doubles the value set, for its bookkeeping). */
  effectiveBytes: number;
  /** The kernel gave less than asked: on Linux, net.core.rmem_max is below the request. */
  capped: boolean;
}

/**
 * Sets SO_RCVBUF and reads back what the kernel made of it. Linux silently clamps the request to
 * net.core.rmem_max and reports twice the value it kept, so a request it kept whole reads back as 2×.
 */
export function applyReceiveBuffer(socket: dgram.Socket, bytes: number): ReceiveBufferSize {
  try {
    socket.setRecvBufferSize(bytes);
  } catch {
    // a smaller buffer still works; the read-back below says how small
  }
  let effectiveBytes = 0;
  try {
    effectiveBytes = socket.getRecvBufferSize();
  } catch {
    // not bound: nothing to report
  }
  const expected = process.platform === 'linux' ? 2 * bytes : bytes;
  return { requestedBytes: bytes, effectiveBytes, capped: effectiveBytes < expected };
}
