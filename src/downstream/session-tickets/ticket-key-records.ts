import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import type { Store } from '../../store/index.js';
import type { TicketKey } from '../../tls/index.js';

interface Row {
  name: Buffer;
  created_at: number;
  wrapped_by: string;
  wrapped: Buffer;
}

/** What loading found: the keys the wrapping key opened, and how many rows it could not. */
export interface LoadedTicketKeys {
  keys: TicketKey[];
  unreadable: number;
}

/**
 * The ticket keys in the state database (table dtls_ticket_keys), wrapped: each row holds
 * IV | AES-256-GCM(hmac key | aes key) | tag under the wrapping key, with the key's name and creation
 * time as additional data (a row cannot be moved onto another name). Without the wrapping key a row
 * is 92 bytes of noise.
 */
export class TicketKeyRecords {
  readonly #store: Store;
  readonly #wrappingKey: Buffer;
  readonly #wrappedBy: string;

  constructor(store: Store, wrappingKey: Buffer, wrappedBy: string) {
    this.#store = store;
    this.#wrappingKey = wrappingKey;
    this.#wrappedBy = wrappedBy;
  }

  load(): LoadedTicketKeys {
    const rows = this.#store
      .prepare<[], Row>('SELECT name, created_at, wrapped_by, wrapped FROM dtls_ticket_keys')
      .all();
    const keys: TicketKey[] = [];
    let unreadable = 0;
    for (const row of rows) {
      const key = this.#unwrap(row);
      if (key) keys.push(key);
      else unreadable++;
    }
    return { keys, unreadable };
  }

  /** Replaces what is stored by `keys` (one transaction: never a ring half written). */
  save(keys: readonly TicketKey[]): void {
    const remove = this.#store.prepare('DELETE FROM dtls_ticket_keys');
    const insert = this.#store.prepare<[Buffer, number, string, Buffer]>(
      'INSERT INTO dtls_ticket_keys (name, created_at, wrapped_by, wrapped) VALUES (?, ?, ?, ?)',
    );
    this.#store.transaction(() => {
      remove.run();
      for (const key of keys) insert.run(key.name, key.createdAt, this.#wrappedBy, this.#wrap(key));
    });
  }

  #wrap(key: TicketKey): Buffer {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#wrappingKey, iv);
    cipher.setAAD(additionalData(key.name, key.createdAt));
    const secret = Buffer.concat([key.hmacKey, key.aesKey]);
    const sealed = Buffer.concat([iv, cipher.update(secret), cipher.final(), cipher.getAuthTag()]);
    secret.fill(0);
    return sealed;
  }

  #unwrap(row: Row): TicketKey | undefined {
    if (row.wrapped_by !== this.#wrappedBy || row.wrapped.length !== 12 + 64 + 16) return undefined;
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#wrappingKey, row.wrapped.subarray(0, 12));
      decipher.setAAD(additionalData(row.name, row.created_at));
      decipher.setAuthTag(row.wrapped.subarray(12 + 64));
      const secret = Buffer.concat([decipher.update(row.wrapped.subarray(12, 12 + 64)), decipher.final()]);
      return {
        name: Buffer.from(row.name),
        hmacKey: secret.subarray(0, 32),
        aesKey: secret.subarray(32),
        createdAt: row.created_at,
      };
    } catch {
      return undefined; // another wrapping key (another machine, a new credential), or tampered with
    }
  }
}

function additionalData(name: Buffer, createdAt: number): Buffer {
  const time = Buffer.alloc(8);
  time.writeBigInt64BE(BigInt(createdAt));
  return Buffer.concat([name, time]);
}
