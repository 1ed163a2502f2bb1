import type { Store } from '../../store/index.js';

/**
 * created_at (Unix ms) of the oldest committed outbox row, or null when it is empty. Read when
 * metrics are scraped, not kept on the data path: the first row by primary key, one index step.
 */
export function outboxOldestCreatedAt(store: Store): number | null {
  const row = store
    .prepare<[], { created_at: number }>('SELECT created_at FROM upstream_outbox ORDER BY id LIMIT 1')
    .get();
  return row?.created_at ?? null;
}
