import { readFileSync } from 'node:fs';
import { type Command, Option } from 'commander';
import { type CrlInfo, CrlStore, TrustError } from '../trust/index.js';
import { crlIssuerCandidates } from '../trust/revocation/index.js';
import { runOnTrustState, type TrustStateOptions, table, withStateOptions } from './trust-state.js';

const BUNDLES = ['sensors', 'upstream'];

/**
 * `gatewayctl trust crl …`: revocation lists in the offline cache. An import is checked against the
 * CA certificates that chain to the bundle's anchors (issuer name, AKI, signature) and replaces the
 * CRL of the CA that signed it (its name and key) only; a running daemon re-reads it and closes the
 * sessions of sensors it now revokes.
 */
export function registerTrustCrlCommands(trust: Command): void {
  const crl = trust
    .command('crl')
    .description('certificate revocation lists in the offline cache (import, list)');

  withStateOptions(crl.command('import'))
    .description('store a CRL (PEM or DER) of a CA that chains to a trust anchor, after checking it')
    .argument('<file>', 'the CRL file')
    .addOption(new Option('--bundle <name>', 'bundle holding its issuer').choices(BUNDLES).default('sensors'))
    .option(
      '--issuer-cert <file>',
      'the certificate of the CA that signed the CRL (PEM or DER; a PEM file may carry the intermediates above it), when it is neither in the bundle nor seen on a sensor path',
    )
    .addHelpText(
      'after',
      `
The CRL must be signed by a CA that chains to an anchor of the bundle: an anchor or intermediate of
the bundle, an intermediate the gateway has seen on a validated sensor path, or the CA given with
--issuer-cert. Its issuer name, authorityKeyIdentifier (against the CA's subjectKeyIdentifier) and
signature must match that CA; it must not be older than the CRL stored for that CA (cRLNumber,
thisUpdate), and replaces that CA's CRL only, in one transaction: another CA with the same name
keeps its own. The output names the CA it was applied to (subject, SKI, certificate SHA-256).
Sessions of sensors it revokes are closed by a running daemon at once.

Examples:
  gatewayctl trust crl import sensor-ca.crl
  gatewayctl trust crl import issuing-ca.crl --issuer-cert issuing-ca.pem
  gatewayctl trust crl list --json | jq '.crls[] | {issuer, nextUpdate}'`,
    )
    .action((file: string, options: TrustStateOptions & { bundle: string; issuerCert?: string }) =>
      runOnTrustState(options, ({ store }) => {
        const bytes = readInput(file, 'CRL', 'give the path of a CRL in PEM or DER');
        const issuerCert = options.issuerCert;
        const candidates = crlIssuerCandidates(
          store,
          options.bundle,
          issuerCert === undefined
            ? undefined
            : {
                file: issuerCert,
                bytes: readInput(issuerCert, 'issuer certificate', 'give the CA certificate in PEM or DER'),
              },
        );
        const result = new CrlStore(store).import(bytes, candidates.ders, `file ${file}`, new Date());
        const next = result.nextUpdate?.toISOString() ?? 'none';
        const origin = candidates.origin.get(result.signerSha256) ?? 'anchor';
        const ski = result.signerSki ?? 'none';
        return {
          json: {
            issuer: result.issuer,
            appliedTo: {
              subject: result.signerSubject,
              ski: result.signerSki ?? null,
              sha256: result.signerSha256,
              signerKey: result.signerKey,
              origin,
            },
            crlNumber: result.crlNumber?.toString() ?? null,
            entries: result.entries,
            thisUpdate: result.thisUpdate.toISOString(),
            nextUpdate: result.nextUpdate?.toISOString() ?? null,
            replaced: result.replaced,
            unchanged: result.unchanged,
            revokedSerialsAdded: result.revokedSerialsAdded,
          },
          text:
            `stored the CRL of ${result.issuer}: ${result.entries} revoked (${result.revokedSerialsAdded} new), next update ${next}\n` +
            `applied to CA ${result.signerSubject} (SKI ${ski}, sha256 ${result.signerSha256}, ${origin})\n`,
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
                  ['ISSUER', 'SKI', 'ENTRIES', 'THIS UPDATE', 'NEXT UPDATE', 'STALE', 'SOURCE'],
                  ...crls.map((entry) => [
                    entry.issuer,
                    entry.signerSki ?? '-',
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
    signerSha256: entry.signerSha256,
    signerSki: entry.signerSki ?? null,
    signerKey: entry.signerKey,
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

function readInput(file: string, what: string, hint: string): Uint8Array {
  try {
    return readFileSync(file);
  } catch (cause) {
    throw new TrustError(
      'EGW_TRUST_MALFORMED',
      `cannot read the ${what} file ${file}: ${(cause as Error).message}`,
      {
        hint,
        cause,
      },
    );
  }
}
