import type { Prng } from './prng.js';

/**
 * Input family 1: DTLS 1.2 records and handshake messages (RFC 6347 §4.1, §4.2.2) from fresh UDP
 * sources. Starts from real client datagrams (flight-capture.ts) parsed into records and handshake
 * fragments, changes their fields where a parser can go wrong — content type, version, epoch,
 * sequence number, record and handshake lengths, message_seq, fragment offset and length, the
 * ClientHello's cookie, session id, suites and extensions — re-fragments, truncates, concatenates
 * records of other datagrams, and writes the result back, lying about lengths when told to.
 */

const RECORD_HEADER = 13;
const HANDSHAKE_HEADER = 12;
const CONTENT = { CCS: 20, ALERT: 21, HANDSHAKE: 22, APPLICATION_DATA: 23 } as const;
const CLIENT_HELLO = 1;

interface DtlsRecord {
  type: number;
  version: number;
  epoch: number;
  seq: number;
  body: Buffer;
  /** Written instead of body.length. */
  lengthLie?: number;
}

interface HandshakeFragment {
  msgType: number;
  length: number;
  msgSeq: number;
  fragOffset: number;
  fragLength: number;
  body: Buffer;
}

export interface DtlsInput {
  /** Datagrams to send, in order, from one source. */
  datagrams: Buffer[];
  /**
   * Do the cookie exchange first (ClientHello → HelloVerifyRequest → ClientHello with that cookie),
   * so the datagrams reach a server that holds handshake state for this source.
   */
  withCookie: boolean;
  what: string;
}

export class DtlsMutator {
  readonly #seeds: Buffer[];
  readonly #clientHellos: Buffer[];

  constructor(clientDatagrams: Buffer[]) {
    this.#seeds = clientDatagrams.filter((datagram) => parseRecords(datagram).length > 0);
    this.#clientHellos = this.#seeds.filter((datagram) => {
      const first = parseRecords(datagram)[0];
      return first?.type === CONTENT.HANDSHAKE && first.body[0] === CLIENT_HELLO;
    });
    if (this.#clientHellos.length === 0) throw new Error('DtlsMutator: no ClientHello among the seeds');
  }

  /** The first ClientHello of a capture: what a cookie exchange starts with. */
  clientHello(prng: Prng): Buffer {
    const hello = parseRecords(prng.pick(this.#clientHellos))[0] as DtlsRecord;
    const fragment = parseHandshake(hello.body) as HandshakeFragment;
    const fields = parseClientHello(fragment.body);
    if (fields) fields.cookie = Buffer.alloc(0);
    const body = fields ? writeClientHello(fields) : fragment.body;
    return writeRecords([
      {
        ...hello,
        seq: 0,
        body: writeHandshake({
          ...fragment,
          msgSeq: 0,
          length: body.length,
          fragOffset: 0,
          fragLength: body.length,
          body,
        }),
      },
    ]);
  }

  /** A ClientHello carrying `cookie` (message_seq 1), as the second of a cookie exchange. */
  clientHelloWithCookie(prng: Prng, cookie: Buffer): DtlsRecord[] {
    const hello = parseRecords(prng.pick(this.#clientHellos))[0] as DtlsRecord;
    const fragment = parseHandshake(hello.body) as HandshakeFragment;
    const fields = parseClientHello(fragment.body);
    if (fields) fields.cookie = cookie;
    const body = fields ? writeClientHello(fields) : fragment.body;
    return [
      {
        ...hello,
        seq: 1,
        body: writeHandshake({
          ...fragment,
          msgSeq: 1,
          length: body.length,
          fragOffset: 0,
          fragLength: body.length,
          body,
        }),
      },
    ];
  }

  next(prng: Prng, cookie?: Buffer): DtlsInput {
    if (prng.chance(0.03)) {
      const length = prng.weighted<number>([
        [prng.below(RECORD_HEADER + 1), 3],
        [prng.below(1500), 5],
        [prng.range(1500, 9000), 1],
      ]);
      return { datagrams: [prng.bytes(length)], withCookie: false, what: `random ${length} bytes` };
    }
    const withCookie = cookie !== undefined;
    let records =
      withCookie && prng.chance(0.5)
        ? this.clientHelloWithCookie(prng, cookie)
        : parseRecords(prng.pick(withCookie ? this.#seeds : this.#seeds));
    const steps: string[] = [];
    const count = prng.weighted([
      [1, 5],
      [2, 3],
      [3, 2],
      [6, 1],
    ]);
    let truncateAt: number | undefined;
    for (let i = 0; i < count; i++) {
      const step = prng.weighted<string>([
        ['type', 2],
        ['version', 2],
        ['epoch', 3],
        ['seq', 3],
        ['recordLength', 3],
        ['handshakeHeader', 6],
        ['refragment', 3],
        ['clientHello', 6],
        ['concatenate', 2],
        ['duplicate', 1],
        ['flip', 3],
        ['truncate', 2],
        ['drop', 1],
      ]);
      const record = prng.pick(records);
      if (!record) break;
      steps.push(step);
      switch (step) {
        case 'type':
          record.type = prng.weighted<number>([
            [CONTENT.CCS, 2],
            [CONTENT.ALERT, 2],
            [CONTENT.HANDSHAKE, 2],
            [CONTENT.APPLICATION_DATA, 2],
            [24, 1],
            [25, 0.3],
            [0, 1],
            [prng.below(256), 1],
          ]);
          break;
        case 'version':
          record.version = prng.pick([
            0xfefd,
            0xfeff,
            0xfefc,
            0x0303,
            0x0301,
            0x0000,
            0xffff,
            prng.below(0x10000),
          ]);
          break;
        case 'epoch':
          record.epoch = prng.pick([0, 1, 2, 0xffff, prng.edgy(16)]);
          break;
        case 'seq':
          record.seq = prng.pick([
            0,
            1,
            2 ** 48 - 1,
            2 ** 47,
            2 ** 32,
            prng.below(2 ** 48),
            record.seq + 1,
            Math.max(0, record.seq - 1),
          ]);
          break;
        case 'recordLength':
          record.lengthLie = prng.pick([
            0,
            1,
            record.body.length - 1,
            record.body.length + 1,
            0xffff,
            0x4000,
            0x4001,
            prng.below(0x10000),
          ]);
          break;
        case 'handshakeHeader':
          mutateHandshakeHeader(prng, record);
          break;
        case 'refragment':
          records = refragment(prng, records, record);
          break;
        case 'clientHello':
          mutateClientHello(prng, record);
          break;
        case 'concatenate':
          records = [...records, ...parseRecords(prng.pick(this.#seeds))];
          break;
        case 'duplicate':
          records = [...records, { ...record, body: Buffer.from(record.body) }];
          break;
        case 'flip':
          flipBytes(prng, record.body);
          break;
        case 'truncate':
          truncateAt = prng.below(writeRecords(records).length);
          break;
        case 'drop':
          records = records.filter((other) => other !== record);
          break;
      }
    }
    let datagram = writeRecords(records);
    if (truncateAt !== undefined) datagram = datagram.subarray(0, truncateAt);
    // Several datagrams now and then: a flight whose records arrive one by one.
    const datagrams = prng.chance(0.1) ? records.map((record) => writeRecords([record])) : [datagram];
    return { datagrams, withCookie, what: steps.join(',') || 'seed' };
  }
}

export function parseRecords(datagram: Buffer): DtlsRecord[] {
  const records: DtlsRecord[] = [];
  let offset = 0;
  while (offset + RECORD_HEADER <= datagram.length) {
    const length = datagram.readUInt16BE(offset + 11);
    if (offset + RECORD_HEADER + length > datagram.length) break;
    records.push({
      type: datagram[offset] as number,
      version: datagram.readUInt16BE(offset + 1),
      epoch: datagram.readUInt16BE(offset + 3),
      seq: datagram.readUIntBE(offset + 5, 6),
      body: Buffer.from(datagram.subarray(offset + RECORD_HEADER, offset + RECORD_HEADER + length)),
    });
    offset += RECORD_HEADER + length;
  }
  return records;
}

export function writeRecords(records: DtlsRecord[]): Buffer {
  return Buffer.concat(
    records.flatMap((record) => {
      const header = Buffer.alloc(RECORD_HEADER);
      header[0] = record.type & 0xff;
      header.writeUInt16BE(record.version & 0xffff, 1);
      header.writeUInt16BE(record.epoch & 0xffff, 3);
      header.writeUIntBE(Math.min(record.seq, 2 ** 48 - 1), 5, 6);
      header.writeUInt16BE((record.lengthLie ?? record.body.length) & 0xffff, 11);
      return [header, record.body];
    }),
  );
}

/** The HelloVerifyRequest's cookie in a server datagram (RFC 6347 §4.2.1), if it is one. */
export function cookieOfHelloVerify(datagram: Buffer): Buffer | undefined {
  for (const record of parseRecords(datagram)) {
    if (record.type !== CONTENT.HANDSHAKE || record.epoch !== 0) continue;
    const fragment = parseHandshake(record.body);
    if (fragment?.msgType !== 3 || fragment.body.length < 3) continue;
    const length = fragment.body[2] as number;
    return Buffer.from(fragment.body.subarray(3, 3 + length));
  }
  return undefined;
}

function parseHandshake(body: Buffer): HandshakeFragment | undefined {
  if (body.length < HANDSHAKE_HEADER) return undefined;
  const fragLength = body.readUIntBE(9, 3);
  return {
    msgType: body[0] as number,
    length: body.readUIntBE(1, 3),
    msgSeq: body.readUInt16BE(4),
    fragOffset: body.readUIntBE(6, 3),
    fragLength,
    body: Buffer.from(body.subarray(HANDSHAKE_HEADER, HANDSHAKE_HEADER + fragLength)),
  };
}

function writeHandshake(fragment: HandshakeFragment): Buffer {
  const header = Buffer.alloc(HANDSHAKE_HEADER);
  header[0] = fragment.msgType & 0xff;
  header.writeUIntBE(fragment.length & 0xffffff, 1, 3);
  header.writeUInt16BE(fragment.msgSeq & 0xffff, 4);
  header.writeUIntBE(fragment.fragOffset & 0xffffff, 6, 3);
  header.writeUIntBE(fragment.fragLength & 0xffffff, 9, 3);
  return Buffer.concat([header, fragment.body]);
}

function mutateHandshakeHeader(prng: Prng, record: DtlsRecord): void {
  const fragment = parseHandshake(record.body);
  if (!fragment) {
    flipBytes(prng, record.body);
    return;
  }
  const field = prng.pick(['msgType', 'length', 'msgSeq', 'fragOffset', 'fragLength'] as const);
  switch (field) {
    case 'msgType':
      fragment.msgType = prng.pick([0, 1, 2, 3, 4, 11, 12, 13, 14, 15, 16, 20, 24, prng.below(256)]);
      break;
    case 'length':
      fragment.length = prng.pick([
        0,
        fragment.length - 1,
        fragment.length + 1,
        0xffffff,
        0x10000,
        prng.edgy(24),
      ]);
      break;
    case 'msgSeq':
      fragment.msgSeq = prng.pick([0, 1, 2, 5, 0xffff, prng.below(0x10000)]);
      break;
    case 'fragOffset':
      fragment.fragOffset = prng.pick([0, 1, fragment.length, fragment.length - 1, 0xffffff, prng.edgy(24)]);
      break;
    case 'fragLength':
      // The header says one length and the body has another.
      fragment.fragLength = prng.pick([
        0,
        fragment.fragLength + 1,
        fragment.fragLength - 1,
        0xffffff,
        prng.edgy(24),
      ]);
      record.body = Buffer.concat([writeHandshake({ ...fragment, body: Buffer.alloc(0) }), fragment.body]);
      return;
  }
  record.body = writeHandshake(fragment);
}

/** Splits a handshake message into fragments: in order, shuffled, overlapping or with a gap. */
function refragment(prng: Prng, records: DtlsRecord[], record: DtlsRecord): DtlsRecord[] {
  const fragment = parseHandshake(record.body);
  if (record.type !== CONTENT.HANDSHAKE || !fragment || fragment.body.length < 2) return records;
  const pieces: DtlsRecord[] = [];
  const whole = fragment.body;
  let offset = 0;
  let seq = record.seq;
  while (offset < whole.length) {
    const size = Math.max(1, prng.below(Math.max(2, whole.length / 2)));
    const start = prng.chance(0.15) ? Math.max(0, offset - prng.below(8)) : offset; // overlap
    const end = Math.min(whole.length, start + size);
    if (!prng.chance(0.05)) {
      // (a 5 % gap)
      pieces.push({
        ...record,
        seq: seq++,
        body: writeHandshake({
          ...fragment,
          fragOffset: start + fragment.fragOffset,
          fragLength: end - start,
          body: whole.subarray(start, end),
        }),
      });
    }
    offset = Math.max(end, offset + 1); // an overlap must not keep it from moving on
  }
  if (prng.chance(0.3)) pieces.reverse();
  const at = records.indexOf(record);
  return [...records.slice(0, at), ...pieces, ...records.slice(at + 1)];
}

interface ClientHelloFields {
  version: number;
  random: Buffer;
  sessionId: Buffer;
  cookie: Buffer;
  suites: Buffer;
  compression: Buffer;
  extensions: Buffer | undefined;
  /** Length prefixes written instead of the real ones. */
  lies?: Partial<Record<'sessionId' | 'cookie' | 'suites' | 'compression' | 'extensions', number>>;
}

function parseClientHello(body: Buffer): ClientHelloFields | undefined {
  try {
    let offset = 0;
    const version = body.readUInt16BE(offset);
    offset += 2;
    const random = body.subarray(offset, offset + 32);
    offset += 32;
    const take = (lengthBytes: number) => {
      const length = body.readUIntBE(offset, lengthBytes);
      offset += lengthBytes;
      const value = body.subarray(offset, offset + length);
      if (value.length !== length) throw new RangeError('short');
      offset += length;
      return Buffer.from(value);
    };
    const sessionId = take(1);
    const cookie = take(1);
    const suites = take(2);
    const compression = take(1);
    const extensions = offset < body.length ? take(2) : undefined;
    return { version, random: Buffer.from(random), sessionId, cookie, suites, compression, extensions };
  } catch {
    return undefined;
  }
}

function writeClientHello(fields: ClientHelloFields): Buffer {
  const prefixed = (value: Buffer, lengthBytes: number, lie?: number) => {
    const length = Buffer.alloc(lengthBytes);
    length.writeUIntBE((lie ?? value.length) % 2 ** (8 * lengthBytes), 0, lengthBytes);
    return Buffer.concat([length, value]);
  };
  const version = Buffer.alloc(2);
  version.writeUInt16BE(fields.version & 0xffff);
  return Buffer.concat([
    version,
    fields.random,
    prefixed(fields.sessionId, 1, fields.lies?.sessionId),
    prefixed(fields.cookie, 1, fields.lies?.cookie),
    prefixed(fields.suites, 2, fields.lies?.suites),
    prefixed(fields.compression, 1, fields.lies?.compression),
    ...(fields.extensions ? [prefixed(fields.extensions, 2, fields.lies?.extensions)] : []),
  ]);
}

function mutateClientHello(prng: Prng, record: DtlsRecord): void {
  const fragment = parseHandshake(record.body);
  const fields = fragment && fragment.msgType === CLIENT_HELLO ? parseClientHello(fragment.body) : undefined;
  if (!fragment || !fields) {
    flipBytes(prng, record.body);
    return;
  }
  const field = prng.pick([
    'version',
    'sessionId',
    'cookie',
    'suites',
    'compression',
    'extensions',
    'lie',
  ] as const);
  switch (field) {
    case 'version':
      fields.version = prng.pick([0xfefd, 0xfeff, 0xfefc, 0x0303, 0xfe00, prng.below(0x10000)]);
      break;
    case 'sessionId':
      fields.sessionId = prng.bytes(prng.pick([0, 1, 32, 33, prng.below(256)]));
      break;
    case 'cookie':
      fields.cookie =
        prng.chance(0.5) && fields.cookie.length > 0
          ? flipBytes(prng, Buffer.from(fields.cookie))
          : prng.bytes(prng.pick([0, 1, 16, 20, 32, 255, prng.below(256)]));
      break;
    case 'suites':
      fields.suites = prng.pick([
        Buffer.alloc(0),
        Buffer.from([0xc0]),
        Buffer.from([0x00, 0xff]),
        Buffer.from([0xc0, 0xae]),
        prng.bytes(prng.below(600) & ~1),
      ]);
      break;
    case 'compression':
      fields.compression = prng.pick([
        Buffer.alloc(0),
        Buffer.from([1]),
        Buffer.from([0, 1]),
        prng.bytes(prng.below(256)),
      ]);
      break;
    case 'extensions':
      fields.extensions = mutateExtensions(prng, fields.extensions);
      break;
    case 'lie': {
      const which = prng.pick(['sessionId', 'cookie', 'suites', 'compression', 'extensions'] as const);
      fields.lies = { [which]: prng.edgy(which === 'suites' || which === 'extensions' ? 16 : 8) };
      break;
    }
  }
  const body = writeClientHello(fields);
  const keepLength = prng.chance(0.8);
  record.body = writeHandshake({
    ...fragment,
    length: keepLength ? body.length : fragment.length,
    fragOffset: 0,
    fragLength: keepLength ? body.length : fragment.fragLength,
    body,
  });
}

/** Drops, duplicates, empties or lengthens one extension, or adds an unknown one. */
function mutateExtensions(prng: Prng, extensions: Buffer | undefined): Buffer | undefined {
  if (!extensions || prng.chance(0.1)) return prng.chance(0.5) ? undefined : prng.bytes(prng.below(64));
  const list: Buffer[] = [];
  let offset = 0;
  while (offset + 4 <= extensions.length) {
    const length = extensions.readUInt16BE(offset + 2);
    list.push(extensions.subarray(offset, offset + 4 + length));
    offset += 4 + length;
  }
  const index = prng.below(list.length);
  const chosen = list[index];
  switch (prng.below(5)) {
    case 0:
      list.splice(index, 1);
      break;
    case 1:
      if (chosen) list.push(chosen);
      break;
    case 2:
      if (chosen) {
        const lying = Buffer.from(chosen);
        if (lying.length >= 4) lying.writeUInt16BE(prng.edgy(16), 2);
        list[index] = lying;
      }
      break;
    case 3: {
      const unknown = Buffer.alloc(4);
      unknown.writeUInt16BE(prng.edgy(16), 0);
      const data = prng.bytes(prng.below(300));
      unknown.writeUInt16BE(data.length, 2);
      list.splice(prng.below(list.length + 1), 0, Buffer.concat([unknown, data]));
      break;
    }
    default:
      if (chosen && chosen.length > 4) list[index] = flipBytes(prng, Buffer.from(chosen), 4);
  }
  return Buffer.concat(list);
}

function flipBytes(prng: Prng, bytes: Buffer, from = 0): Buffer {
  if (bytes.length <= from) return bytes;
  const flips = prng.range(1, 4);
  for (let i = 0; i < flips; i++) {
    const at = prng.range(from, bytes.length - 1);
    bytes[at] = prng.chance(0.5) ? (bytes[at] as number) ^ (1 << prng.below(8)) : prng.below(256);
  }
  return bytes;
}
