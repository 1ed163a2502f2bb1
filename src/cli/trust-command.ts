import { writeFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { isCaCertificate, parseCertificate, readCertificatesFromFile } from '../trust/enrollment/index.js';
import { TrustBundleStore, type TrustedCertificate } from '../trust/index.js';
import { registerTrustCrlCommands } from './trust-crl-command.js';
import {
  EXIT_STATUS_HELP,
  exitTwoOnUsageError,
  runOnTrustState,
  type TrustStateOptions,
  table,
  withStateOptions,
} from './trust-state.js';

const BUNDLES = ['sensors', 'upstream'];

export function registerTrustCommands(program: Command): void {
  const trust = exitTwoOnUsageError(
    program
      .command('trust')
      .description('trust bundles in the state database: sensor CAs (sensors) and upstream CAs (upstream)'),
  ).addHelpText(
    'after',
    `
The "sensors" bundle holds the CAs whose sensors may connect (anchors) and the intermediate CAs used
only to build their paths; "upstream" holds the CAs the gateway trusts for its broker and EST server.
Changes are written to the state database (store.path in the config file) and a running daemon is
told to re-read them (control method trust.reload); when it is not running, they apply at its next
start. A removed sensor CA keeps its group enrollment (gatewayctl sensors list); it no longer matches.
Run gatewayctl as the daemon's user (sudo -u edge-gatewayd gatewayctl …) so the database keeps its owner.

Examples:
  gatewayctl trust import --bundle sensors sensor-root.pem
  gatewayctl trust import --bundle sensors --intermediate sensor-issuing-ca.pem
  gatewayctl trust list --bundle sensors
  gatewayctl trust export --bundle sensors -o sensors-bundle.pem
  gatewayctl trust remove --bundle sensors 3f:a0:…:9c
  gatewayctl trust list --json | jq -r '.certificates[].sha256'
  gatewayctl trust crl import sensor-ca.crl
${EXIT_STATUS_HELP}`,
  );
  registerTrustCrlCommands(trust);

  withStateOptions(trust.command('list'))
    .description('list the certificates of one bundle or of all: role, SHA-256, subject, source')
    .addOption(new Option('--bundle <name>', 'only this bundle').choices(BUNDLES))
    .action((options: TrustStateOptions & { bundle?: string }) =>
      runOnTrustState(options, ({ store }) => {
        const certificates = new TrustBundleStore(store).list(options.bundle);
        return {
          json: { certificates: certificates.map(describeCertificate) },
          text:
            certificates.length === 0
              ? `no certificates${options.bundle ? ` in bundle ${options.bundle}` : ''}\n`
              : table([
                  ['BUNDLE', 'ROLE', 'SHA-256', 'SOURCE', 'ADDED', 'SUBJECT'],
                  ...certificates.map((entry) => [
                    entry.bundle,
                    entry.role,
                    entry.sha256,
                    entry.source,
                    entry.fetchedAt.toISOString(),
                    entry.subject,
                  ]),
                ]),
        };
      }),
    );

  withStateOptions(trust.command('import'))
    .description('add every certificate of a PEM (or DER) file to a bundle, as anchors or intermediates')
    .argument('<file>', 'certificate file: PEM with one or more certificates, or one DER certificate')
    .addOption(new Option('--bundle <name>', 'bundle to add to').choices(BUNDLES).makeOptionMandatory())
    .option('--intermediate', 'add them as intermediate CAs (used to build paths, not trusted as anchors)')
    .action((file: string, options: TrustStateOptions & { bundle: string; intermediate?: boolean }) =>
      runOnTrustState(options, ({ store }) => {
        const role = options.intermediate ? 'intermediate' : 'anchor';
        const ders = readCertificatesFromFile(file);
        const bundles = new TrustBundleStore(store);
        const added = store.transaction(() =>
          ders.map((der) => bundles.add(options.bundle, der, { source: 'operator', role })),
        );
        const warnings = ders
          .map((der, index) => ({ certificate: parseCertificate(der, file), entry: added[index] }))
          .filter(({ certificate }) => !isCaCertificate(certificate))
          .map(
            ({ entry }) =>
              `${entry?.subject} is not a CA certificate (no basicConstraints CA:TRUE): it cannot issue certificates`,
          );
        return {
          json: { bundle: options.bundle, imported: added.map(describeCertificate) },
          text: added
            .map((entry) => `added ${role} ${entry.sha256} ${entry.subject} to ${options.bundle}\n`)
            .join(''),
          changed: true,
          warnings,
        };
      }),
    );

  withStateOptions(trust.command('export'))
    .description('write a bundle as PEM (anchors and intermediates, in the order they were added)')
    .addOption(new Option('--bundle <name>', 'bundle to export').choices(BUNDLES).makeOptionMandatory())
    .option('-o, --output <file>', 'write the PEM to this file instead of stdout')
    .action((options: TrustStateOptions & { bundle: string; output?: string }) =>
      runOnTrustState(options, ({ store }) => {
        const bundles = new TrustBundleStore(store);
        const count = bundles.list(options.bundle).length;
        const pem = bundles.exportPem(options.bundle);
        if (options.output) writeFileSync(options.output, pem);
        const warnings = count === 0 ? [`bundle ${options.bundle} is empty`] : [];
        return {
          json: { bundle: options.bundle, count, ...(options.output ? { file: options.output } : { pem }) },
          text: options.output
            ? `wrote ${count} certificates of ${options.bundle} to ${options.output}\n`
            : pem,
          warnings,
        };
      }),
    );

  withStateOptions(trust.command('remove'))
    .description('remove one certificate from a bundle by its SHA-256 thumbprint')
    .argument('<sha256>', 'SHA-256 thumbprint (64 hex digits, colons allowed)')
    .addOption(new Option('--bundle <name>', 'bundle to remove from').choices(BUNDLES).makeOptionMandatory())
    .action((sha256: string, options: TrustStateOptions & { bundle: string }) =>
      runOnTrustState(options, ({ store }) => {
        const removed = new TrustBundleStore(store).remove(options.bundle, sha256);
        return {
          json: { removed: describeCertificate(removed) },
          text: `removed ${removed.role} ${removed.sha256} ${removed.subject} from ${removed.bundle}\n`,
          changed: true,
        };
      }),
    );
}

function describeCertificate(entry: TrustedCertificate): Record<string, unknown> {
  return {
    bundle: entry.bundle,
    role: entry.role,
    sha256: entry.sha256,
    subject: entry.subject,
    source: entry.source,
    addedAt: entry.fetchedAt.toISOString(),
  };
}
