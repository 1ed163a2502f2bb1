/** How a value found in a TOML file is named in an error message: short, typed, never huge. */
export function describeValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (typeof value === 'string') {
    const shown = value.length > 60 ? `${value.slice(0, 57)}...` : value;
    return JSON.stringify(shown);
  }
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint')
    return String(value);
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (value instanceof Date) return `the date ${value.toISOString()}`;
  if (typeof value === 'object' && value !== null) return 'a table';
  return typeof value;
}

/** The value at a key path inside parsed TOML, or undefined when a part of the path is missing. */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let node: unknown = root;
  for (const key of path) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<PropertyKey, unknown>)[key];
  }
  return node;
}
