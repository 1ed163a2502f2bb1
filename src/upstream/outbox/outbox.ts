import type { Store } from '../../store/index.js';
import { OutboxError } from './outbox-error.js';
import type {
  OutboxAccepted,
  OutboxMessage,
  OutboxRefusal,
  OutboxRow,
  OutboxSettings,
  OutboxStats,
} from './outbox-types.js';
import { SensorShares } from './sensor-shares.js';
import { storedProperties } from './stored-properties.js';

interface Waiting {
  message: OutboxMessage;
  payload: Buffer;
  properties: string;
  bytes: number;
  createdAt: number;
  resolve(answer: OutboxAccepted): void;
  reject(error: Error): void;
}

/** A row the counts know about: its bytes and whose it is. */
interface Counted {
  bytes: number;
  sensorId: string;
}

/** What one group commit did. */
interface WriteOutcome {
  /** The new rows' ids, in the order of the batch. */
  ids: number[];
  /** Rows deleted after PUBACK. */
  removed: number;
  /** Of those, the rows and bytes not yet taken off the counts by remove() (never peeked). */
  uncountedRows: number;
  uncountedBytes: number;
  dropped: number;
  droppedBytes: number;
  /** Of those, rows dropped by a sensor over its share (its own oldest). */
  droppedOverShare: number;
}

interface StoredRow {
  id: number;
  sensor_id: string;
  topic: string;
  payload: Buffer;
  content_format: number;
  properties: string;
  bytes: number;
  created_at: number;
}

/**
 * Removals alone are committed this much later at most (they ride along with the next message
 * commit otherwise): while the broker drains a backlog, fsyncs for bookkeeping would steal the time
 * publishing needs, and a removal lost to a crash costs only a duplicate.
 */
const REMOVAL_COMMIT_MS = 200;
/** …or once this many wait. */
const REMOVAL_BATCH = 4096;

/** How far back the drain rate behind a refusal's retryAfterSeconds looks. */
const DRAIN_WINDOW_MS = 10_000;

/**
 * Committed rows kept in memory for peek() at most (while the broker is away they pile up): beyond
 * this they are forgotten and read back from the table when their turn comes.
 */
const FRESH_MAX = 8192;

/**
 * Rows per INSERT statement at most: one statement of many rows costs about half the CPU per row of
 * one statement per row (2.6 against 3.5–5.5 µs measured, better-sqlite3). Rows of one statement get
 * consecutive ids in VALUES order (AUTOINCREMENT: each new row takes the largest id ever + 1).
 */
const INSERT_ROWS = 64;
/** INSERT_STATEMENTS[n]: the INSERT of n rows (kept, so the Store's statement cache sees the same strings). */
const INSERT_STATEMENTS = Array.from(
  { length: INSERT_ROWS + 1 },
  (_, rows) =>
    `INSERT INTO upstream_outbox (sensor_id, topic, payload, content_format, properties, bytes, created_at) VALUES ${Array.from({ length: rows }, () => '(?, ?, ?, ?, ?, ?, ?)').join(', ')}`,
);
const DELETE_ONE = 'DELETE FROM upstream_outbox WHERE id = ? RETURNING bytes, sensor_id';
const DELETE_RANGE = 'DELETE FROM upstream_outbox WHERE id BETWEEN ? AND ?';
const LAST_ID = 'SELECT coalesce(max(id), 0) FROM upstream_outbox';
const OLDEST = 'SELECT id, bytes, sensor_id FROM upstream_outbox WHERE id > ? ORDER BY id LIMIT ?';
const OLDEST_OF_SENSOR =
  'SELECT id, bytes FROM upstream_outbox WHERE sensor_id = ? AND id > ? ORDER BY id LIMIT ?';
const DELETE_IDS = 'DELETE FROM upstream_outbox WHERE id IN (SELECT value FROM json_each(?))';
const PER_SENSOR =
  'SELECT sensor_id, count(*) AS rows, coalesce(sum(bytes), 0) AS bytes FROM upstream_outbox GROUP BY sensor_id';
const DELETE_UP_TO = 'DELETE FROM upstream_outbox WHERE id <= ?';
const PEEK =
  'SELECT id, sensor_id, topic, payload, content_format, properties, bytes, created_at FROM upstream_outbox WHERE id > ? ORDER BY id LIMIT ?';
const TOTALS = 'SELECT count(*) AS rows, coalesce(sum(bytes), 0) AS bytes FROM upstream_outbox';

/**
 * Telemetry the gateway has acknowledged to sensors and the broker has not yet acknowledged, in the
 * state database (table upstream_outbox), in arrival order.
 *
 * enqueue() uses group commit: a message that finds the outbox idle is committed at the end of the
 * event-loop turn it arrived in; messages arriving within commit_interval_ms of the last commit wait
 * for that interval (or until commit_batch of them wait) and go into one transaction; each caller's
 * promise resolves once its transaction is on disk. The transaction commits without an fsync and the WAL is fsynced on the thread pool
 * (Store.transactionSyncedLater), commits made meanwhile sharing the next fsync: the event loop does
 * not stop for the disk, and a resolved enqueue() survives kill -9 and power loss as with
 * synchronous=FULL.
 *
 * remove() (after PUBACK) is folded into the next group commit as well: losing a removal to a crash
 * only sends the message again, which QoS 1 allows. Acknowledged ids are deleted in ranges of
 * consecutive ids (one statement per range, not one per row).
 *
 * Rows just committed are kept in memory (up to FRESH_MAX) and peek() hands them out from there: the
 * publisher forwards them without reading back what it has just written.
 *
 * Row and byte counts are kept in memory (read back at open) so bounds cost no query. When full,
 * "refuse" answers OutboxFull with a retry hint and "drop-oldest" deletes the oldest rows, counted.
 *
 * Fairness: no sensor may hold more than per_sensor_share of max_rows and max_bytes (SensorShares),
 * so one sensor cannot fill the outbox and deny the others. A sensor over its share is refused
 * ("refuse", reason "sensor-share") or makes room by dropping its own oldest rows ("drop-oldest");
 * the others are not affected until the outbox as a whole is full.
 */
export class Outbox {
  readonly #store: Store;
  readonly #settings: OutboxSettings;
  readonly #clock: () => number;
  #rows: number;
  #bytes: number;
  #waiting: Waiting[] = [];
  #waitingBytes = 0;
  /**
   * Acknowledged ids whose rows are deleted at the next commit (and hidden from peek() until then),
   * with the bytes already taken off the counts (undefined: not known until the delete).
   */
  #removals = new Map<number, Counted | undefined>();
  /** The rows peek() returned, so that remove() can update the counts at once. */
  #handedOut = new Map<number, Counted>();
  /**
   * Committed rows not yet handed out by peek(), in id order from #freshHead: every committed row
   * with an id above #tailFrom is here (those at or below it are read from the table).
   */
  #fresh: OutboxRow[] = [];
  #freshHead = 0;
  #tailFrom: number;
  /** Rows and bytes per sensor (committed and waiting), against per_sensor_share. */
  readonly #shares: SensorShares;
  /** Cancels the scheduled commit, when one is. */
  #cancelCommit: (() => void) | undefined;
  /** When the scheduled commit is due (clock ms). */
  #commitDueAt = 0;
  #closed = false;
  /** Hears of each commit that added rows, before its fsync (the publisher: it may send them at once). */
  readonly #onCommitted: (() => void) | undefined;
  /** When the last commit that added rows was made (performance.now()). */
  #lastCommitAt = Number.NEGATIVE_INFINITY;
  /** Messages committed whose fsync has not ended yet (their callers wait). */
  #syncing = 0;
  #committed = 0;
  #transactions = 0;
  #removed = 0;
  #dropped = 0;
  #refused = 0;
  #refusedOverShare = 0;
  #droppedOverShare = 0;
  #drained: { at: number; rows: number }[] = [];

  private constructor(
    store: Store,
    settings: OutboxSettings,
    clock: () => number,
    onCommitted: (() => void) | undefined,
  ) {
    this.#store = store;
    this.#settings = settings;
    this.#clock = clock;
    this.#onCommitted = onCommitted;
    const totals = store.prepare<[], { rows: number; bytes: number }>(TOTALS).get();
    this.#rows = totals?.rows ?? 0;
    this.#bytes = totals?.bytes ?? 0;
    this.#shares = new SensorShares(settings);
    this.#recountShares();
    this.#tailFrom = store.prepare<[], number>(LAST_ID).pluck().get() ?? 0;
  }

  /**
   * The outbox in `store` (migration 4), with its counts read back from the table. `onCommitted` is
   * called after each commit that added rows, as soon as peek() can hand them out: before their
   * fsync has ended and before enqueue() answers.
   */
  static open(
    store: Store,
    settings: OutboxSettings,
    options: { clock?: () => number; onCommitted?: () => void } = {},
  ): Outbox {
    return new Outbox(store, settings, options.clock ?? Date.now, options.onCommitted);
  }

  /**
   * Resolves with the message's id once it is committed, or at once with OutboxRefusal when the
   * outbox is full, or the sensor over its share, under "refuse". Rejects with OutboxError when it is closed, when the message alone is
   * larger than max_bytes, or when the database write failed.
   */
  enqueue(message: OutboxMessage): Promise<OutboxAccepted | OutboxRefusal> {
    if (this.#closed)
      return Promise.reject(
        new OutboxError('EGW_OUTBOX_CLOSED', 'the upstream outbox is closed', {
          hint: 'the daemon is stopping; the sensor should send again later',
        }),
      );
    const { json: properties, bytes: propertiesBytes } = serialized(message.properties ?? NO_PROPERTIES);
    const payload = Buffer.from(message.payload); // a copy: the caller may reuse its buffer meanwhile
    const bytes = payload.byteLength + Buffer.byteLength(message.topic) + propertiesBytes;
    const settings = this.#settings;
    if (bytes > settings.max_bytes)
      return Promise.reject(
        new OutboxError(
          'EGW_OUTBOX_MESSAGE_TOO_LARGE',
          `a message of ${bytes} bytes from sensor ${message.sensorId} can never fit in the upstream outbox (max_bytes ${settings.max_bytes})`,
          { hint: 'raise upstream.outbox.max_bytes, or lower downstream.coap.max_payload_bytes below it' },
        ),
      );
    if (settings.when_full === 'refuse') {
      const overRows = this.#rows + this.#waiting.length + 1 - settings.max_rows;
      const overBytes = this.#bytes + this.#waitingBytes + bytes - settings.max_bytes;
      if (overRows > 0 || overBytes > 0) {
        this.#refused++;
        return Promise.resolve({
          full: true,
          reason: 'outbox-full',
          retryAfterSeconds: this.#retryAfterSeconds(overRows, overBytes),
        });
      }
      // Room in the outbox, but not for this sensor: the others' messages are still taken.
      const share = this.#shares.over(message.sensorId, bytes);
      if (share.rows > 0 || share.bytes > 0) {
        this.#refused++;
        this.#refusedOverShare++;
        return Promise.resolve({
          full: true,
          reason: 'sensor-share',
          retryAfterSeconds: this.#retryAfterSeconds(share.rows, share.bytes),
        });
      }
    }
    return new Promise((resolve, reject) => {
      this.#waiting.push({
        message,
        payload,
        properties,
        bytes,
        createdAt: message.createdAt?.getTime() ?? this.#clock(),
        resolve,
        reject,
      });
      this.#waitingBytes += bytes;
      this.#shares.add(message.sensorId, 1, bytes);
      if (this.#waiting.length >= settings.commit_batch) this.flush();
      else this.#schedule(this.#nextCommitIn());
    });
  }

  /**
   * Up to `limit` stored messages with ids above `afterId`, oldest first (global arrival order),
   * leaving out those already removed.
   */
  peek(limit: number, afterId = 0): OutboxRow[] {
    if (limit <= 0) return [];
    if (afterId >= this.#tailFrom) return this.#peekFresh(limit, afterId);
    const statement = this.#store.prepare<[number, number], StoredRow>(PEEK);
    const rows: OutboxRow[] = [];
    let cursor = afterId;
    // Removed rows are rare past a publisher's cursor (they were published before it): fetch what
    // is asked for and fetch again only for those skipped.
    while (rows.length < limit) {
      const wanted = limit - rows.length;
      const batch = statement.all(cursor, wanted);
      for (const row of batch) {
        cursor = row.id;
        if (this.#removals.has(row.id)) continue;
        const handed = rowOf(row);
        rows.push(handed);
        this.#handedOut.set(row.id, handed);
      }
      if (batch.length < wanted) break;
    }
    return rows;
  }

  /**
   * The broker has these: they leave the counts and peek() now, and the table with the next group
   * commit (a removal alone waits up to REMOVAL_COMMIT_MS for company).
   */
  remove(ids: Iterable<number>): void {
    for (const id of ids) {
      if (this.#removals.has(id)) continue;
      const counted = this.#handedOut.get(id);
      if (counted !== undefined) {
        this.#handedOut.delete(id);
        this.#rows--;
        this.#bytes -= counted.bytes;
        this.#shares.add(counted.sensorId, -1, -counted.bytes);
      }
      this.#removals.set(id, counted);
    }
    if (this.#removals.size >= REMOVAL_BATCH) this.flush();
    else if (this.#removals.size > 0)
      this.#schedule(Math.max(this.#settings.commit_interval_ms, REMOVAL_COMMIT_MS));
  }

  /** Commits what waits (messages and removals) now, in one transaction. */
  flush(): void {
    this.#cancelCommit?.();
    this.#cancelCommit = undefined;
    const waiting = this.#waiting;
    const waitingBytes = this.#waitingBytes;
    const removals = [...this.#removals];
    if (waiting.length === 0 && removals.length === 0) return;
    this.#waiting = [];
    this.#waitingBytes = 0;
    this.#removals.clear();
    let outcome: WriteOutcome;
    let synced: Promise<void> | undefined;
    try {
      // The fsync runs on the thread pool (Store.transactionSyncedLater): the event loop goes on
      // meanwhile, and the callers hear of their rows only once it has ended. Removals alone need none.
      ({ result: outcome, synced } = this.#store.transactionSyncedLater(
        () => this.#write(waiting, waitingBytes, removals),
        waiting.length > 0,
      ));
    } catch (cause) {
      // Nothing of it happened: the removals are tried again, the callers hear why.
      for (const [id, counted] of removals) this.#removals.set(id, counted);
      this.#recountShares();
      const error = new OutboxError(
        'EGW_OUTBOX_WRITE_FAILED',
        `cannot write ${waiting.length} message(s) to the upstream outbox in ${this.#store.path}: ${(cause as Error).message}`,
        { hint: 'check free space and the state directory’s file system (SQLITE_FULL, SQLITE_IOERR)', cause },
      );
      for (const entry of waiting) entry.reject(error);
      return;
    }
    this.#transactions++;
    this.#committed += waiting.length;
    this.#rows += waiting.length - outcome.uncountedRows - outcome.dropped;
    this.#bytes += waitingBytes - outcome.uncountedBytes - outcome.droppedBytes;
    this.#removed += outcome.removed;
    this.#dropped += outcome.dropped;
    this.#droppedOverShare += outcome.droppedOverShare;
    if (outcome.removed > 0) this.#noteDrained(outcome.removed);
    // Handed to the publisher at once: a row the broker gets before its fsync is at worst sent again
    // by its sensor (not yet answered), which QoS 1 allows.
    this.#keepFresh(waiting, outcome);
    // The publisher hears now, not when the callers do (after the fsync): the row reaches the
    // broker while the disk syncs. Safe: an insert lost to a power cut was never answered (its
    // sensor sends it again: a duplicate, which QoS 1 allows), and the delete that follows its
    // PUBACK is a later WAL commit, so no sync can make the delete durable without the insert.
    if (waiting.length > 0) {
      this.#lastCommitAt = performance.now();
      this.#onCommitted?.();
    }
    if (synced) this.#answerWhenSynced(synced, waiting, outcome.ids);
  }

  /** Each caller hears its id once the commit is on disk, or why it may not be. */
  #answerWhenSynced(synced: Promise<void>, waiting: Waiting[], ids: number[]): void {
    this.#syncing += waiting.length;
    synced.then(
      () => {
        this.#syncing -= waiting.length;
        for (const [index, entry] of waiting.entries())
          entry.resolve({ full: false, id: ids[index] as number });
      },
      (cause: Error) => {
        this.#syncing -= waiting.length;
        // Committed, perhaps not on disk: not acknowledged; the sensors send again (a duplicate at worst).
        const error = new OutboxError(
          'EGW_OUTBOX_WRITE_FAILED',
          `cannot sync ${waiting.length} message(s) of the upstream outbox to disk in ${this.#store.path}: ${cause.message}`,
          { hint: 'check the state directory’s file system and the kernel log (EIO)', cause },
        );
        for (const entry of waiting) entry.reject(error);
      },
    );
  }

  /** The rows a commit added, for peek() to hand out from memory. */
  #keepFresh(waiting: Waiting[], outcome: WriteOutcome): void {
    const lastId = outcome.ids.at(-1);
    if (lastId === undefined) return;
    if (outcome.dropped > 0 || this.#fresh.length - this.#freshHead + waiting.length > FRESH_MAX) {
      // Rows in memory may be gone (dropped), or too many wait: the table has what is left.
      this.#fresh = [];
      this.#freshHead = 0;
      this.#tailFrom = lastId;
      return;
    }
    for (const [index, entry] of waiting.entries()) {
      const { message } = entry;
      this.#fresh.push({
        id: outcome.ids[index] as number,
        sensorId: message.sensorId,
        topic: message.topic,
        payload: entry.payload,
        contentFormat: message.contentFormat,
        properties: message.properties ?? NO_PROPERTIES,
        bytes: entry.bytes,
        createdAt: message.createdAt ?? new Date(entry.createdAt),
      });
    }
  }

  /** peek() of rows above #tailFrom: from memory, without a query. */
  #peekFresh(limit: number, afterId: number): OutboxRow[] {
    const fresh = this.#fresh;
    let index = this.#freshHead;
    while (index < fresh.length && (fresh[index] as OutboxRow).id <= afterId) index++;
    const rows: OutboxRow[] = [];
    while (index < fresh.length && rows.length < limit) {
      const row = fresh[index++] as OutboxRow;
      if (this.#removals.has(row.id)) continue;
      rows.push(row);
      this.#handedOut.set(row.id, row);
    }
    if (index > this.#freshHead) this.#tailFrom = (fresh[index - 1] as OutboxRow).id;
    if (index === fresh.length) {
      this.#fresh = [];
      this.#freshHead = 0;
    } else if (index > 1024 && index * 2 > fresh.length) {
      this.#fresh = fresh.slice(index);
      this.#freshHead = 0;
    } else this.#freshHead = index;
    return rows;
  }

  stats(): OutboxStats {
    return {
      rows: this.#rows,
      bytes: this.#bytes,
      waiting: this.#waiting.length,
      syncing: this.#syncing,
      maxRows: this.#settings.max_rows,
      maxBytes: this.#settings.max_bytes,
      whenFull: this.#settings.when_full,
      committed: this.#committed,
      transactions: this.#transactions,
      removed: this.#removed,
      dropped: this.#dropped,
      refused: this.#refused,
      perSensorShare: this.#settings.per_sensor_share,
      sensors: this.#shares.sensors,
      refusedOverShare: this.#refusedOverShare,
      droppedOverShare: this.#droppedOverShare,
    };
  }

  /** Commits what waits, then refuses new messages. The store stays open (its owner closes it). */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.flush();
  }

  /**
   * When the messages waiting are committed: at the end of this turn of the event loop (what
   * arrived in the same I/O batch shares the commit) unless a commit of messages was made less than
   * commit_interval_ms ago, then once that much has passed since it. A message that finds the outbox
   * idle does not wait for a timer; under load commits (and their fsyncs) still come at most one per
   * commit_interval_ms, each carrying all that arrived meanwhile, so the CPU per message stays that
   * of group commit.
   */
  #nextCommitIn(): number {
    return Math.max(0, Math.ceil(this.#lastCommitAt + this.#settings.commit_interval_ms - performance.now()));
  }

  /** Commits in `delayMs` at the latest (an earlier commit already scheduled stands). */
  #schedule(delayMs: number): void {
    const dueAt = Date.now() + delayMs;
    if (this.#cancelCommit) {
      if (this.#commitDueAt <= dueAt) return;
      this.#cancelCommit();
    }
    this.#commitDueAt = dueAt;
    if (delayMs > 0) {
      const timer = setTimeout(() => this.flush(), delayMs);
      this.#cancelCommit = () => clearTimeout(timer);
    } else {
      // 0: still batch what arrives in the same turn of the event loop.
      const immediate = setImmediate(() => this.flush());
      this.#cancelCommit = () => clearImmediate(immediate);
    }
  }

  #write(waiting: Waiting[], waitingBytes: number, removals: [number, Counted | undefined][]): WriteOutcome {
    const ids: number[] = [];
    let removed = 0;
    let uncountedRows = 0;
    let uncountedBytes = 0;
    const deleteOne = this.#store.prepare<[number], { bytes: number; sensor_id: string }>(DELETE_ONE);
    // Ids remove() took off the counts: one DELETE per run of consecutive ids. (A row of them that is
    // gone already was taken off the counts by remove() alone: a row dropped before its PUBACK is no
    // longer among the handed-out ones when remove() sees its id.)
    const deleteRange = this.#store.prepare<[number, number]>(DELETE_RANGE);
    const counted: number[] = [];
    for (const [id, known] of removals) {
      if (known !== undefined) {
        counted.push(id);
        continue;
      }
      // Never handed out (not in the counts' reckoning yet): its size comes back with the delete.
      const row = deleteOne.get(id);
      if (!row) continue; // dropped before its PUBACK came (drop-oldest), or unknown
      removed++;
      uncountedRows++;
      uncountedBytes += row.bytes;
      this.#shares.add(row.sensor_id, -1, -row.bytes);
    }
    counted.sort((a, b) => a - b);
    for (let start = 0; start < counted.length; ) {
      let end = start;
      while (end + 1 < counted.length && (counted[end + 1] as number) === (counted[end] as number) + 1) end++;
      removed += deleteRange.run(counted[start] as number, counted[end] as number).changes;
      start = end + 1;
    }
    for (let start = 0; start < waiting.length; start += INSERT_ROWS) {
      const rows = Math.min(INSERT_ROWS, waiting.length - start);
      const values: unknown[] = [];
      for (let index = start; index < start + rows; index++) {
        const entry = waiting[index] as Waiting;
        const { message } = entry;
        values.push(
          message.sensorId,
          message.topic,
          entry.payload,
          message.contentFormat,
          entry.properties,
          entry.bytes,
          entry.createdAt,
        );
      }
      const result = this.#store.prepare<unknown[]>(INSERT_STATEMENTS[rows] as string).run(values);
      const lastId = Number(result.lastInsertRowid);
      for (let row = rows - 1; row >= 0; row--) ids.push(lastId - row);
    }
    let dropped = 0;
    let droppedBytes = 0;
    let droppedOverShare = 0;
    if (this.#settings.when_full === 'drop-oldest') {
      // A sensor over its share makes room from its own rows, before anyone's oldest go.
      for (const sensorId of new Set(waiting.map((entry) => entry.message.sensorId))) {
        const own = this.#dropOwnOldest(sensorId);
        droppedOverShare += own.dropped;
        dropped += own.dropped;
        droppedBytes += own.droppedBytes;
      }
      const oldest = this.#dropOldest(
        this.#rows + waiting.length - uncountedRows - dropped,
        this.#bytes + waitingBytes - uncountedBytes - droppedBytes,
      );
      dropped += oldest.dropped;
      droppedBytes += oldest.droppedBytes;
    }
    return {
      ids,
      removed,
      uncountedRows,
      uncountedBytes,
      dropped,
      droppedBytes,
      droppedOverShare,
    };
  }

  /**
   * The shares as the table holds them, less the removals already taken off the counts: after a
   * commit that failed (its changes to the shares were made inside the rolled-back transaction).
   */
  #recountShares(): void {
    this.#shares.clear();
    for (const row of this.#store
      .prepare<[], { sensor_id: string; rows: number; bytes: number }>(PER_SENSOR)
      .all())
      this.#shares.add(row.sensor_id, row.rows, row.bytes);
    for (const counted of this.#removals.values())
      if (counted) this.#shares.add(counted.sensorId, -1, -counted.bytes);
  }

  /** Deletes the sensor's oldest rows until it is within its share (inside the commit's transaction). */
  #dropOwnOldest(sensorId: string): { dropped: number; droppedBytes: number } {
    let over = this.#shares.over(sensorId, 0, 0);
    if (over.rows <= 0 && over.bytes <= 0) return { dropped: 0, droppedBytes: 0 };
    const oldest = this.#store.prepare<[string, number, number], { id: number; bytes: number }>(
      OLDEST_OF_SENSOR,
    );
    const ids: number[] = [];
    let droppedBytes = 0;
    let lastId = 0;
    while (over.rows > 0 || over.bytes > 0) {
      const batch = oldest.all(sensorId, lastId, 256);
      if (batch.length === 0) break;
      for (const row of batch) {
        if (over.rows <= 0 && over.bytes <= 0) break;
        ids.push(row.id);
        droppedBytes += row.bytes;
        lastId = row.id;
        this.#shares.add(sensorId, -1, -row.bytes);
        this.#handedOut.delete(row.id);
        over = this.#shares.over(sensorId, 0, 0);
      }
    }
    if (ids.length > 0) this.#store.prepare<[string]>(DELETE_IDS).run(JSON.stringify(ids));
    return { dropped: ids.length, droppedBytes };
  }

  /** Deletes the oldest rows until `rows` and `bytes` are within bounds (inside the commit's transaction). */
  #dropOldest(rows: number, bytes: number): { dropped: number; droppedBytes: number } {
    const { max_rows: maxRows, max_bytes: maxBytes } = this.#settings;
    let dropped = 0;
    let droppedBytes = 0;
    let lastId = 0;
    const oldest = this.#store.prepare<[number, number], { id: number; bytes: number; sensor_id: string }>(
      OLDEST,
    );
    while (rows - dropped > maxRows || bytes - droppedBytes > maxBytes) {
      const batch = oldest.all(lastId, 256);
      if (batch.length === 0) break;
      for (const row of batch) {
        if (rows - dropped <= maxRows && bytes - droppedBytes <= maxBytes) break;
        dropped++;
        droppedBytes += row.bytes;
        lastId = row.id;
        this.#shares.add(row.sensor_id, -1, -row.bytes);
      }
    }
    if (dropped > 0) {
      this.#store.prepare<[number]>(DELETE_UP_TO).run(lastId);
      for (const id of this.#handedOut.keys()) if (id <= lastId) this.#handedOut.delete(id);
    }
    return { dropped, droppedBytes };
  }

  /** Remembers a drain for the rate #retryAfterSeconds uses; only DRAIN_WINDOW_MS of them are kept. */
  #noteDrained(rows: number): void {
    const now = this.#clock();
    this.#drained.push({ at: now, rows });
    // Pruned here too, not only when the outbox is full: one entry per commit would pile up.
    if ((this.#drained[0]?.at ?? now) <= now - DRAIN_WINDOW_MS) this.#forgetOldDrains(now);
  }

  #forgetOldDrains(now: number): void {
    const firstKept = this.#drained.findIndex((entry) => entry.at > now - DRAIN_WINDOW_MS);
    this.#drained.splice(0, firstKept === -1 ? this.#drained.length : firstKept);
  }

  /**
   * When a refused sender should try again: the time the recent drain rate needs to make the room,
   * between 1 s and refuse_max_age_s (the latter when nothing drains, e.g. the broker is away).
   */
  #retryAfterSeconds(overRows: number, overBytes: number): number {
    const maxAge = this.#settings.refuse_max_age_s;
    this.#forgetOldDrains(this.#clock());
    const drainedRows = this.#drained.reduce((sum, entry) => sum + entry.rows, 0);
    if (drainedRows === 0) return maxAge;
    const perSecond = drainedRows / (DRAIN_WINDOW_MS / 1000);
    const averageBytes = this.#rows > 0 ? this.#bytes / this.#rows : 1;
    const rowsNeeded = Math.max(overRows, Math.ceil(Math.max(0, overBytes) / averageBytes), 1);
    return Math.min(maxAge, Math.max(1, Math.ceil(rowsNeeded / perSecond)));
  }
}

const NO_PROPERTIES: Readonly<Record<string, string>> = Object.freeze({});

/** Properties objects are shared by a sensor's messages (TelemetryEnvelopes): serialized once each. */
const serializations = new WeakMap<object, { json: string; bytes: number }>();

function serialized(properties: Readonly<Record<string, string>>): { json: string; bytes: number } {
  let known = serializations.get(properties);
  if (!known) {
    const json = JSON.stringify(properties);
    known = { json, bytes: Buffer.byteLength(json) };
    serializations.set(properties, known);
  }
  return known;
}

function rowOf(row: StoredRow): OutboxRow {
  return {
    id: row.id,
    sensorId: row.sensor_id,
    topic: row.topic,
    payload: row.payload,
    contentFormat: row.content_format,
    properties: storedProperties(row.properties),
    bytes: row.bytes,
    createdAt: new Date(row.created_at),
  };
}
