/**
 * A Map bounded to `capacity` entries, forgetting the least recently used first — approximately:
 * "second chance" (CLOCK) rather than strict LRU, so a hit only sets a flag instead of re-inserting
 * the entry (re-inserting costs more than the rest of a cached validation).
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, { value: V; used: boolean }>();
  readonly #capacity: number;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`cache capacity must be a positive integer, got ${capacity}`);
    }
    this.#capacity = capacity;
  }

  get size(): number {
    return this.#entries.size;
  }

  *values(): IterableIterator<V> {
    for (const entry of this.#entries.values()) yield entry.value;
  }

  get(key: K): V | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    entry.used = true;
    return entry.value;
  }

  set(key: K, value: V): void {
    const entry = this.#entries.get(key);
    if (entry !== undefined) {
      entry.value = value;
      entry.used = true;
      return;
    }
    if (this.#entries.size >= this.#capacity) this.#evictOne();
    this.#entries.set(key, { value, used: false });
  }

  /** Oldest first; one used since its last chance moves to the back with its flag cleared. */
  #evictOne(): void {
    for (const [key, entry] of this.#entries) {
      this.#entries.delete(key);
      if (!entry.used) return;
      entry.used = false;
      this.#entries.set(key, entry);
    }
  }
}
