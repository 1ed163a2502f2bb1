import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type CrlInfo, CrlStore, TrustBundleStore, TrustError } from '../trust/index.js';
import { runOnTrustState, type TrustStateOptions, table, withStateOptions } from './trust-state.js';

const BUNDLES = ['sensors', 'upstream'];

/**
 * `gatewayctl trust crl …`: revocation lists in the offline cache. An import is checked against the
 * bundle's CA certificates (issuer name and signature) and replaces that issuer's CRL; a running
 * daemon re-reads it and closes the sessions of sensors it now revokes.
 */
export function registerTrustCrlCommands(trust: Command): void {
  const crl = trust
    .command('crl')
    .description('certificate revocation lists in the offline cache (import, list)');

  withStateOptions(crl.command('import'))
    .description("store a CRL (PEM or DER) after checking it against a bundle's CA certificates")
    .argument('<file>', 'the CRL file')
    .addOption(new Option('--bundle <name>', 'bundle holding its issuer').choices(BUNDLES).default('sensors'))
    .addHelpText(
      'after',
      `
The CRL must be signed by a CA certificate of the bundle (its issuer name and key), must not be
older than the stored one for that issuer, and replaces it in one transaction. Sessions of sensors
it revokes are closed by a running daemon at once.

Examples:
  gatewayctl trust crl import sensor-ca.crl
  gatewayctl trust crl list --json | jq '.crls[] | {issuer, nextUpdate}'`,
    )
    .action((file: string, options: TrustStateOptions & { bundle: string }) =>
      runOnTrustState(options, ({ store }) => {
        let bytes: Uint8Array;
        try {
          bytes = readFileSync(file);
        } catch (cause) {
          throw new TrustError(
            'EGW_TRUST_MALFORMED',
            `cannot read the CRL file ${file}: ${(cause as Error).message}`,
            {
              hint: 'give the path of a CRL in PEM or DER',
              cause,
            },
          );
        }
        const issuers = new TrustBundleStore(store).ders(options.bundle);
        const result = new CrlStore(store).import(bytes, issuers, `file ${file}`, new Date());
        const next = result.nextUpdate?.toISOString() ?? 'none';
        return {
          json: {
            issuer: result.issuer,
            entries: result.entries,
            thisUpdate: result.thisUpdate.toISOString(),
            nextUpdate: result.nextUpdate?.toISOString() ?? null,
            replaced: result.replaced,
            unchanged: result.unchanged,
            revokedSerialsAdded: result.revokedSerialsAdded,
          },
          text: `stored the CRL of ${result.issuer}: ${result.entries} revoked (${result.revokedSerialsAdded} new), next update ${next}\n`,
          changed: !result.unchanged,
        };
      }),
    );

  withStateOptions(crl.command('list'))
    .description('the stored CRLs: issuer, entries, thisUpdate, nextUpdate, where from')
    .action((options: TrustStateOptions) =>
      runOnTrustState(options, ({ store }) => {
        const now = new Date();
        const crls = new CrlStore(store).list();
        return {
          json: { crls: crls.map((entry) => describeCrl(entry, now)) },
          text:
            crls.length === 0
              ? 'no CRLs stored\n'
              : table([
                  ['ISSUER', 'ENTRIES', 'THIS UPDATE', 'NEXT UPDATE', 'STALE', 'SOURCE'],
                  ...crls.map((entry) => [
                    entry.issuer,
                    String(entry.entries),
                    entry.thisUpdate.toISOString(),
                    entry.nextUpdate?.toISOString() ?? '-',
                    isStale(entry, now) ? 'yes' : 'no',
                    entry.source,
                  ]),
                ]),
        };
      }),
    );
}

function isStale(entry: CrlInfo, now: Date): boolean {
  return entry.nextUpdate !== undefined && entry.nextUpdate < now;
}

function describeCrl(entry: CrlInfo, now: Date): Record<string, unknown> {
  return {
    issuer: entry.issuer,
    issuerNameSha256: entry.issuerNameSha256,
    crlNumber: entry.crlNumber?.toString() ?? null,
    entries: entry.entries,
    thisUpdate: entry.thisUpdate.toISOString(),
    nextUpdate: entry.nextUpdate?.toISOString() ?? null,
    stale: isStale(entry, now),
    source: entry.source,
    fetchedAt: entry.fetchedAt.toISOString(),
    sha256: entry.sha256,
  };
}
