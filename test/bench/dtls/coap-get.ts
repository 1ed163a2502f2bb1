/** A confirmable CoAP GET for "/" (no Uri-Path option) with a 2-byte token: the load's request. */
export function coapGet(messageId: number): Buffer {
  const message = Buffer.alloc(6);
  message[0] = 0x42; // version 1, CON, token length 2
  message[1] = 0x01; // GET
  message.writeUInt16BE(messageId & 0xffff, 2);
  message.writeUInt16BE(messageId & 0xffff, 4); // token = message id
  return message;
}

/** CoAP response code as "2.05", from a response datagram. */
export function coapCode(response: Buffer): string {
  const code = response[1] ?? 0;
  return `${code >> 5}.${String(code & 0x1f).padStart(2, '0')}`;
}
