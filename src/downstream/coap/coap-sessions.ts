import { type DtlsPeer, type DtlsServer, TlsError } from '../../tls/index.js';
import type { AnswerCacheBound } from '../answer-cache-bound.js';
import { CoapSession, type SessionHooks } from './coap-session.js';

export interface CoapSessionsOptions {
  /** Installs the request handling on a session's CoAP layer; `session` names that session alone. */
  serve: (server: CoapSession, session: string) => void;
  /** The session ended (its CoAP layer is already closed). */
  ended?: (session: string) => void;
  /** Bounds each session's answer cache as its datagrams arrive. */
  answers: AnswerCacheBound;
  /**
   * The CoAP layer answered a request of `session` with an error of its own (`code`; 5.00 when
   * handling threw): `text` is what went wrong, which the sensor is not told.
   */
  errorAnswered?: (session: string, code: string, text: string) => void;
}

/**
 * CoAP state belongs to the DTLS session: answers replayed to retransmissions, message ids, block-wise
 * transfers, the retransmissions of confirmable notifications. Keyed by address:port alone, a new
 * session from the same address and port (a rebooted sensor, or another sensor behind the same NAT
 * binding) would get the old session's answers without being authorized, and its notifications. So
 * each DTLS session gets its own CoapSession, closed when the session ends (its state and timers go
 * with it, and whatever it would still send is dropped instead of reaching the next session there).
 *
 * A session is superseded when another is established at its address and port (the DTLS server keeps
 * one per address and port); its 'sessionEnd' may come before or after that.
 */
export class CoapSessions {
  readonly #options: CoapSessionsOptions;
  /** The current session at each "address:port". */
  readonly #byAddress = new Map<string, CoapSession>();
  /**
   * The open session of each DtlsPeer object the DTLS server delivered (its session's context): a
   * datagram finds its session without building the "address:port" string each time.
   */
  readonly #byPeer = new WeakMap<DtlsPeer, CoapSession>();
  readonly #hooks: SessionHooks;
  #serial = 0;
  #closed = false;
  /** Datagrams for an address with no CoAP session (the DTLS session ended meanwhile). */
  orphanDatagrams = 0;
  /** Datagrams a CoAP session sent after its DTLS session was gone (dropped, like UDP). */
  undeliverable = 0;
  /** Error answers the CoAP layer made itself, by code. */
  readonly errorAnswers: Record<string, number> = {};

  /** Subscribes to `dtls`: call before it listens, so that no session is missed. */
  constructor(dtls: DtlsServer, options: CoapSessionsOptions) {
    this.#options = options;
    this.#hooks = {
      send: (address, port, datagram) => {
        try {
          dtls.send(address, port, datagram);
        } catch (error) {
          if (!(error instanceof TlsError)) throw error;
          this.undeliverable++;
        }
      },
      errorAnswered: (session, code, text) => {
        this.errorAnswers[code] = (this.errorAnswers[code] ?? 0) + 1;
        try {
          this.#options.errorAnswered?.(session, code, text);
        } catch {
          // A failing report must not undo the answer.
        }
      },
    };
    dtls.on('session', (peer) => this.#open(peer));
    dtls.on('message', (plaintext, peer) => this.#deliver(plaintext, peer));
    dtls.on('sessionEnd', (peer) => this.#ended(peer));
  }

  /** CoAP sessions open now. */
  get size(): number {
    return this.#byAddress.size;
  }

  /** Each session's CoAP layer (for the answer cache's status). */
  servers(): CoapSession[] {
    return [...this.#byAddress.values()];
  }

  /** The DTLS server re-judged `peer` (reverify): its 'sessionEnd' will carry this object. */
  refresh(peer: DtlsPeer): void {
    const session = this.#byAddress.get(addressKey(peer));
    if (session) session.peer = peer;
  }

  close(): void {
    this.#closed = true;
    for (const session of [...this.#byAddress.values()]) this.#close(session);
  }

  #open(peer: DtlsPeer): void {
    if (this.#closed) return;
    const key = addressKey(peer);
    const previous = this.#byAddress.get(key);
    if (previous) this.#close(previous);
    const session = new CoapSession(`${key}/${++this.#serial}`, peer, this.#hooks);
    this.#options.serve(session, session.id);
    this.#byAddress.set(key, session);
    this.#byPeer.set(peer, session);
  }

  #deliver(plaintext: Buffer, peer: DtlsPeer): void {
    // An open session is the one #byAddress holds for its address (#close takes it out of both).
    let session = this.#byPeer.get(peer);
    if (session === undefined || session.closed) {
      session = this.#byAddress.get(addressKey(peer));
      if (!session) {
        this.orphanDatagrams++;
        return;
      }
      this.#byPeer.set(peer, session);
    }
    // Datagrams come from the current session at this address: its latest DtlsPeer is this one.
    session.peer = peer;
    this.#options.answers.trim(session);
    session.receive(plaintext);
  }

  #ended(peer: DtlsPeer): void {
    const session = this.#byAddress.get(addressKey(peer));
    // Another object: this session was superseded (and closed) when the newer one was established.
    if (session?.peer === peer) this.#close(session);
  }

  #close(session: CoapSession): void {
    const key = addressKey(session);
    if (this.#byAddress.get(key) === session) this.#byAddress.delete(key);
    this.#byPeer.delete(session.peer as DtlsPeer);
    session.close();
    this.#options.ended?.(session.id);
  }
}

function addressKey(peer: { address: string; port: number }): string {
  return `${peer.address}:${peer.port}`;
}
