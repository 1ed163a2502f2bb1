import { createInterface } from 'node:readline/promises';
import type { Command } from 'commander';
import { DEFAULT_CONFIG_PATH, loadConfigFile } from '../config/index.js';
import { withSimulatedBuses } from '../daemon/index.js';
import { GatewayError } from '../errors/index.js';
import {
  csrProfileFromConfig,
  installCertificates,
  keySettingsFromConfig,
  type ProvisioningHooks,
  type ProvisioningStep,
  provisionFactory,
  provisioningReportText,
  readCertificateFile,
  verifyProvisioning,
} from '../identity/index.js';
import { KeyError, openProvisionableDevice, type ProvisionableKeyDevice } from '../keys/index.js';
import { reportFailure } from './cli-failure.js';

interface CommonOptions {
  config: string;
  json?: boolean;
  yes?: boolean;
}

export function registerProvisionCommands(program: Command): void {
  const provision = program
    .command('provision')
    .description(
      "technician provisioning of the gateway's identity (key in the secure element, factory certificate)",
    )
    .addHelpText(
      'after',
      `
Typical factory run (local CA kit made with scripts/factory-ca.sh init DIR):
  gatewayctl provision factory --ca-dir DIR --yes
  gatewayctl provision verify --ca DIR/root.crt

When the line's CA is elsewhere:
  gatewayctl provision factory --csr-out device.csr      (hand device.csr to the line CA)
  gatewayctl provision install-certs --cert device.crt --signer signer.crt --yes

The backend and its parameters come from [identity.key] in the config file.`,
    );

  withCommon(provision.command('factory'))
    .description(
      'generate the identity key in the secure element, get it certified, store the certificates, lock',
    )
    .option('--ca-dir <dir>', 'sign with this factory CA kit (scripts/factory-ca.sh init DIR)')
    .option(
      '--csr-out <file>',
      'write the CSR here and stop (without --ca-dir); default ./device-<serial>.csr',
    )
    .option('--force', 'replace an existing identity (the old key is destroyed)')
    .action((options: CommonOptions & { caDir?: string; csrOut?: string; force?: boolean }) =>
      withDevice(options, async (device, config) => {
        const result = await provisionFactory({
          device,
          csrProfile: (serial) => csrProfileFromConfig(config, serial),
          force: Boolean(options.force),
          ...(options.caDir ? { caDir: options.caDir } : {}),
          ...(options.csrOut ? { csrOut: options.csrOut } : {}),
          ...hooks(options),
        });
        if (options.json) print({ ok: true, ...result });
        else if (result.next) process.stdout.write(`\nnext: ${result.next}\n`);
        else process.stdout.write('\nprovisioned: run `gatewayctl provision verify` for the checklist\n');
      }),
    );

  withCommon(provision.command('install-certs'))
    .description('store the device certificate (and its signer) issued for this gateway, then lock')
    .requiredOption('--cert <file>', 'device certificate (PEM or DER)')
    .requiredOption('--signer <file>', 'certificate of the CA that signed it (PEM or DER)')
    .action((options: CommonOptions & { cert: string; signer: string }) =>
      withDevice(options, async (device) => {
        const result = await installCertificates({
          device,
          certificate: readCertificateFile(options.cert),
          signerCertificate: readCertificateFile(options.signer),
          ...hooks(options),
        });
        if (options.json) print({ ok: true, ...result });
      }),
    );

  withCommon(provision.command('lock'))
    .description(
      "lock the secure element's configuration and data zones (irreversible; refused when already locked)",
    )
    .action((options: CommonOptions) =>
      withDevice(options, async (device) => {
        device.connect();
        const state = device.lockState();
        if (state === null)
          throw new KeyError('EGW_KEY_DEVICE_ERROR', 'this key backend has no zones to lock');
        if (state.config && state.data) {
          throw new KeyError(
            'EGW_KEY_LOCKED',
            'the configuration and data zones are already locked; refusing to lock twice',
          );
        }
        if (
          !(await hooks(options).confirmLock(
            'Lock the configuration and data zones now? This cannot be undone.',
          ))
        ) {
          throw new GatewayError('EGW_PROVISION_ABORTED', 'not locked: confirmation declined', {
            hint: 'pass --yes to lock without asking',
          });
        }
        device.lock();
        if (options.json) print({ ok: true, locked: device.lockState() });
        else process.stdout.write('locked the configuration and data zones\n');
      }),
    );

  withCommon(provision.command('verify'))
    .description("pass/fail checklist of this gateway's factory identity")
    .option('--ca <file>', 'root CA certificate to verify the chain up to')
    .addHelpText(
      'after',
      `
Each item is PASS, FAIL, or n/a with its reason. "n/a (simulated)" marks what cannot be proven on a
stand-in the configuration names (the ATECC608A simulator, swtpm over its swtpm/mssim TCTI, the
software key store): e.g. "key not exportable", as such a part keeps its key in a file. A part
configured as hardware that turns out not to be (a software TPM behind device:/dev/tpmrm0) FAILs.

--json prints {ok, status: "pass"|"fail", serial, backend, simulated, items: [{name, status:
"pass"|"fail"|"n/a", ok, detail, reason?, simulated?}]}.

Exit status: 0 no check failed (n/a is not a failure), 1 a check failed or the part could not be
reached.`,
    )
    .action((options: CommonOptions & { ca?: string }) =>
      withDevice(options, async (device) => {
        const report = await verifyProvisioning(
          device,
          options.ca ? { rootCa: readCertificateFile(options.ca) } : {},
        );
        if (options.json) print(report);
        else process.stdout.write(provisioningReportText(report));
        if (report.status === 'fail') process.exitCode = 1;
      }),
    );
}

function withCommon(command: Command): Command {
  return command
    .option(
      '-c, --config <path>',
      'configuration file ([identity.key] selects the backend)',
      DEFAULT_CONFIG_PATH,
    )
    .option('-y, --yes', 'answer yes to confirmations (locking)')
    .option('--json', 'print the result as JSON on stdout (progress goes to stderr)');
}

async function withDevice(
  options: CommonOptions,
  body: (device: ProvisionableKeyDevice, config: ReturnType<typeof loadConfigFile>) => Promise<void>,
): Promise<void> {
  let device: ProvisionableKeyDevice | undefined;
  try {
    const config = loadConfigFile(options.config);
    device = await openProvisionableDevice(withSimulatedBuses(keySettingsFromConfig(config)));
    await body(device, config);
  } catch (error) {
    reportFailure(error, Boolean(options.json));
  } finally {
    device?.close();
  }
}

function hooks(options: CommonOptions): ProvisioningHooks {
  const out = options.json ? process.stderr : process.stdout;
  return {
    onStep(step: ProvisioningStep) {
      const mark = { done: 'ok', skipped: '--', warning: '!!' }[step.outcome];
      out.write(`[${step.index}/${step.total}] ${mark} ${step.label}: ${step.detail}\n`);
    },
    async confirmLock(question: string) {
      if (options.yes) return true;
      if (!process.stdin.isTTY) return false;
      const prompt = createInterface({ input: process.stdin, output: process.stderr });
      try {
        return /^y(es)?$/i.test((await prompt.question(`${question} [y/N] `)).trim());
      } finally {
        prompt.close();
      }
    },
  };
}

function print(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
}
