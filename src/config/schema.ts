import { z } from 'zod';
import { metricsSchema } from './metrics-schema.js';

/**
 * Where a sensor's upstream name comes from (trust.sensor_name_from): the subject CN, the subject
 * serialNumber attribute, or the first dNSName subjectAltName. URI and email SANs are not offered:
 * they always hold ":", "/" or "@", which an upstream name may not, so every sensor would fall back.
 */
export const SENSOR_NAME_SOURCES = ['cn', 'serialNumber', 'san:dns'] as const;

/** Log levels pino understands, most severe first. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * Where the daemon keeps state and its control socket when the config does not say.
 * systemd hands these over as STATE_DIRECTORY / RUNTIME_DIRECTORY (StateDirectory=, RuntimeDirectory=).
 */
export interface ConfigDefaults {
  stateDirectory: string;
  runtimeDirectory: string;
}

export function defaultsFromEnvironment(env: NodeJS.ProcessEnv = process.env): ConfigDefaults {
  // systemd may pass several colon-separated directories; the first is ours.
  const first = (value: string | undefined) => value?.split(':')[0] || undefined;
  return {
    stateDirectory: first(env.STATE_DIRECTORY) ?? '/var/lib/edge-gatewayd',
    runtimeDirectory: first(env.RUNTIME_DIRECTORY) ?? '/run/edge-gatewayd',
  };
}

const absolutePath = z.string().min(1).startsWith('/', { message: 'an absolute path (starting with "/")' });

/**
 * The whole config file. Every table is strict (unknown keys are errors) and every key has a default
 * except where a value can only come from the operator. Keep config/gateway.example.toml in step:
 * a test loads it with every commented key switched on and checks it equals these defaults.
 */
export function configSchema(defaults: ConfigDefaults) {
  return z.strictObject({
    log: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info'),
        format: z.enum(['json', 'pretty']).default('json'),
      })
      .prefault({}),
    store: z
      .strictObject({
        path: absolutePath.default(`${defaults.stateDirectory}/state.db`),
      })
      .prefault({}),
    control: z
      .strictObject({
        socket: absolutePath.max(107).default(`${defaults.runtimeDirectory}/control.sock`),
      })
      .prefault({}),
    identity: z
      .strictObject({
        certificate_dir: absolutePath.default(`${defaults.stateDirectory}/identity`),
        key: z
          .strictObject({
            backend: z.enum(['tpm', 'atecc608', 'software']).default('tpm'),
            call_timeout_ms: z.number().int().min(100).max(60_000).default(5_000),
            tpm: z
              .strictObject({
                tcti: z.string().min(1).default('device:/dev/tpmrm0'),
                persistent_handle: z
                  .number()
                  .int()
                  .refine((handle) => handle >= 0x81000000 && handle <= 0x8100ffff, {
                    // TCG provisioning guidance: 0x8101xxxx is for endorsement keys, 0x818xxxxx for the platform.
                    message: 'a persistent owner handle, 0x81000000 to 0x8100ffff',
                  })
                  .default(0x81000100),
                // The identity keys' authValue (keys/tpm/tpm-key-auth.ts): a 0600 file made with the
                // first key ("" = tpm-key-auth in certificate_dir), unless systemd passes the credential.
                auth_file: z
                  .string()
                  .refine((value) => value === '' || value.startsWith('/'), {
                    message: 'an absolute path, or "" for tpm-key-auth in identity.certificate_dir',
                  })
                  .default(''),
                auth_credential: z
                  .string()
                  .regex(/^[A-Za-z0-9._-]*$/, { message: 'a systemd credential name, or "" for none' })
                  .default('tpm-key-auth'),
                // New keys usable only while these PCRs keep their values (keys/tpm/tpm-key-policy.ts).
                pcr_policy: z
                  .string()
                  .regex(/^$|^(sha1|sha256|sha384):([0-9]|1[0-9]|2[0-3])(,([0-9]|1[0-9]|2[0-3]))*$/, {
                    message: 'a PCR selection such as "sha256:7" (one bank, PCRs 0–23), or "" for none',
                  })
                  .default(''),
              })
              .prefault({}),
            atecc608: z
              .strictObject({
                bus: z.number().int().min(0).max(255).default(1),
                address: z.number().int().min(0x08).max(0x77).default(0x60),
                key_slot: z
                  .number()
                  .int()
                  .min(0)
                  .max(7, { message: 'a key slot is one of the 36-byte slots 0–7' })
                  .default(0),
                simulator_state: z
                  .string()
                  .refine((value) => value === '' || value.startsWith('/'), {
                    message: 'an absolute path, or "" for the real part',
                  })
                  .default(''),
                simulator_timing: z.boolean().default(true),
              })
              .prefault({}),
            software: z
              .strictObject({
                path: absolutePath.default(`${defaults.stateDirectory}/identity-key.pem`),
              })
              .prefault({}),
          })
          .prefault({}),
        csr: z
          .strictObject({
            common_name: z.string().min(1).default('device-{serial}'),
            san_dns: z.array(z.string().min(1)).default(['device-{serial}']),
            san_uri: z.array(z.string().min(1)).default([]),
            server_auth: z.boolean().default(true),
            device_type: z.string().min(1).default('edge-gateway'),
            device_type_oid: z
              .string()
              .regex(/^[0-2](\.(0|[1-9][0-9]*))+$/, {
                message: 'a dotted OID such as "1.3.6.1.4.1.12345.1.1"',
              })
              .default('1.3.6.1.4.1.12345.1.1'),
          })
          .prefault({}),
        est: z
          .strictObject({
            url: z
              .string()
              .refine((value) => value === '' || /^https:\/\/[^/]+/.test(value), {
                message: 'an https:// URL, or "" for none',
              })
              .default(''),
            label: z
              .string()
              .regex(/^[A-Za-z0-9._~-]*$/, { message: 'one URL path segment (letters, digits, . _ ~ -)' })
              .default(''),
            trust_anchor_file: optionalPath,
            username: z.string().default(''),
            password: z.string().default(''),
            timeout_ms: z.number().int().min(1000).max(600_000).default(60_000),
            // What an issued certificate may be named: "csr" = the CN asked for and only SAN names asked
            // for; "any" = whatever the CA decides (a CA that renames devices).
            issued_names: z.enum(['csr', 'any']).default('csr'),
            // RFC 7030 §3.5: "auto" binds the CSR to the TLS channel when /csrattrs asks (challengePassword).
            proof_of_possession: z.enum(['auto', 'always', 'never']).default('auto'),
          })
          .prefault({}),
        renewal: z
          .strictObject({
            lifetime_fraction: z.number().gt(0).lt(1).default(0.8),
            days_before_expiry: z.number().min(0).max(3650).default(30),
            jitter_fraction: z.number().min(0).max(0.2).default(0.02),
            retry_initial_ms: z.number().int().min(10).max(86_400_000).default(5_000),
            retry_max_ms: z.number().int().min(10).max(604_800_000).default(3_600_000),
            rebootstrap_when_expired: z.boolean().default(true),
            rotate_key: z.boolean().default(false),
            // A request the EST server keeps pending (202) this long is abandoned for a new one (with
            // rotate_key, a new key); 0 = never. Default 7 days: a manual approval over a long weekend.
            abandon_pending_after_ms: z.number().int().min(0).max(31_536_000_000).default(604_800_000),
          })
          .prefault({}),
        // Attested enrolment (identity/attestation/): TPM evidence (certify, quote, EK certificate)
        // in the CSR. Off by default: it needs an EST server that offers /attest-challenge.
        attestation: z
          .strictObject({
            // "atecc608": the part's manufacturer chain + a device-key signature over the server's nonce.
            mode: z.enum(['off', 'tpm', 'atecc608']).default('off'),
            pcr_selection: z
              .string()
              .regex(/^(sha1|sha256|sha384):([0-9]|1[0-9]|2[0-3])(,([0-9]|1[0-9]|2[0-3]))*$/, {
                message: 'a PCR selection such as "sha256:0,1,2,3,4,5,6,7" (one bank, PCRs 0–23)',
              })
              .default('sha256:0,1,2,3,4,5,6,7'),
          })
          .prefault({}),
      })
      .superRefine((identity, context) => {
        if (identity.attestation.mode === 'tpm' && identity.key.backend !== 'tpm') {
          context.addIssue({
            code: 'custom',
            path: ['attestation', 'mode'],
            message: `"tpm" needs identity.key.backend = "tpm" (it is "${identity.key.backend}")`,
          });
        }
        if (identity.attestation.mode === 'atecc608' && identity.key.backend !== 'atecc608') {
          context.addIssue({
            code: 'custom',
            path: ['attestation', 'mode'],
            message: `"atecc608" needs identity.key.backend = "atecc608" (it is "${identity.key.backend}")`,
          });
        }
      })
      .prefault({}),
    downstream: z
      .strictObject({
        dtls: dtlsSchema(),
        coap: z
          .strictObject({
            max_payload_bytes: z
              .number()
              .int()
              .min(64)
              .max(16 * 1024 * 1024)
              .default(64 * 1024),
            command_ttl_s: z.number().int().min(1).max(2_592_000).default(3600),
          })
          .prefault({}),
      })
      .prefault({}),
    upstream: upstreamSchema(),
    trust: trustSchema(),
    daemon: z
      .strictObject({
        shutdown_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
      })
      .prefault({}),
    metrics: metricsSchema(),
  });
}

const optionalPath = z
  .string()
  .refine((value) => value === '' || value.startsWith('/'), { message: 'an absolute path, or "" for none' })
  .default('');

/** A number, or "auto" (the default): the daemon works the value out (see where it is used). */
function auto<T extends z.ZodNumber>(value: T) {
  return z.union([z.literal('auto'), value]).default('auto');
}

/** [downstream.dtls]: the CoAP/DTLS endpoint sensors connect to. */
function dtlsSchema() {
  return z
    .strictObject({
      enabled: z.boolean().default(false),
      host: z.string().min(1).default('::'),
      port: z.number().int().min(0).max(65535).default(5684),
      server_key: z.enum(['identity', 'file']).default('identity'),
      key_file: optionalPath,
      certificate_file: optionalPath,
      sensor_ca_files: z.array(absolutePath).default([]),
      ciphers: z.string().default(''),
      mtu: z.number().int().min(256).max(9000).default(1200),
      handshake_timeout_ms: z.number().int().min(1000).max(600_000).default(30_000),
      idle_timeout_ms: z.number().int().min(1000).max(86_400_000).default(300_000),
      max_sessions: z.number().int().min(1).max(1_000_000).default(5000),
      // The signature budget (full handshakes; see README "Handshake budget"): "auto" sizes it from
      // signatures_per_second, which "auto" measures on the server key at start.
      signatures_per_second: auto(z.number().min(0.1).max(1_000_000)),
      handshakes_per_second: auto(z.number().min(0.1).max(1_000_000)),
      handshake_burst: auto(z.number().int().min(1).max(1_000_000)),
      handshakes_per_second_per_address: auto(z.number().min(0.1).max(100_000)),
      handshake_burst_per_address: auto(z.number().int().min(1).max(100_000)),
      half_open_handshakes: z.number().int().min(1).max(1_000_000).default(256),
      half_open_handshakes_per_address: z.number().int().min(1).max(100_000).default(8),
      // Half-open resumptions the server recognized (valid ticket or cached session id): no signature,
      // one round trip, so a fleet resuming after a restart has its own, larger allowance.
      half_open_resumptions: z.number().int().min(1).max(4_000_000).default(1024),
      // SO_RCVBUF of the DTLS socket (Linux caps it at net.core.rmem_max; the effective size is logged).
      receive_buffer_bytes: z
        .number()
        .int()
        .min(4096)
        .max(1 << 30)
        .default(4 << 20),
      // Sensor worker threads (README "Sensor workers"): 1 serves sensors on the main thread; N ≥ 2 runs
      // N endpoints on one SO_REUSEPORT port, the kernel keeping each sensor on one of them.
      workers: z.number().int().min(1).max(64).default(1),
      ipv6_prefix_length: z.number().int().min(1).max(128).default(64),
      max_tracked_addresses: z.number().int().min(1).max(1_000_000).default(4096),
      cookie_lifetime_s: z.number().int().min(1).max(3600).default(30),
      // RFC 5077 tickets under rotating keys kept in the state DB, wrapped by a systemd credential:
      // sessions survive a restart (README "Sessions across restarts").
      session_tickets: z.boolean().default(true),
      session_ticket_lifetime_s: z.number().int().min(60).max(604_800).default(86_400),
      session_ticket_key_credential: z
        .string()
        .regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a systemd credential name (letters, digits, "_", ".", "-")')
        .default('dtls-ticket-key'),
    })
    .superRefine((dtls, context) => {
      if (dtls.server_key === 'file') {
        for (const key of ['key_file', 'certificate_file'] as const) {
          if (!dtls[key])
            context.addIssue({ code: 'custom', path: [key], message: 'a file when server_key = "file"' });
        }
      }
    })
    .prefault({});
}

/** [upstream]: the MQTT 5 broker telemetry goes to, over mutual TLS under the gateway identity. */
function upstreamSchema() {
  return z
    .strictObject({
      enabled: z.boolean().default(false),
      broker_url: z
        .string()
        .refine((value) => value === '' || /^mqtts:\/\/[^/]+$/.test(value), {
          message: 'an mqtts://host:port URL (TLS only), or "" for none',
        })
        .default(''),
      trust_anchor_file: optionalPath,
      client_id: z.string().default(''),
      keepalive_s: z.number().int().min(5).max(3600).default(30),
      reconnect_initial_ms: z.number().int().min(10).max(3_600_000).default(1000),
      reconnect_max_ms: z.number().int().min(10).max(3_600_000).default(60_000),
      telemetry_topic: z
        .string()
        .refine((value) => value.includes('{sensorId}') && !/[+#]/.test(value), {
          message: 'a topic containing {sensorId} and no wildcards',
        })
        .default('devices/{sensorId}/telemetry'),
      commands_topic: z
        .string()
        .refine((value) => value.includes('+') && !value.includes('#'), {
          message: 'a topic filter with "+" where the sensor id is',
        })
        .default('devices/+/commands'),
      outbox: z
        .strictObject({
          max_rows: z.number().int().min(1).max(100_000_000).default(1_000_000),
          max_bytes: z
            .number()
            .int()
            .min(1024)
            .max(64 * 1024 * 1024 * 1024)
            .default(256 * 1024 * 1024),
          when_full: z.enum(['refuse', 'drop-oldest']).default('refuse'),
          refuse_max_age_s: z.number().int().min(1).max(3600).default(30),
          commit_interval_ms: z.number().int().min(0).max(1000).default(5),
          commit_batch: z.number().int().min(1).max(100_000).default(256),
          // The most of max_rows and max_bytes one sensor may hold, so one cannot deny the others.
          per_sensor_share: z.number().gt(0).max(1).default(0.1),
        })
        .prefault({}),
      commands: z
        .strictObject({
          // Larger commands are refused at ingress (reported upstream). Those larger than one block
          // at downstream.dtls.mtu go to the sensor block-wise (Block2); the default is the bound of
          // a block-wise body the endpoint takes (downstream.coap.max_payload_bytes' default).
          max_bytes: z
            .number()
            .int()
            .min(16)
            .max(16 * 1024 * 1024)
            .default(64 * 1024),
          // A publisher's message expiry interval is cut to this (none: downstream.coap.command_ttl_s).
          max_expiry_s: z.number().int().min(1).max(2_592_000).default(86_400),
          // Registrations of the sensor that began with the command at the head of its queue and
          // ended without delivering it: then it is given up, so it holds no command behind it.
          max_attempts: z.number().int().min(1).max(1000).default(5),
          // Where a refused or given-up command is reported when it carried no MQTT 5 response topic.
          refusals_topic: z
            .string()
            .refine((value) => value === '' || (value.includes('{sensorId}') && !/[+#]/.test(value)), {
              message: 'a topic containing {sensorId} and no wildcards, or "" for none',
            })
            .default('devices/{sensorId}/commands/refused'),
        })
        .prefault({}),
    })
    .prefault({});
}

const oid = z.string().regex(/^[0-2](\.(0|[1-9][0-9]*))+$/, {
  message: 'a dotted OID such as "1.3.6.1.4.1.12345.1.1"',
});

/** How a bundle's certificates are judged when their CRL is missing or past nextUpdate. */
function bundleSchema(policy: 'hard-fail' | 'soft-fail' | 'grace') {
  return z
    .strictObject({
      crl_policy: z.enum(['hard-fail', 'soft-fail', 'grace']).default(policy),
      crl_grace_hours: z.number().min(0).max(8760).default(72),
    })
    .prefault({});
}

const COAP_METHODS = ['GET', 'POST', 'PUT', 'DELETE', 'FETCH', 'PATCH', 'iPATCH'] as const;

/** [trust]: sensor certificate validation, revocation, enrollment and authorization. */
function trustSchema() {
  return z
    .strictObject({
      device_type_oid: oid.default('1.3.6.1.4.1.12345.1.1'),
      sensor_name_from: z.enum(SENSOR_NAME_SOURCES).default('cn'),
      allowed_curves: z
        .array(z.enum(['P-256', 'P-384', 'P-521']))
        .min(1)
        .default(['P-256', 'P-384']),
      allow_ed25519: z.boolean().default(false),
      // Never below 2048: OpenSSL 3.5's security level 2, which the TLS engine keeps on every path
      // (src/tls/security-policy.ts), refuses RSA under 2048 bits (112-bit strength). The sensor trust
      // module judges sensor chains in OpenSSL's place (chainVerification 'application', where
      // OpenSSL's own key checks do not run), so this floor is what keeps the two consistent: a lower
      // value would admit sensors the rest of the gateway refuses. Higher values tighten it.
      min_rsa_bits: z
        .number()
        .int()
        .max(16384)
        .refine((bits) => bits >= 2048, {
          message:
            'at least 2048 (RSA below 2048 bits is under OpenSSL security level 2, 112-bit, which the gateway keeps for all TLS)',
        })
        .default(2048),
      max_chain_depth: z.number().int().min(1).max(8).default(4),
      // RFC 5280 §4.1.2.2 serials (positive, at most 20 octets) unless a legacy sensor PKI needs this.
      lenient_serials: z.boolean().default(false),
      // RFC 5280's certificate profile (key identifiers, criticality marks, empty subjects, dNSName
      // syntax) unless a legacy sensor PKI needs this; see src/trust/validation/certificate-profile.ts.
      lenient_profile: z.boolean().default(false),
      bundles: z
        .strictObject({
          sensors: bundleSchema('grace'),
          upstream: bundleSchema('soft-fail'),
        })
        .prefault({}),
      revocation: z
        .strictObject({
          fetch: z.boolean().default(true),
          fetch_timeout_ms: z.number().int().min(100).max(600_000).default(10_000),
          max_crl_bytes: z
            .number()
            .int()
            .min(1024)
            .max(1024 * 1024 * 1024)
            .default(128 * 1024 * 1024),
          refresh_before_next_update_s: z.number().int().min(0).max(2_592_000).default(3600),
          retry_initial_ms: z.number().int().min(10).max(86_400_000).default(60_000),
          retry_max_ms: z.number().int().min(10).max(604_800_000).default(3_600_000),
          ocsp: z.boolean().default(false),
          ocsp_timeout_ms: z.number().int().min(100).max(60_000).default(5000),
          ocsp_refresh_before_next_update_s: z.number().int().min(0).max(86_400).default(300),
        })
        .prefault({}),
      enrollment: z
        .strictObject({
          nonce_lifetime_s: z.number().int().min(10).max(2_592_000).default(3600),
          challenge_lifetime_s: z.number().int().min(1).max(3600).default(60),
        })
        .prefault({}),
      authorization: z
        .array(
          z.strictObject({
            name: z.string().min(1),
            device_types: z.array(z.string().min(1)).default([]),
            cn_pattern: z
              .string()
              .refine(
                (value) => {
                  try {
                    new RegExp(value);
                    return true;
                  } catch {
                    return false;
                  }
                },
                { message: 'a JavaScript regular expression' },
              )
              .default(''),
            enrollment: z.enum(['any', 'individual', 'group']).default('any'),
            resources: z
              .array(
                z.string().regex(/^\/[^?#]*$/, { message: 'a path such as "/telemetry" or "/sensors/*"' }),
              )
              .min(1),
            methods: z.array(z.enum(COAP_METHODS)).min(1),
          }),
        )
        .default([
          {
            name: 'sensors',
            device_types: [],
            cn_pattern: '',
            enrollment: 'any',
            resources: ['/telemetry', '/commands', '/time', '/.well-known/core'],
            methods: ['GET', 'POST'],
          },
        ]),
    })
    .prefault({});
}

export type Config = z.infer<ReturnType<typeof configSchema>>;

/**
 * Keys a running daemon can apply on SIGHUP. Everything else needs a restart; the reload says which.
 * Paths are dotted key paths, as the operator writes them.
 */
export const RELOADABLE_KEYS: ReadonlySet<string> = new Set(['log.level']);
