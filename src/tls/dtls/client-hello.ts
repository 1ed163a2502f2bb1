import { RECORD_HEADER_LENGTH } from './dtls-record-scanner.js';

/**
 * The fields of a DTLS ClientHello (RFC 6347 §4.2.1, RFC 5246 §7.4.1.2) the server judges before
 * OpenSSL sees it: what the cookie binds, the cookie itself, and the session id (a resumption attempt).
 *
 * Why in JS: a cookie-less ClientHello must cost nothing but a stateless HelloVerifyRequest, and the
 * cookie must bind the parameters a client repeats in its second ClientHello ("version, random,
 * session_id, cipher_suites, compression_method", §4.2.1); OpenSSL's cookie callbacks only get the SSL.
 */
export interface ClientHelloFields {
  /** 8 bytes: the record's epoch and sequence number, echoed in the HelloVerifyRequest (§4.2.1). */
  recordSequence: Buffer;
  clientVersion: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  cipherSuites: Buffer;
  compressionMethods: Buffer;
  /** The SessionTicket extension's ticket (RFC 5077 §3.2), when one is offered (not empty). */
  sessionTicket: Buffer | undefined;
}

const EXTENSION_SESSION_TICKET = 35;

const HANDSHAKE_HEADER_LENGTH = 12;

/**
 * Parses the first record of `datagram`, already known to be a whole epoch-0 ClientHello
 * (isInitialClientHello); undefined when its body is malformed.
 */
export function parseClientHello(datagram: Buffer): ClientHelloFields | undefined {
  if (datagram.length < RECORD_HEADER_LENGTH + HANDSHAKE_HEADER_LENGTH) return undefined;
  const end = Math.min(
    datagram.length,
    RECORD_HEADER_LENGTH + datagram.readUInt16BE(11),
    RECORD_HEADER_LENGTH + HANDSHAKE_HEADER_LENGTH + datagram.readUIntBE(RECORD_HEADER_LENGTH + 9, 3),
  );
  let at = RECORD_HEADER_LENGTH + HANDSHAKE_HEADER_LENGTH;
  const take = (length: number): Buffer | undefined => {
    if (at + length > end) return undefined;
    const slice = datagram.subarray(at, at + length);
    at += length;
    return slice;
  };
  const vector = (lengthBytes: 1 | 2, min: number, max: number): Buffer | undefined => {
    const prefix = take(lengthBytes);
    if (!prefix) return undefined;
    const length = lengthBytes === 1 ? (prefix[0] as number) : prefix.readUInt16BE(0);
    if (length < min || length > max) return undefined;
    return take(length);
  };
  const version = take(2);
  const random = take(32);
  const sessionId = vector(1, 0, 32);
  const cookie = vector(1, 0, 255);
  const cipherSuites = vector(2, 2, 0xfffe);
  const compressionMethods = vector(1, 1, 255);
  if (!version || !random || !sessionId || !cookie || !cipherSuites || !compressionMethods) return undefined;
  if (cipherSuites.length % 2 !== 0) return undefined;
  let sessionTicket: Buffer | undefined;
  const extensions = at < end ? vector(2, 0, 0xffff) : undefined;
  for (let e = 0; extensions && e + 4 <= extensions.length; ) {
    const type = extensions.readUInt16BE(e);
    const length = extensions.readUInt16BE(e + 2);
    if (type === EXTENSION_SESSION_TICKET && length > 0 && e + 4 + length <= extensions.length)
      sessionTicket = extensions.subarray(e + 4, e + 4 + length);
    e += 4 + length;
  }
  return {
    recordSequence: datagram.subarray(3, 11),
    clientVersion: version.readUInt16BE(0),
    random,
    sessionId,
    cookie,
    cipherSuites,
    compressionMethods,
    sessionTicket,
  };
}

/**
 * The HelloVerifyRequest answering `hello` with `cookie`, as OpenSSL's DTLSv1_listen builds it: record
 * and server_version DTLS 1.0 (RFC 6347 §4.2.1: clients may not know 1.2 yet), message_seq 0, the
 * ClientHello's record sequence number.
 */
export function helloVerifyRequest(hello: ClientHelloFields, cookie: Buffer): Buffer {
  const bodyLength = 3 + cookie.length;
  const datagram = Buffer.alloc(RECORD_HEADER_LENGTH + HANDSHAKE_HEADER_LENGTH + bodyLength);
  datagram[0] = 22; // handshake
  datagram.writeUInt16BE(0xfeff, 1);
  hello.recordSequence.copy(datagram, 3);
  datagram.writeUInt16BE(HANDSHAKE_HEADER_LENGTH + bodyLength, 11);
  const handshake = RECORD_HEADER_LENGTH;
  datagram[handshake] = 3; // hello_verify_request
  datagram.writeUIntBE(bodyLength, handshake + 1, 3);
  // message_seq 0, fragment_offset 0 (already zero)
  datagram.writeUIntBE(bodyLength, handshake + 9, 3);
  const body = handshake + HANDSHAKE_HEADER_LENGTH;
  datagram.writeUInt16BE(0xfeff, body);
  datagram[body + 2] = cookie.length;
  cookie.copy(datagram, body + 3);
  return datagram;
}
