import { existsSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

/**
 * The compiled entry of a worker thread, `entry` being its URL next to the caller. Under the tests
 * the caller is TypeScript source (src/…/*.ts), which a worker thread cannot load, so the built copy
 * in dist/ is used (`npm test` builds first). Undefined when neither exists (run `npm run build`).
 */
export function builtWorkerEntry(entry: URL): URL | undefined {
  const here = fileURLToPath(entry);
  if (existsSync(here)) return entry;
  const built = here.replace(/\/src\//, '/dist/src/');
  return existsSync(built) ? pathToFileURL(built) : undefined;
}
