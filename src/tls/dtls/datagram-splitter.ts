/**
 * Cuts what OpenSSL wrote into its memory BIO into UDP datagrams.
 *
 * Why: a memory BIO is a byte stream, so the records of one flight (ServerHello, Certificate, …) arrive
 * concatenated. DTLS needs every datagram to hold whole records (RFC 6347 §4.1.1), and no datagram may
 * exceed the path MTU. OpenSSL already sizes each record to the MTU we set (SSL_OP_NO_QUERY_MTU +
 * SSL_set_mtu); here consecutive records are packed greedily, and a record is never split.
 */
export class DatagramSplitter {
  readonly #mtu: number;

  constructor(mtu: number) {
    this.#mtu = mtu;
  }

  split(output: Buffer): Buffer[] {
    const datagrams: Buffer[] = [];
    let start = 0;
    let end = 0;
    while (end < output.length) {
      if (output.length - end < 13) {
        // Not a record boundary: never expected from OpenSSL; send the rest as it is rather than lose it.
        end = output.length;
        break;
      }
      const recordLength = 13 + output.readUInt16BE(end + 11);
      if (end > start && end + recordLength - start > this.#mtu) {
        datagrams.push(output.subarray(start, end));
        start = end;
      }
      end = Math.min(output.length, end + recordLength);
    }
    if (end > start) datagrams.push(output.subarray(start, end));
    return datagrams;
  }
}
