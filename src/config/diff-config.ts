import type { Config } from './schema.js';

/** Dotted key paths whose values differ between two configs (leaves only). */
export function changedKeys(before: Config, after: Config): string[] {
  const changed: string[] = [];
  const walk = (a: unknown, b: unknown, prefix: string) => {
    if (isTable(a) && isTable(b)) {
      for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
        walk(a[key], b[key], prefix ? `${prefix}.${key}` : key);
      }
    } else if (JSON.stringify(a) !== JSON.stringify(b)) {
      changed.push(prefix);
    }
  };
  walk(before, after, '');
  return changed;
}

function isTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
