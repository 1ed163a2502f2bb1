/** How deeply arrays, maps and tags may nest in telemetry (the checker recurses once per level). */
export const DEFAULT_CBOR_MAX_DEPTH = 32;

/** Thrown inside the checker only: where and why the input stops being well-formed. */
class IllFormed extends Error {
  constructor(
    readonly offset: number,
    reason: string,
  ) {
    super(reason);
  }
}

/** What an item head said: major type, additional information and the argument (count or length). */
interface Head {
  major: number;
  info: number;
  argument: bigint;
}

/** A data item's major type, or one of these for what ends or opens an indefinite-length item. */
const BREAK = -1;
const INDEFINITE = 99;

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Why `bytes` is not exactly one well-formed CBOR data item (RFC 8949 §5.3.1, decoded as Appendix C
 * does), or undefined when it is: a sensor's Content-Format 60 body must be CBOR before it goes
 * upstream, and checking costs one pass without building the value. Strict where a lenient decoder
 * would guess: reserved additional information 28–30, indefinite length on major types 0/1/6, a break
 * outside an indefinite-length item or in a value position, string chunks of the wrong type or of
 * indefinite length, two-byte simple values below 32, and trailing bytes after the item (a CBOR
 * sequence is Content-Format 63, not 60) are all refused. Text strings must also be UTF-8 — strictly
 * a validity rule, but every consumer upstream decodes them. Nesting deeper than `maxDepth` is
 * refused, and a count larger than the bytes left is refused before any loop runs.
 */
export function cborProblem(bytes: Uint8Array, maxDepth = DEFAULT_CBOR_MAX_DEPTH): string | undefined {
  if (bytes.length === 0) return 'empty: no CBOR data item';
  const reader = new CborChecker(bytes, maxDepth);
  try {
    reader.item(0, false);
    if (reader.offset !== bytes.length) {
      return `${bytes.length - reader.offset} byte(s) after the data item (offset ${reader.offset})`;
    }
    return undefined;
  } catch (error) {
    if (!(error instanceof IllFormed)) throw error;
    return `${error.message} (offset ${error.offset})`;
  }
}

class CborChecker {
  offset = 0;
  readonly #bytes: Uint8Array;
  readonly #maxDepth: number;

  constructor(bytes: Uint8Array, maxDepth: number) {
    this.#bytes = bytes;
    this.#maxDepth = maxDepth;
  }

  /** One data item; answers its major type, BREAK for a break (only when `breakable`) or INDEFINITE. */
  item(depth: number, breakable: boolean): number {
    const start = this.offset;
    const head = this.#head();
    if (head.info === 31) return this.#indefinite(head.major, start, depth, breakable);
    switch (head.major) {
      case 2:
      case 3: {
        const length = this.#fits(head.argument, start, 'string');
        const content = this.#bytes.subarray(this.offset, this.offset + length);
        this.offset += length;
        if (head.major === 3 && !isUtf8(content)) throw new IllFormed(start, 'text string is not UTF-8');
        break;
      }
      case 4:
      case 5: {
        this.#nest(depth, start);
        // Every item takes at least one byte: a count beyond what is left is truncated input.
        const count = this.#fits(head.argument * (head.major === 5 ? 2n : 1n), start, 'array or map');
        for (let i = 0; i < count; i++) this.item(depth + 1, false);
        break;
      }
      case 6:
        this.#nest(depth, start);
        this.item(depth + 1, false);
        break;
      case 7:
        if (head.info === 24 && head.argument < 32n) {
          throw new IllFormed(start, `simple value ${head.argument} must be encoded in one byte`);
        }
        break;
    }
    return head.major;
  }

  #indefinite(major: number, start: number, depth: number, breakable: boolean): number {
    switch (major) {
      case 2:
      case 3:
        for (let chunk = this.item(depth, true); chunk !== BREAK; chunk = this.item(depth, true)) {
          if (chunk !== major) {
            throw new IllFormed(
              start,
              'an indefinite-length string may only hold definite-length chunks of its own type',
            );
          }
        }
        return INDEFINITE;
      case 4:
        this.#nest(depth, start);
        while (this.item(depth + 1, true) !== BREAK) {}
        return INDEFINITE;
      case 5:
        this.#nest(depth, start);
        while (this.item(depth + 1, true) !== BREAK) {
          const at = this.offset;
          if (this.item(depth + 1, true) === BREAK) {
            throw new IllFormed(at, 'break where a map value belongs');
          }
        }
        return INDEFINITE;
      case 7:
        if (breakable) return BREAK;
        throw new IllFormed(start, 'break outside an indefinite-length item');
      default:
        throw new IllFormed(start, `major type ${major} cannot have an indefinite length`);
    }
  }

  #head(): Head {
    const start = this.offset;
    const initial = this.#take(1, start)[0] as number;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (info < 24 || info === 31) return { major, info, argument: BigInt(info) };
    if (info > 27) throw new IllFormed(start, `reserved additional information ${info}`);
    const size = 1 << (info - 24);
    let argument = 0n;
    for (const byte of this.#take(size, start)) argument = (argument << 8n) | BigInt(byte);
    return { major, info, argument };
  }

  #take(length: number, start: number): Uint8Array {
    if (this.offset + length > this.#bytes.length) throw new IllFormed(start, 'truncated');
    const bytes = this.#bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return bytes;
  }

  /** A length or count as a number, when the bytes left can hold that many (else: truncated). */
  #fits(needed: bigint, start: number, what: string): number {
    if (needed > BigInt(this.#bytes.length - this.offset)) {
      throw new IllFormed(start, `truncated: the ${what} announces more than the bytes left`);
    }
    return Number(needed);
  }

  #nest(depth: number, start: number): void {
    if (depth >= this.#maxDepth) throw new IllFormed(start, `nested deeper than ${this.#maxDepth} levels`);
  }
}

function isUtf8(bytes: Uint8Array): boolean {
  try {
    utf8.decode(bytes);
    return true;
  } catch {
    return false;
  }
}
