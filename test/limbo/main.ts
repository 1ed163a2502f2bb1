/**
 * `npm run -s limbo [-- --table]`: the x509-limbo suite through the sensor path validator. Prints one
 * JSON object on stdout, {"core":{"right","wrong","skipped"},"all":{…}}; with --table, the report
 * (per id prefix, skip reasons, the wrong cases with our reason codes) on stderr. Not a test: it
 * exits 0 whatever the figures (test/limbo/limbo.test.ts holds the line against regressions).
 */

import { runLimbo } from './limbo-runner.js';
import { loadLimbo } from './limbo-suite.js';
import { summarize, table } from './limbo-summary.js';

const args = process.argv.slice(2);
const unknown = args.filter((arg) => arg !== '--table');
if (unknown.length > 0) {
  process.stderr.write(`unknown argument(s): ${unknown.join(' ')}; usage: limbo [--table]\n`);
  process.exit(2);
}
const outcomes = runLimbo(loadLimbo());
process.stdout.write(`${JSON.stringify(summarize(outcomes))}\n`);
if (args.includes('--table')) process.stderr.write(table(outcomes));
