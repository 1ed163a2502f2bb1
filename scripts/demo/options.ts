import { parseArgs } from 'node:util';

export type KeyStoreKind = 'atecc608' | 'tpm';

export interface DemoOptions {
  keyStore: KeyStoreKind;
  json: boolean;
  sensors: number;
  rate: number;
  durationMs: number;
}

export const DEMO_HELP = `usage: npm run demo -- [options]      (or: node dist/scripts/demo.js [options])

The gateway end to end on this machine, nothing to set up beyond scripts/setup.sh: a factory CA and
a technician's provisioning run, the EST server, mosquitto and a backend subscriber, edge-gatewayd
started as systemd would (Type=notify) enrolling with zero touch, then a sensor fleet with bad
actors. Ends with a summary: identity, sensors accepted and refused with reasons, messages
forwarded and received by the backend, latency. Everything is stopped at the end, also on failure.

  --tpm           keep the identity key in a software TPM 2.0 (swtpm) instead of the simulated
                  ATECC608A (hw-sim model with its execution times), the default
  --json          the summary as one JSON document on stdout; everything else goes to stderr
                  (npm run -s demo -- --json > summary.json)
  --sensors N     honest sensors in the fleet (default 20; 4 bad actors are added)
  --rate R        telemetry messages per second, whole fleet (default 40)
  --seconds S     how long the fleet sends (default 10)
  -h, --help      this text

Exit status: 0 when every check of the summary passed, 1 otherwise, 2 for a bad option.
`;

/** Thrown for a bad command line: the caller prints it with the usage and exits 2. */
export class UsageError extends Error {}

/** Reads the demo's command line; `help` means print DEMO_HELP and stop. */
export function parseDemoOptions(argv: string[]): DemoOptions | 'help' {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(argv);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values } = parsed;
  if (values.help) return 'help';
  return {
    keyStore: values.tpm ? 'tpm' : 'atecc608',
    json: values.json ?? false,
    sensors: number('--sensors', values.sensors ?? '20', { min: 1, max: 1000, integer: true }),
    rate: number('--rate', values.rate ?? '40', { min: 1, max: 5000, integer: false }),
    durationMs: number('--seconds', values.seconds ?? '10', { min: 1, max: 3600, integer: false }) * 1000,
  };
}

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    strict: true,
    allowPositionals: false,
    options: {
      tpm: { type: 'boolean' },
      json: { type: 'boolean' },
      sensors: { type: 'string' },
      rate: { type: 'string' },
      seconds: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

function number(flag: string, text: string, range: { min: number; max: number; integer: boolean }): number {
  const value = Number(text);
  if (
    text.trim() === '' ||
    !Number.isFinite(value) ||
    (range.integer && !Number.isInteger(value)) ||
    value < range.min ||
    value > range.max
  ) {
    throw new UsageError(
      `${flag} must be ${range.integer ? 'a whole number' : 'a number'} from ${range.min} to ${range.max} (got "${text}")`,
    );
  }
  return value;
}
