import { EventEmitter } from 'node:events';
import coap from 'coap';
import { CoapDtlsSocket, type DtlsPeer, type DtlsServer } from '../../tls/index.js';
import type { AnswerCacheBound } from '../answer-cache-bound.js';
import { guardErrorAnswers } from './error-answers.js';

type CoapServer = ReturnType<typeof coap.createServer>;

export interface CoapSessionsOptions {
  /** Installs the request handling on a session's node-coap server; `session` names that session alone. */
  serve: (server: CoapServer, session: string) => void;
  /** The session ended (its node-coap server is already closed). */
  ended?: (session: string) => void;
  /** Bounds each session's answer cache as its datagrams arrive. */
  answers: AnswerCacheBound;
  /**
   * node-coap answered a request of `session` with an error of its own (`code`; 5.00 when handling
   * threw): `text` is what it would have told the sensor, which now gets a bounded generic answer.
   */
  errorAnswered?: (session: string, code: string, text: string) => void;
}

/** One DTLS session's CoAP: its own node-coap server over a socket that reaches that session only. */
interface CoapSession {
  /** "address:port/serial": unique for the endpoint's lifetime, unlike address:port. */
  readonly id: string;
  readonly server: CoapServer;
  readonly socket: CoapDtlsSocket;
  readonly link: SessionLink;
  /** The DtlsPeer the DTLS server last handed us for it (it replaces the object on reverify). */
  peer: DtlsPeer;
}

/**
 * The DTLS server as one session's CoAP socket sees it: that session's datagrams, and sends to its
 * address and port. CoapDtlsSocket uses no more of a DtlsServer than this.
 */
class SessionLink extends EventEmitter {
  readonly #dtls: DtlsServer;

  constructor(dtls: DtlsServer) {
    super();
    this.#dtls = dtls;
  }

  send(address: string, port: number, data: Uint8Array): void {
    this.#dtls.send(address, port, data);
  }

  address(): { address: string; port: number; family: string } {
    return this.#dtls.address();
  }
}

/**
 * CoAP state belongs to the DTLS session. node-coap keys everything it remembers by address:port —
 * answers replayed to retransmissions (for EXCHANGE_LIFETIME, 247 s), Block1/Block2 transfers, the
 * retransmissions of confirmable notifications — and never hears that a session ended, so a new
 * session from the same address and port (a rebooted sensor, or another sensor behind the same NAT
 * binding) would get the old session's answers without being authorized, and its notifications.
 * node-coap offers no hook to scope that state, so each session gets its own node-coap server, over
 * a socket that is closed when the session ends: the server's state goes with it (closing clears its
 * answer cache, which stops the retransmission timers, and its block caches), and whatever it still
 * tries to send afterwards is dropped instead of reaching the next session at that address.
 *
 * A session is superseded when another is established at its address and port (the DTLS server keeps
 * one per address and port); its 'sessionEnd' may come before or after that.
 */
export class CoapSessions {
  readonly #dtls: DtlsServer;
  readonly #options: CoapSessionsOptions;
  /** The current session at each "address:port". */
  readonly #byAddress = new Map<string, CoapSession>();
  #serial = 0;
  #closed = false;
  /** Datagrams for an address with no CoAP session (the DTLS session ended meanwhile). */
  orphanDatagrams = 0;
  /** Error answers node-coap made itself (guardErrorAnswers), by code. */
  readonly errorAnswers: Record<string, number> = {};

  /** Subscribes to `dtls`: call before it listens, so that no session is missed. */
  constructor(dtls: DtlsServer, options: CoapSessionsOptions) {
    this.#dtls = dtls;
    this.#options = options;
    dtls.on('session', (peer) => this.#open(peer));
    dtls.on('message', (plaintext, peer) => this.#deliver(plaintext, peer));
    dtls.on('sessionEnd', (peer) => this.#ended(peer));
  }

  /** CoAP sessions open now. */
  get size(): number {
    return this.#byAddress.size;
  }

  /** Each session's node-coap server (for the answer cache's status). */
  servers(): CoapServer[] {
    return [...this.#byAddress.values()].map((session) => session.server);
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
    const id = `${key}/${++this.#serial}`;
    const server = coap.createServer();
    guardErrorAnswers(server, (code, text) => {
      this.errorAnswers[code] = (this.errorAnswers[code] ?? 0) + 1;
      this.#options.errorAnswered?.(id, code, text);
    });
    this.#options.serve(server, id);
    const link = new SessionLink(this.#dtls);
    // CoapDtlsSocket is typed for a DtlsServer; a SessionLink has what it uses (see SessionLink).
    const socket = new CoapDtlsSocket(link as unknown as DtlsServer);
    server.listen(socket as never);
    this.#byAddress.set(key, { id, server, socket, link, peer });
  }

  #deliver(plaintext: Buffer, peer: DtlsPeer): void {
    const session = this.#byAddress.get(addressKey(peer));
    if (!session) {
      this.orphanDatagrams++;
      return;
    }
    // Datagrams come from the current session at this address: its latest DtlsPeer is this one.
    session.peer = peer;
    this.#options.answers.trim(session.server);
    session.link.emit('message', plaintext, peer);
  }

  #ended(peer: DtlsPeer): void {
    const session = this.#byAddress.get(addressKey(peer));
    // Another object: this session was superseded (and closed) when the newer one was established.
    if (session?.peer === peer) this.#close(session);
  }

  #close(session: CoapSession): void {
    const key = session.id.slice(0, session.id.lastIndexOf('/'));
    if (this.#byAddress.get(key) === session) this.#byAddress.delete(key);
    // First the socket (whatever node-coap sends from now on is dropped), then the server's state.
    session.socket.close();
    session.server.close();
    this.#options.ended?.(session.id);
  }
}

function addressKey(peer: { address: string; port: number }): string {
  return `${peer.address}:${peer.port}`;
}
