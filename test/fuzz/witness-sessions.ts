import { randomBytes } from 'node:crypto';
import { encodeTelemetry, type SensorCredentials, telemetryReading } from '../../hw-sim/sensors/index.js';
import { DtlsClient, privateKeyFromPkcs8 } from '../../src/tls/index.js';
import {
  COAP_OPTION,
  COAP_TYPE,
  type CoapOption,
  codeText,
  emptyAck,
  encodeCoap,
  readCoapHeader,
  uintOption,
} from './coap-wire.js';

/** RFC 7252 §4.8: ACK_TIMEOUT 2 s, doubled per retransmission, MAX_RETRANSMIT 4 (≈ 62 s in all). */
const ACK_TIMEOUT_MS = 2000;
const MAX_RETRANSMIT = 4;
/** A pause between a witness's requests: a busy sensor, not a load generator. */
const PAUSE_MS = 50;

export interface WitnessTarget {
  port: number;
  gatewayRoot: Uint8Array;
}

export interface Disturbance {
  witness: string;
  what: string;
  at: string;
}

/**
 * Established sensor sessions that keep working while the fuzzer runs: each is a real DTLS session
 * (the project's DtlsClient) of its own sensor, sending confirmable GET /time and POST /telemetry
 * (JSON) one after the other, retransmitted as RFC 7252 says. A session that ends, or a request that
 * gets no answer after its retransmissions or an answer other than 2.xx, disturbs that session: it
 * is counted once and the witness connects a new session (which counts on its own).
 */
export class WitnessSessions {
  readonly disturbances: Disturbance[] = [];
  readonly #credentials: SensorCredentials[];
  readonly #target: () => WitnessTarget;
  readonly #loops: Promise<void>[] = [];
  #running = false;
  #requests = 0;
  #messageId = randomBytes(2).readUInt16BE();

  constructor(credentials: SensorCredentials[], target: () => WitnessTarget) {
    this.#credentials = credentials;
    this.#target = target;
  }

  get disturbed(): number {
    return this.disturbances.length;
  }

  /** Answered requests so far, all witnesses. */
  get requests(): number {
    return this.#requests;
  }

  /** Connects every witness (rejects if one cannot connect: the run has no baseline then). */
  async start(): Promise<void> {
    this.#running = true;
    const first = await Promise.all(this.#credentials.map((credentials) => this.#connect(credentials)));
    for (const [index, client] of first.entries())
      this.#loops.push(this.#run(this.#credentials[index] as SensorCredentials, client));
  }

  /** Lets each witness finish its request in flight, then closes the sessions. */
  async stop(): Promise<void> {
    this.#running = false;
    await Promise.all(this.#loops);
  }

  async #run(credentials: SensorCredentials, first: DtlsClient): Promise<void> {
    let client: DtlsClient | undefined = first;
    let seq = 0;
    while (this.#running) {
      if (!client) {
        try {
          client = await this.#connect(credentials);
        } catch {
          await sleep(500);
          continue;
        }
      }
      const session = client;
      let ended: string | undefined;
      const onClose = (reason: string) => {
        ended = reason;
      };
      session.on('close', onClose);
      try {
        while (this.#running && ended === undefined) {
          await this.#exchange(session, 0x01, ['time']);
          seq++;
          const reading = telemetryReading(credentials.commonName, seq, Date.now());
          await this.#exchange(session, 0x02, ['telemetry'], encodeTelemetry(reading, 'json'), 50);
          await sleep(PAUSE_MS);
        }
        if (ended !== undefined) throw new Error(`session ended (${ended})`);
      } catch (error) {
        this.disturbances.push({
          witness: credentials.commonName,
          what: error instanceof Error ? error.message : String(error),
          at: new Date().toISOString(),
        });
        session.destroy();
        client = undefined;
      } finally {
        session.off('close', onClose);
      }
    }
    client?.close();
  }

  #nextMessageId(): number {
    this.#messageId = (this.#messageId + 1) & 0xffff;
    return this.#messageId;
  }

  #connect(credentials: SensorCredentials): Promise<DtlsClient> {
    const target = this.#target();
    return DtlsClient.connect({
      host: '127.0.0.1',
      port: target.port,
      ca: [target.gatewayRoot],
      certificateChain: credentials.certificateChain,
      privateKey: privateKeyFromPkcs8(credentials.privateKeyPkcs8),
      handshakeTimeoutMs: 10_000,
    });
  }

  /** One confirmable request; resolves on a 2.xx answer (piggybacked or separate), throws otherwise. */
  #exchange(
    client: DtlsClient,
    code: number,
    path: string[],
    payload?: Uint8Array,
    contentFormat?: number,
  ): Promise<void> {
    // RFC 7252 §4.4: a new message id per message, not reused within EXCHANGE_LIFETIME (the gateway
    // takes a reused one for a retransmission).
    const messageId = this.#nextMessageId();
    const token = randomBytes(4);
    const options: CoapOption[] = path.map((segment) => ({
      number: COAP_OPTION.URI_PATH,
      value: Buffer.from(segment),
    }));
    if (contentFormat !== undefined)
      options.push({ number: COAP_OPTION.CONTENT_FORMAT, value: uintOption(contentFormat) });
    const request = encodeCoap({ type: COAP_TYPE.CON, code, messageId, token, options, payload });
    const what = `${code === 1 ? 'GET' : 'POST'} /${path.join('/')}`;
    return new Promise((resolve, reject) => {
      let attempts = 0;
      let timer: NodeJS.Timeout | undefined;
      let acknowledged = false;
      const finish = (error?: Error) => {
        clearTimeout(timer);
        client.off('message', onMessage);
        client.off('close', onClose);
        if (error) reject(error);
        else {
          this.#requests++;
          resolve();
        }
      };
      const onClose = (reason: string) => finish(new Error(`${what}: session ended (${reason})`));
      const onMessage = (datagram: Buffer) => {
        const header = readCoapHeader(datagram);
        if (!header) return;
        if (header.type === COAP_TYPE.ACK && header.messageId === messageId && header.code === 0) {
          acknowledged = true; // a separate response follows
          clearTimeout(timer);
          timer = setTimeout(() => finish(new Error(`${what}: no separate response`)), 93_000);
          return;
        }
        if (!header.token.equals(token)) return;
        if (header.type === COAP_TYPE.CON) client.send(emptyAck(header.messageId));
        if (header.code >> 5 === 2) finish();
        else finish(new Error(`${what}: answered ${codeText(header.code)}`));
      };
      const send = () => {
        if (acknowledged) return;
        if (attempts > MAX_RETRANSMIT) {
          finish(new Error(`${what}: no answer after ${attempts} transmissions`));
          return;
        }
        try {
          client.send(request);
        } catch (error) {
          finish(error as Error);
          return;
        }
        timer = setTimeout(send, ACK_TIMEOUT_MS * 2 ** attempts);
        attempts++;
      };
      client.on('message', onMessage);
      client.on('close', onClose);
      send();
    });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
