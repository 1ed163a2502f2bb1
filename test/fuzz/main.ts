/**
 * `npm run fuzz [-- --inputs N] [--seed S]`: the structure-aware fuzzer of the sensor endpoint
 * against the built daemon. Progress on stderr; on stdout one JSON object
 * {"inputs","crashes","exceptions","sessionsDisturbed","rssGrowthBytes"}. Exit status 1 when the
 * daemon crashed, threw, or disturbed a witness session.
 */
import { randomInt } from 'node:crypto';
import { parseArgs } from 'node:util';
import { type Family, runFuzz } from './fuzz-runner.js';
import { detailsText, resultLine } from './fuzz-summary.js';

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '1000000' },
    seed: { type: 'string' },
    witnesses: { type: 'string', default: '3' },
    families: { type: 'string', default: 'dtls,coap,mqtt' },
    // Test-only: proves the fuzzer reports a crash (see planted-fault.ts).
    'planted-fault': { type: 'boolean', default: false },
  },
});

const inputs = Number(values.inputs);
const seed = values.seed === undefined ? randomInt(2 ** 32) : Number(values.seed);
if (!Number.isSafeInteger(inputs) || inputs < 1)
  throw new Error(`--inputs: not a positive integer: ${values.inputs}`);
if (!Number.isSafeInteger(seed) || seed < 0 || seed >= 2 ** 32)
  throw new Error(`--seed: not a 32-bit unsigned integer: ${values.seed}`);
process.stderr.write(`fuzz: seed ${seed} (replay with --seed ${seed})\n`);

const report = await runFuzz({
  inputs,
  seed,
  witnesses: Number(values.witnesses),
  families: values.families.split(',') as Family[],
  plantedFault: values['planted-fault'],
  progress: (line) => process.stderr.write(`${line}\n`),
});
process.stderr.write(`${detailsText(report.details)}\n`);
process.stdout.write(`${resultLine(report.result)}\n`);
const { crashes, exceptions, sessionsDisturbed } = report.result;
// Exit now: mqtt.js and the DTLS engine may keep handles that would hold the process open.
process.exit(crashes + exceptions + sessionsDisturbed > 0 ? 1 : 0);
