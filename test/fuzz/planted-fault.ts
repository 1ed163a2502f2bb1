/**
 * Test-only, preloaded into the daemon with `--import` by FuzzTarget({ plantedFault: true }): a bug
 * planted in the UDP receive path, outside src/. A datagram that starts like a DTLS record of content
 * type 25 (tls12_cid, which the gateway does not negotiate) throws from the socket's 'message'
 * emit, an uncaught exception, as a real parsing bug would. The fuzzer's DTLS family sends such
 * records now and then, so a run against this target must report a crash and an exception: the
 * proof that fuzz.test.ts can fail.
 *
 * Sockets are patched one by one as dgram.createSocket makes them: dgram.Socket.prototype itself is
 * left alone (CoapDtlsSocket inherits from it and overrides its methods with ones that throw).
 */
import dgram from 'node:dgram';

const PLANTED_CONTENT_TYPE = 25;
const createSocket = dgram.createSocket;

dgram.createSocket = ((...args: Parameters<typeof dgram.createSocket>) => {
  const socket = createSocket(...args);
  const emit = socket.emit.bind(socket) as (event: string | symbol, ...rest: unknown[]) => boolean;
  socket.emit = ((event: string | symbol, ...rest: unknown[]) => {
    const datagram = rest[0];
    if (
      event === 'message' &&
      Buffer.isBuffer(datagram) &&
      datagram.length >= 13 &&
      datagram[0] === PLANTED_CONTENT_TYPE
    )
      throw new Error('planted fault: a DTLS record of content type 25 reached the receive path');
    return emit(event, ...rest);
  }) as typeof socket.emit;
  return socket;
}) as typeof dgram.createSocket;
