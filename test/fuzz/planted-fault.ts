/**
 * Test-only, preloaded into the daemon with `--import` by FuzzTarget({ plantedFault: true }): a bug
 * planted in the UDP receive path, outside src/. A datagram that starts like a DTLS record of content
 * type 25 (tls12_cid, which the gateway does not negotiate) throws from the socket's 'message'
 * emit, an uncaught exception, as a real parsing bug would. The fuzzer's DTLS family sends such
 * records now and then, so a run against this target must report a crash and an exception: the
 * proof that fuzz.test.ts can fail.
 */
import dgram from 'node:dgram';

const PLANTED_CONTENT_TYPE = 25;
const emit = dgram.Socket.prototype.emit;

dgram.Socket.prototype.emit = function plantedEmit(
  this: dgram.Socket,
  event: string | symbol,
  ...args: unknown[]
) {
  const datagram = args[0];
  if (
    event === 'message' &&
    Buffer.isBuffer(datagram) &&
    datagram.length >= 13 &&
    datagram[0] === PLANTED_CONTENT_TYPE
  ) {
    throw new Error('planted fault: a DTLS record of content type 25 reached the receive path');
  }
  return (emit as (this: dgram.Socket, ...all: unknown[]) => boolean).call(this, event, ...args);
} as typeof emit;
