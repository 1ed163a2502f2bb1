import { type Command, Option } from 'commander';
import { readableName } from '../pki/index.js';
import {
  CaRegistrations,
  commonNameOf,
  type DenyEntry,
  DenyList,
  denyTarget,
  type Enrollment,
  type EnrollmentKind,
  Enrollments,
  isCaCertificate,
  looksLikeThumbprint,
  type PendingCaRegistration,
  parseCertificate,
  readCertificateBlobs,
  readCertificatesFromFile,
  sha256Hex,
  verificationCommands,
} from '../trust/enrollment/index.js';
import {
  enrollmentKeyOf,
  type NameBinding,
  parseEnrollmentKey,
  SensorNames,
  TrustBundleStore,
  TrustError,
} from '../trust/index.js';
import {
  EXIT_STATUS_HELP,
  exitTwoOnUsageError,
  runOnTrustState,
  type TrustOutcome,
  type TrustStateOptions,
  table,
  withStateOptions,
} from './trust-state.js';

type Options = TrustStateOptions;

export function registerSensorsCommands(program: Command): void {
  const sensors = exitTwoOnUsageError(
    program
      .command('sensors')
      .description('which sensors may connect: CA registration, enrollments, the deny list'),
  ).addHelpText(
    'after',
    `
A sensor is admitted when its certificate path ends at an anchor of the "sensors" trust bundle and
it is enrolled: individually (its certificate's SHA-256) or through a group enrollment of a CA on
its path (optionally restricted to device types and a CN pattern), and it is not on the deny list.
An individual enrollment decides before any group one: disabling it shuts one sensor out of its group.

A CA is registered with proof of possession of its private key (as Azure DPS verifies CAs): "ca add"
prints a nonce and the openssl commands that make a certificate CN=<nonce> with the CA's key;
"ca verify" checks it, then trusts the CA and gives it a group enrollment. The key never comes here.

A sensor's upstream name (its CN, or what [trust] sensor_name_from names; sha256-<16 hex digits>
when that is missing or not topic-safe) belongs to the first enrollment that admits it; a certificate of another enrollment with the same name is refused (identity-conflict)
until "name release" frees the name or moves it (--to group:<sha256> | individual:<sha256>).

Changes are written to the state database (store.path in the config file) and a running daemon is
told to re-read them (control method trust.reload); when it is not running, they apply at its next start.
Run gatewayctl as the daemon's user (sudo -u edge-gatewayd gatewayctl …) so the database keeps its owner.

Examples:
  gatewayctl sensors ca add sensor-ca.pem --ca-key /secure/sensor-ca.key
  gatewayctl sensors ca verify --cert verification.pem
  gatewayctl sensors enroll --cert sensor-0042.pem --label "boiler room"
  gatewayctl sensors enroll --thumbprint 5D:8E:…:01
  gatewayctl sensors group add --ca sensor-ca.pem --device-type thermo --cn-pattern 'thermo-[0-9]+'
  gatewayctl sensors disable --group 3fa0…9c
  gatewayctl sensors block 0A1B2C3D --serial --reason "stolen 2024-05-02"
  gatewayctl sensors block --serial -- -0A1B2C   # a negative serial (lenient_serials), as openssl prints it
  gatewayctl sensors list --json | jq '.enrollments[] | select(.enabled | not)'
  gatewayctl sensors name release th-1 --to group:3fa0…9c
${EXIT_STATUS_HELP}`,
  );

  registerCaCommands(sensors);
  registerEnrollmentCommands(sensors);
  registerDenyCommands(sensors);
  registerNameCommands(sensors);
}

function registerNameCommands(sensors: Command): void {
  const name = sensors
    .command('name')
    .description('upstream sensor names and the enrollment each is bound to (identity-conflict)');

  withStateOptions(name.command('list'))
    .description('list the bound sensor names')
    .action((options: Options) =>
      runOnTrustState(options, ({ store }) => {
        const names = new SensorNames(store).list();
        return {
          json: { names: names.map(describeName) },
          text:
            names.length === 0
              ? 'no sensor name is bound yet\n'
              : table([
                  ['NAME', 'ENROLLMENT', 'SINCE', 'LABEL'],
                  ...names.map((entry) => [
                    entry.name,
                    entry.enrollment,
                    entry.boundAt.toISOString(),
                    entry.label || '-',
                  ]),
                ]),
        };
      }),
    );

  withStateOptions(name.command('release'))
    .description(
      'unbind a sensor name: the next enrollment presenting it binds it (or --to binds it to one at once)',
    )
    .argument('<name>', 'the upstream name (as `sensors name list` shows it; letter case does not matter)')
    .option('--to <enrollment>', 'bind it to this enrollment now: group:<CA SHA-256> or individual:<SHA-256>')
    .action((value: string, options: Options & { to?: string }) =>
      runOnTrustState(options, ({ store }) => {
        const to = options.to === undefined ? undefined : parseEnrollmentKey(options.to);
        const released = new SensorNames(store).release(value, to === undefined ? {} : { to });
        return {
          json: { released: describeName(released), boundTo: to ?? null },
          text: `released ${released.name} (was ${released.enrollment})${to ? `, now bound to ${to}` : ''}\n`,
          changed: true,
        };
      }),
    );
}

/** The bound names per enrollment key ("group:<sha256>"), in name order. */
function namesByEnrollment(bindings: readonly NameBinding[]): Map<string, NameBinding[]> {
  const names = new Map<string, NameBinding[]>();
  for (const binding of bindings)
    names.set(binding.enrollment, [...(names.get(binding.enrollment) ?? []), binding]);
  return names;
}

function describeName(entry: NameBinding): Record<string, unknown> {
  return {
    name: entry.name,
    enrollment: entry.enrollment,
    label: entry.label,
    subject: entry.subject,
    boundAt: entry.boundAt.toISOString(),
  };
}

function registerCaCommands(sensors: Command): void {
  const ca = sensors
    .command('ca')
    .description('register sensor CAs with proof of possession of their private key');

  withStateOptions(ca.command('add'))
    .description('register a CA certificate and print the nonce and the commands that prove its key')
    .argument('<ca.pem>', 'the CA certificate (PEM or DER; must have basicConstraints CA:TRUE)')
    .option('--ca-key <path>', "path of the CA's private key, only to print ready-to-run commands (not read)")
    .addHelpText(
      'after',
      '\nAdding the same CA again issues a new nonce; the old one stops working. The nonce is valid for\n' +
        'trust.enrollment.nonce_lifetime_s seconds (default 3600).',
    )
    .action((file: string, options: Options & { caKey?: string }) =>
      runOnTrustState(options, ({ config, store }) => {
        const der = onlyCertificate(file, 'the CA certificate');
        const registration = new CaRegistrations(store, {
          nonceLifetimeS: config.trust.enrollment.nonce_lifetime_s,
        }).add(der);
        const commands = verificationCommands(registration.nonce, {
          caCertificate: file,
          ...(options.caKey ? { caKey: options.caKey } : {}),
        });
        const [request, sign, verify] = commands;
        return {
          json: { registration: describeRegistration(registration), commands },
          text:
            `registered CA ${registration.subject}\n` +
            `  sha256  ${registration.caSha256}\n` +
            `  nonce   ${registration.nonce} (valid until ${registration.expiresAt.toISOString()})\n\n` +
            `Prove possession of the CA's private key: where the key is, run\n  ${request}\n  ${sign}\n` +
            `then bring verification.pem here and run\n  ${verify}\n`,
        };
      }),
    );

  withStateOptions(ca.command('verify'))
    .description('check a verification certificate (CN=<nonce>, signed by the CA); trust and enroll the CA')
    .requiredOption('--cert <file>', 'the verification certificate (PEM or DER)')
    .addHelpText(
      'after',
      '\nOn success the CA becomes an anchor of the "sensors" bundle with a group enrollment (enabled,\n' +
        'no constraints; add some with `sensors group add --ca`). Refusals (exit 1, EGW_TRUST_PROOF_REJECTED)\n' +
        'say which check failed: unknown nonce, expired nonce, signature, issuer name.',
    )
    .action((options: Options & { cert: string }) =>
      runOnTrustState(options, ({ store }) => {
        // Unchecked: an unparseable proof is a refusal that says how to make a proper one.
        const der = readCertificateBlobs(options.cert)[0] ?? new Uint8Array();
        const verified = new CaRegistrations(store).verify(der);
        const enrollment = verified.enrollmentCreated
          ? 'with a new group enrollment (enabled, no constraints)'
          : `keeping its existing group enrollment (${verified.enrollment.enabled ? 'enabled' : 'DISABLED'})`;
        return {
          json: {
            ca: { sha256: verified.caSha256, subject: verified.subject },
            enrollment: describeEnrollment(verified.enrollment),
            enrollmentCreated: verified.enrollmentCreated,
          },
          text: `verified CA ${verified.subject} (${verified.caSha256}): trusted in bundle sensors, ${enrollment}\n`,
          changed: true,
        };
      }),
    );

  withStateOptions(ca.command('list'))
    .description('list the pending CA registrations with their nonces')
    .action((options: Options) =>
      runOnTrustState(options, ({ store }) => {
        const pending = new CaRegistrations(store).list();
        const now = Date.now();
        return {
          json: { registrations: pending.map(describeRegistration) },
          text:
            pending.length === 0
              ? 'no pending CA registrations\n'
              : table([
                  ['SHA-256', 'NONCE', 'EXPIRES', 'SUBJECT'],
                  ...pending.map((entry) => [
                    entry.caSha256,
                    entry.nonce,
                    `${entry.expiresAt.toISOString()}${entry.expiresAt.getTime() < now ? ' (EXPIRED)' : ''}`,
                    entry.subject,
                  ]),
                ]),
        };
      }),
    );

  withStateOptions(ca.command('remove'))
    .description('drop a pending CA registration (a verified CA is removed with `trust remove`)')
    .argument('<sha256>', "the CA certificate's SHA-256 thumbprint")
    .action((sha256: string, options: Options) =>
      runOnTrustState(options, ({ store }) => {
        const removed = new CaRegistrations(store).remove(sha256);
        return {
          json: { removed: describeRegistration(removed) },
          text: `removed the pending registration of CA ${removed.subject} (${removed.caSha256})\n`,
        };
      }),
    );
}

function registerEnrollmentCommands(sensors: Command): void {
  withStateOptions(sensors.command('enroll'))
    .description("enroll one sensor by its certificate's SHA-256 (given, or computed from the certificate)")
    .addOption(
      new Option(
        '--thumbprint <sha256>',
        "the sensor certificate's SHA-256 (64 hex digits, colons allowed)",
      ).conflicts('cert'),
    )
    .addOption(
      new Option('--cert <sensor.pem>', 'the sensor certificate (PEM or DER; the first one in the file)'),
    )
    .option('--label <text>', 'a name for operators (default with --cert: its CN)')
    .addHelpText(
      'after',
      '\nA sensor whose certificate is individually enrolled needs no group enrollment; a self-signed one\n' +
        'is trusted by its thumbprint alone. Enrolling again updates the label and keeps enabled/disabled.',
    )
    .action(function (
      this: Command,
      options: Options & { thumbprint?: string; cert?: string; label?: string },
    ) {
      if (!options.thumbprint && !options.cert)
        this.error('error: give --thumbprint <sha256> or --cert <sensor.pem>');
      return runOnTrustState(options, ({ store }) => {
        let sha256 = options.thumbprint ?? '';
        let label = options.label;
        if (options.cert) {
          const der = firstCertificate(options.cert);
          const certificate = parseCertificate(der, options.cert);
          sha256 = sha256Hex(der);
          label ??= commonNameOf(certificate) ?? readableName(certificate.subject);
        }
        const { enrollment, created } = new Enrollments(store).addIndividual(sha256, label ? { label } : {});
        return enrollmentOutcome(enrollment, created);
      });
    });

  const group = sensors.command('group').description('group enrollments: every sensor issued under a CA');
  withStateOptions(group.command('add'))
    .description('enroll every sensor under a CA, optionally only some device types and CNs')
    .requiredOption('--ca <sha256|ca.pem>', "the CA: its certificate's SHA-256, or the certificate file")
    .option(
      '--device-type <type>',
      'allow this device type (repeat for several; default: any)',
      (value: string, previous: string[]) => [...previous, value],
      [] as string[],
    )
    .option('--cn-pattern <regex>', 'JavaScript regular expression the whole sensor CN must match')
    .option('--label <text>', 'a name for operators (default with a CA file: its subject)')
    .addHelpText(
      'after',
      '\nThe CA must also be in the "sensors" bundle (gatewayctl trust import, or sensors ca add/verify)\n' +
        'for its sensors to validate. Adding again replaces the constraints and keeps enabled/disabled.',
    )
    .action((options: Options & { ca: string; deviceType: string[]; cnPattern?: string; label?: string }) =>
      runOnTrustState(options, ({ store }) => {
        let sha256 = options.ca;
        let label = options.label;
        if (!looksLikeThumbprint(options.ca)) {
          const der = firstCertificate(options.ca);
          const certificate = parseCertificate(der, options.ca);
          if (!isCaCertificate(certificate)) {
            throw new TrustError(
              'EGW_TRUST_INVALID_ARGUMENT',
              `${readableName(certificate.subject)} in ${options.ca} is not a CA certificate (no basicConstraints CA:TRUE)`,
              { hint: 'enroll a single sensor with `gatewayctl sensors enroll --cert`' },
            );
          }
          sha256 = sha256Hex(der);
          label ??= readableName(certificate.subject);
        }
        const constraints = {
          ...(options.deviceType.length > 0 ? { deviceTypes: options.deviceType } : {}),
          ...(options.cnPattern !== undefined ? { cnPattern: options.cnPattern } : {}),
        };
        const { enrollment, created } = new Enrollments(store).addGroup(sha256, {
          constraints,
          ...(label ? { label } : {}),
        });
        const outcome = enrollmentOutcome(enrollment, created);
        if (
          !new TrustBundleStore(store).list('sensors').some((entry) => entry.sha256 === enrollment.sha256)
        ) {
          outcome.warnings = [
            `CA ${enrollment.sha256} is not in the "sensors" bundle: its sensors cannot validate until it is ` +
              '(gatewayctl trust import --bundle sensors <ca.pem>, or sensors ca add/verify)',
          ];
        }
        return outcome;
      }),
    );

  const stateChange = (name: 'enable' | 'disable' | 'remove', description: string) =>
    withStateOptions(sensors.command(name))
      .description(description)
      .argument(
        '<sha256>',
        'SHA-256 thumbprint of the sensor certificate (with --group: of the CA certificate)',
      )
      .option('--group', "the CA's group enrollment (default: a sensor's individual enrollment)")
      .action((sha256: string, options: Options & { group?: boolean }) =>
        runOnTrustState(options, ({ store }) => {
          const kind: EnrollmentKind = options.group ? 'group' : 'individual';
          const enrollments = new Enrollments(store);
          const result =
            name === 'enable'
              ? enrollments.enable(kind, sha256)
              : name === 'disable'
                ? enrollments.disable(kind, sha256)
                : enrollments.remove(kind, sha256);
          const done = { enable: 'enabled', disable: 'disabled', remove: 'removed' }[name];
          return {
            json: { [done]: describeEnrollment(result) },
            text: `${done} ${kind} enrollment ${result.sha256}${result.label ? ` (${result.label})` : ''}\n`,
            changed: true,
          };
        }),
      );
  stateChange('enable', 'enable an enrollment again');
  stateChange('disable', 'disable an enrollment (its sensors are refused; it is kept for enable)');
  stateChange('remove', 'remove an enrollment');

  withStateOptions(sensors.command('list'))
    .description('list the enrollments: kind, state, SHA-256, label, constraints, bound upstream names')
    .action((options: Options) =>
      runOnTrustState(options, ({ store }) => {
        const enrollments = new Enrollments(store).list();
        const names = namesByEnrollment(new SensorNames(store).list());
        const namesOf = (entry: Enrollment) => names.get(enrollmentKeyOf(entry)) ?? [];
        const listedKeys = new Set(enrollments.map(enrollmentKeyOf));
        // Bound to no listed enrollment: a sensor_ca_files anchor (enrolled by the config file) or a removed one.
        const others = [...names].flatMap(([key, bound]) => (listedKeys.has(key) ? [] : bound));
        const listed =
          enrollments.length === 0
            ? 'no enrollments\n'
            : table([
                ['KIND', 'STATE', 'SHA-256', 'LABEL', 'CONSTRAINTS', 'NAMES'],
                ...enrollments.map((entry) => [
                  entry.kind,
                  entry.enabled ? 'enabled' : 'disabled',
                  entry.sha256,
                  entry.label || '-',
                  constraintsText(entry),
                  namesOf(entry)
                    .map((binding) => binding.name)
                    .join(', ') || '-',
                ]),
              ]);
        return {
          json: {
            enrollments: enrollments.map((entry) => ({
              ...describeEnrollment(entry),
              names: namesOf(entry).map((binding) => binding.name),
            })),
            otherNames: others.map(describeName),
          },
          text:
            others.length === 0
              ? listed
              : `${listed}\nnames bound to enrollments not listed above (sensor_ca_files anchors, removed enrollments):\n` +
                table([
                  ['NAME', 'ENROLLMENT', 'SINCE', 'LABEL'],
                  ...others.map((entry) => [
                    entry.name,
                    entry.enrollment,
                    entry.boundAt.toISOString(),
                    entry.label || '-',
                  ]),
                ]),
        };
      }),
    );
}

function registerDenyCommands(sensors: Command): void {
  const targetArgument =
    'a sensor certificate SHA-256 (64 hex digits) or serial (hex; colons allowed; a negative one as openssl prints it, after --: -0A1B or (Negative)0A:1B)';
  const serialOption = '--serial';
  const serialHelp = 'read the value as a certificate serial even if it looks like a thumbprint';

  withStateOptions(sensors.command('block'))
    .description('put a sensor certificate on the deny list (refused whatever its enrollment says)')
    .argument('<thumbprint|serial>', targetArgument)
    .option(serialOption, serialHelp)
    .option('--reason <text>', 'why (shown in the refusal and in `sensors blocked`)')
    .action((value: string, options: Options & { serial?: boolean; reason?: string }) =>
      runOnTrustState(options, ({ store }) => {
        const target = denyTarget(value, { serial: Boolean(options.serial) });
        const { entry, created } = new DenyList(store).add(
          target.kind,
          target.value,
          options.reason !== undefined ? { reason: options.reason } : {},
        );
        return {
          json: { blocked: describeDenyEntry(entry), created },
          text: `${created ? 'blocked' : 'already blocked, reason updated:'} ${denyText(entry)}\n`,
          changed: true,
        };
      }),
    );

  withStateOptions(sensors.command('unblock'))
    .description('take a sensor certificate off the deny list')
    .argument('<thumbprint|serial>', targetArgument)
    .option(serialOption, serialHelp)
    .action((value: string, options: Options & { serial?: boolean }) =>
      runOnTrustState(options, ({ store }) => {
        const target = denyTarget(value, { serial: Boolean(options.serial) });
        const entry = new DenyList(store).remove(target.kind, target.value);
        return {
          json: { unblocked: describeDenyEntry(entry) },
          text: `unblocked ${denyText(entry)}\n`,
          changed: true,
        };
      }),
    );

  withStateOptions(sensors.command('blocked'))
    .description('list the deny list')
    .action((options: Options) =>
      runOnTrustState(options, ({ store }) => {
        const entries = new DenyList(store).list();
        return {
          json: { blocked: entries.map(describeDenyEntry) },
          text:
            entries.length === 0
              ? 'the deny list is empty\n'
              : table([
                  ['KIND', 'VALUE', 'SINCE', 'REASON'],
                  ...entries.map((entry) => [
                    entry.kind === 'sha256' ? 'thumbprint' : 'serial',
                    entry.value,
                    entry.createdAt.toISOString(),
                    entry.reason || '-',
                  ]),
                ]),
        };
      }),
    );
}

/** The first certificate of a file (a sensor's PEM often carries its chain after it). */
function firstCertificate(file: string): Uint8Array {
  const [first] = readCertificatesFromFile(file);
  if (!first) throw new TrustError('EGW_TRUST_MALFORMED', `${file} holds no certificate`);
  return first;
}

/** The one certificate of a file: registering "the CA" from a chain file would guess which one. */
function onlyCertificate(file: string, what: string): Uint8Array {
  const ders = readCertificatesFromFile(file);
  if (ders.length !== 1 || !ders[0]) {
    throw new TrustError(
      'EGW_TRUST_INVALID_ARGUMENT',
      `${file} holds ${ders.length} certificates; give ${what} alone`,
      { hint: 'split the file, e.g. with `openssl x509 -in chain.pem -out ca.pem` (writes the first)' },
    );
  }
  return ders[0];
}

function enrollmentOutcome(enrollment: Enrollment, created: boolean): TrustOutcome {
  const state = enrollment.enabled ? '' : ' (DISABLED: `gatewayctl sensors enable` to admit its sensors)';
  return {
    json: { enrollment: describeEnrollment(enrollment), created },
    text:
      `${created ? 'enrolled' : 'updated'} ${enrollment.kind} ${enrollment.sha256}` +
      `${enrollment.label ? ` (${enrollment.label})` : ''}` +
      `${enrollment.kind === 'group' ? `, constraints: ${constraintsText(enrollment)}` : ''}${state}\n`,
    changed: true,
  };
}

function constraintsText(enrollment: Enrollment): string {
  const { deviceTypes, cnPattern } = enrollment.constraints;
  const parts = [
    ...(deviceTypes ? [`device types ${deviceTypes.join(', ')}`] : []),
    ...(cnPattern ? [`CN /${cnPattern}/`] : []),
  ];
  return enrollment.kind === 'individual' ? '-' : parts.length > 0 ? parts.join('; ') : 'none';
}

function describeEnrollment(enrollment: Enrollment): Record<string, unknown> {
  return {
    kind: enrollment.kind,
    sha256: enrollment.sha256,
    label: enrollment.label,
    enabled: enrollment.enabled,
    constraints: enrollment.constraints,
    createdAt: enrollment.createdAt.toISOString(),
    updatedAt: enrollment.updatedAt.toISOString(),
  };
}

function describeRegistration(registration: PendingCaRegistration): Record<string, unknown> {
  return {
    caSha256: registration.caSha256,
    subject: registration.subject,
    nonce: registration.nonce,
    expiresAt: registration.expiresAt.toISOString(),
    createdAt: registration.createdAt.toISOString(),
  };
}

function describeDenyEntry(entry: DenyEntry): Record<string, unknown> {
  return {
    kind: entry.kind,
    value: entry.value,
    reason: entry.reason,
    createdAt: entry.createdAt.toISOString(),
  };
}

function denyText(entry: DenyEntry): string {
  return `${entry.kind === 'sha256' ? 'thumbprint' : 'serial'} ${entry.value}${entry.reason ? ` (${entry.reason})` : ''}`;
}
