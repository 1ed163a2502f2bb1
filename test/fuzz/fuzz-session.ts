import type { SensorCredentials } from '../../hw-sim/sensors/index.js';
import { DtlsClient, privateKeyFromPkcs8 } from '../../src/tls/index.js';
import { COAP_TYPE, emptyAck, readCoapHeader } from './coap-wire.js';

/**
 * The fuzz sensor's DTLS session, over which the CoAP family sends its raw messages. The server may
 * end it at any time (that is its right with this input): the next send connects again. It is not
 * a witness; its reconnections are counted for the progress line only. Confirmable messages from
 * the server (separate responses, notifications) are acknowledged, as a sensor would.
 */
export class FuzzSession {
  readonly #credentials: SensorCredentials;
  readonly #target: () => { port: number; gatewayRoot: Uint8Array };
  #client: DtlsClient | undefined;
  #connects = 0;
  #connectFailures = 0;
  #received = 0;
  #sendRefused = 0;

  constructor(credentials: SensorCredentials, target: () => { port: number; gatewayRoot: Uint8Array }) {
    this.#credentials = credentials;
    this.#target = target;
  }

  get stats(): { connects: number; connectFailures: number; received: number; sendRefused: number } {
    return {
      connects: this.#connects,
      connectFailures: this.#connectFailures,
      received: this.#received,
      sendRefused: this.#sendRefused,
    };
  }

  async send(messages: Buffer[]): Promise<void> {
    const client = await this.#session();
    if (!client) return;
    for (const message of messages) {
      if (client.closed) return;
      try {
        client.send(message);
      } catch {
        // Larger than a datagram: the engine refuses it, the session stays. (Destroying the client
        // here would leave the server a session to keep until its idle timeout, on every such input.)
        this.#sendRefused++;
      }
    }
  }

  close(): void {
    this.#client?.close();
    this.#client = undefined;
  }

  async #session(): Promise<DtlsClient | undefined> {
    if (this.#client && !this.#client.closed) return this.#client;
    this.#client = undefined;
    const target = this.#target();
    try {
      this.#connects++;
      const client = await DtlsClient.connect({
        host: '127.0.0.1',
        port: target.port,
        ca: [target.gatewayRoot],
        certificateChain: this.#credentials.certificateChain,
        privateKey: privateKeyFromPkcs8(this.#credentials.privateKeyPkcs8),
        handshakeTimeoutMs: 5000,
      });
      client.on('message', (datagram) => {
        this.#received++;
        const header = readCoapHeader(datagram);
        if (header?.type === COAP_TYPE.CON && !client.closed) client.send(emptyAck(header.messageId));
      });
      this.#client = client;
      return client;
    } catch {
      this.#connectFailures++;
      return undefined;
    }
  }
}
