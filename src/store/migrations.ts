/**
 * Numbered schema migrations, applied in order, each in its own transaction.
 * Never edit a migration that has shipped: add the next number instead.
 */
export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'gateway metadata',
    sql: `
      CREATE TABLE gateway_meta (
        key        TEXT PRIMARY KEY NOT NULL,
        value      TEXT NOT NULL,
        updated_at TEXT NOT NULL
      ) STRICT;
    `,
  },
];
