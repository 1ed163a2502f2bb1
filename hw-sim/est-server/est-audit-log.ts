import { appendFileSync } from 'node:fs';
import type { EstAuditEntry } from './est-server-options.js';

/**
 * What the EST server issued and refused: kept in memory for tests and appended to a file as NDJSON
 * (one JSON object per line) for people watching the demo. Synchronous appends keep the file in the
 * order the answers were sent.
 */
export class EstAuditLog {
  readonly path: string;
  readonly #entries: EstAuditEntry[] = [];

  constructor(path: string) {
    this.path = path;
  }

  append(entry: EstAuditEntry): void {
    this.#entries.push(entry);
    appendFileSync(this.path, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
  }

  entries(): EstAuditEntry[] {
    return this.#entries.map((entry) => structuredClone(entry));
  }
}
