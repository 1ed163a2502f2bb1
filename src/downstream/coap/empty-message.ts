/** An empty ACK or RST from a sensor: the answer to one of the gateway's confirmable messages. */
export interface EmptyMessage {
  kind: 'ack' | 'reset';
  messageId: number;
  /** The DTLS session (CoapSessions' name for it). */
  peer: string;
}
