import dgram from 'node:dgram';
import { cookieOfHelloVerify, type DtlsInput, type DtlsMutator } from './dtls-mutator.js';
import type { Prng } from './prng.js';

/** Inputs one source sends before it is replaced by a new socket (a new port: a fresh source). */
const INPUTS_PER_SOURCE = 16;
/** Source addresses on the loopback network (Linux answers for all of 127/8). */
const ADDRESSES = ['127.0.0.1', '127.0.0.2', '127.0.0.3', '127.0.0.4'];
const HELLO_VERIFY_WAIT_MS = 500;

interface Source {
  socket: dgram.Socket;
  used: number;
  /** Waiting for a HelloVerifyRequest. */
  onDatagram: ((datagram: Buffer) => void) | undefined;
}

/**
 * Where DTLS-family inputs come from: a small pool of UDP sockets on loopback addresses, each used
 * for a few inputs and then replaced, so the server sees ever new sources. The server's answers are
 * read only during a cookie exchange and dropped otherwise.
 */
export class UdpSources {
  readonly #sources: (Source | undefined)[] = [];
  /** One input at a time per source: a socket is never replaced under a send in flight. */
  readonly #turns: Promise<unknown>[];
  #cookieExchanges = 0;
  #cookiesReceived = 0;

  constructor(size: number) {
    this.#sources = Array(size).fill(undefined);
    this.#turns = Array(size).fill(Promise.resolve());
  }

  get cookieExchanges(): { tried: number; cookies: number } {
    return { tried: this.#cookieExchanges, cookies: this.#cookiesReceived };
  }

  /** Sends one input from the next source (after a cookie exchange, when the input asks for one). */
  send(
    prng: Prng,
    mutator: DtlsMutator,
    port: number,
    input: (cookie?: Buffer) => DtlsInput,
  ): Promise<DtlsInput> {
    const slot = prng.below(this.#sources.length);
    const turn = (this.#turns[slot] as Promise<unknown>).then(() =>
      this.#sendFrom(slot, prng, mutator, port, input),
    );
    this.#turns[slot] = turn.catch(() => undefined);
    return turn;
  }

  async #sendFrom(
    slot: number,
    prng: Prng,
    mutator: DtlsMutator,
    port: number,
    input: (cookie?: Buffer) => DtlsInput,
  ): Promise<DtlsInput> {
    const source = await this.#source(slot, prng);
    let cookie: Buffer | undefined;
    if (prng.chance(0.1)) {
      this.#cookieExchanges++;
      cookie = await this.#cookieExchange(source, mutator.clientHello(prng), port);
      if (cookie) this.#cookiesReceived++;
    }
    const chosen = input(cookie);
    for (const datagram of chosen.datagrams) await sendTo(source.socket, datagram, port);
    return chosen;
  }

  close(): void {
    for (const source of this.#sources) source?.socket.close();
    this.#sources.fill(undefined);
  }

  async #source(slot: number, prng: Prng): Promise<Source> {
    let source = this.#sources[slot];
    if (source && source.used < INPUTS_PER_SOURCE) {
      source.used++;
      return source;
    }
    source?.socket.close();
    const socket = dgram.createSocket('udp4');
    const fresh: Source = { socket, used: 1, onDatagram: undefined };
    socket.on('message', (datagram) => fresh.onDatagram?.(datagram));
    socket.on('error', () => {}); // ICMP unreachable while the daemon restarts
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(0, prng.pick(ADDRESSES), () => {
        socket.off('error', reject);
        resolve();
      });
    });
    this.#sources[slot] = fresh;
    source = fresh;
    return source;
  }

  #cookieExchange(source: Source, clientHello: Buffer, port: number): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => done(undefined), HELLO_VERIFY_WAIT_MS);
      const done = (cookie: Buffer | undefined) => {
        clearTimeout(timer);
        source.onDatagram = undefined;
        resolve(cookie);
      };
      source.onDatagram = (datagram) => {
        const cookie = cookieOfHelloVerify(datagram);
        if (cookie) done(cookie);
      };
      source.socket.send(clientHello, port, '127.0.0.1', (error) => {
        if (error) done(undefined);
      });
    });
  }
}

function sendTo(socket: dgram.Socket, datagram: Buffer, port: number): Promise<void> {
  // A send error (EMSGSIZE, ECONNREFUSED during a restart) is the input's fate, not the fuzzer's.
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 1000); // a ceiling: a closed socket never calls back
    socket.send(datagram, port, '127.0.0.1', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}
