import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, changedKeys, loadConfigFile, parseConfigText } from '../../../src/config/index.js';

const defaults = { stateDirectory: '/var/lib/edge-gatewayd', runtimeDirectory: '/run/edge-gatewayd' };
const examplePath = new URL('../../../config/gateway.example.toml', import.meta.url).pathname;

function problemsOf(text: string): string {
  try {
    parseConfigText(text, 'gateway.toml', defaults);
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).message;
  }
  throw new Error('expected the config to be refused');
}

describe('config/gateway.example.toml', () => {
  it('loads as shipped, giving the defaults', () => {
    const config = loadConfigFile(examplePath, defaults);
    expect(config).toEqual(parseConfigText('', 'empty.toml', defaults));
  });

  it('documents every key with its true default: uncommenting every key changes nothing', () => {
    const text = readFileSync(examplePath, 'utf8');
    const uncommented = text.replace(/^# ([a-z_]+ = .+)$/gm, '$1');
    expect(uncommented).not.toEqual(text);
    expect(parseConfigText(uncommented, 'uncommented.toml', defaults)).toEqual(
      parseConfigText('', 'empty.toml', defaults),
    );
  });

  it('mentions every key the schema knows, under its own table', () => {
    const text = readFileSync(examplePath, 'utf8');
    const tables = text.split(/^(?=\[)/m);
    const visit = (node: Record<string, unknown>, table: string) => {
      for (const [key, value] of Object.entries(node)) {
        if (value && typeof value === 'object' && !Array.isArray(value)) {
          visit(value as Record<string, unknown>, table ? `${table}.${key}` : key);
          continue;
        }
        const section = tables.find((chunk) => chunk.startsWith(`[${table}]\n`));
        expect(section, `[${table}] is missing`).toBeDefined();
        expect(section).toMatch(new RegExp(`^# ${key} = `, 'm'));
      }
    };
    visit(parseConfigText('', 'empty.toml', defaults), '');
  });
});

describe('defaults', () => {
  it('follow STATE_DIRECTORY and RUNTIME_DIRECTORY from systemd', () => {
    const config = parseConfigText('', 'x.toml', { stateDirectory: '/srv/s', runtimeDirectory: '/run/r' });
    expect(config.store.path).toBe('/srv/s/state.db');
    expect(config.control.socket).toBe('/run/r/control.sock');
  });
});

describe('bad configs name the key, the value found and what is expected', () => {
  const cases: [string, string, string][] = [
    ['misspelt table', '[loggin]\nlevel = "info"\n', '  - loggin: unknown key; did you mean "log"?'],
    ['misspelt key', '[store]\npth = "/x.db"\n', '  - store.pth: unknown key; did you mean "path"?'],
    [
      'unknown key with no near match',
      '[log]\ncolour = true\n',
      '  - log.colour: unknown key; known keys in [log]: level, format',
    ],
    [
      'value outside an enum',
      '[log]\nlevel = "verbose"\n',
      '  - log.level: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"; found "verbose"',
    ],
    [
      'string where a number belongs',
      '[daemon]\nshutdown_timeout_ms = "10s"\n',
      '  - daemon.shutdown_timeout_ms: expected a number, found "10s"',
    ],
    [
      'fraction where an integer belongs',
      '[daemon]\nshutdown_timeout_ms = 1.5\n',
      '  - daemon.shutdown_timeout_ms: expected an integer, found 1.5',
    ],
    [
      'number below its minimum',
      '[daemon]\nshutdown_timeout_ms = 50\n',
      '  - daemon.shutdown_timeout_ms: expected a number at least 100, found 50',
    ],
    [
      'number above its maximum',
      '[daemon]\nshutdown_timeout_ms = 900000\n',
      '  - daemon.shutdown_timeout_ms: expected a number at most 600000, found 900000',
    ],
    [
      'relative path',
      '[store]\npath = "state.db"\n',
      '  - store.path: expected an absolute path (starting with "/"), found "state.db"',
    ],
    ['value where a table belongs', 'log = "debug"\n', '  - log: expected a table, found "debug"'],
    [
      'socket path over the kernel limit',
      `[control]\nsocket = "/${'s'.repeat(120)}"\n`,
      `  - control.socket: expected a string at most 107 characters long, found "/${'s'.repeat(56)}..."`,
    ],
    [
      'TPM handle outside the persistent range',
      '[identity.key.tpm]\npersistent_handle = 0x80000001\n',
      '  - identity.key.tpm.persistent_handle: expected a persistent owner handle, 0x81000000 to 0x8100ffff, found 2147483649',
    ],
    [
      'unknown key backend',
      '[identity.key]\nbackend = "hsm"\n',
      '  - identity.key.backend: expected one of "tpm", "atecc608", "software"; found "hsm"',
    ],
    [
      'malformed OID',
      '[identity.csr]\ndevice_type_oid = "1.3.x"\n',
      '  - identity.csr.device_type_oid: expected a dotted OID such as "1.3.6.1.4.1.12345.1.1", found "1.3.x"',
    ],
    [
      'authorization rule without resources',
      '[[trust.authorization]]\nname = "x"\nresources = []\nmethods = ["GET"]\n',
      '  - trust.authorization.0.resources: expected a list of at least 1 item, found an array of 0',
    ],
    [
      'authorization rule with a bad CN pattern',
      '[[trust.authorization]]\nname = "x"\ncn_pattern = "("\nresources = ["/telemetry"]\nmethods = ["POST"]\n',
      '  - trust.authorization.0.cn_pattern: expected a JavaScript regular expression, found "("',
    ],
    [
      'dedicated DTLS key without its files',
      '[downstream.dtls]\nserver_key = "file"\ncertificate_file = "/etc/edge-gatewayd/dtls.pem"\n',
      '  - downstream.dtls.key_file: expected a file when server_key = "file", found nothing',
    ],
    [
      'RSA floor below OpenSSL security level 2',
      '[trust]\nmin_rsa_bits = 1024\n',
      '  - trust.min_rsa_bits: expected at least 2048 (RSA below 2048 bits is under OpenSSL security level 2, 112-bit, which the gateway keeps for all TLS), found 1024',
    ],
    [
      'sensor name source that is not one',
      '[trust]\nsensor_name_from = "san:uri"\n',
      '  - trust.sensor_name_from: expected one of "cn", "serialNumber", "san:dns"; found "san:uri"',
    ],
    [
      'TPM attestation with a key outside a TPM',
      '[identity.key]\nbackend = "software"\n[identity.attestation]\nmode = "tpm"\n',
      '  - identity.attestation.mode: expected "tpm" needs identity.key.backend = "tpm" (it is "software"), found "tpm"',
    ],
    [
      'ATECC608A attestation with a key in a TPM',
      '[identity.key]\nbackend = "tpm"\n[identity.attestation]\nmode = "atecc608"\n',
      '  - identity.attestation.mode: expected "atecc608" needs identity.key.backend = "atecc608" (it is "tpm"), found "atecc608"',
    ],
    [
      'attestation mode that does not exist',
      '[identity.attestation]\nmode = "sgx"\n',
      '  - identity.attestation.mode: expected one of "off", "tpm", "atecc608"; found "sgx"',
    ],
    [
      'PCR selection that names no bank',
      '[identity.attestation]\npcr_selection = "0,1,2"\n',
      '  - identity.attestation.pcr_selection: expected a PCR selection such as "sha256:0,1,2,3,4,5,6,7" (one bank, PCRs 0–23), found "0,1,2"',
    ],
    [
      'boolean where a string belongs',
      '[log]\nformat = true\n',
      '  - log.format: expected one of "json", "pretty"; found true',
    ],
  ];

  it.each(cases)('%s', (_name, text, line) => {
    expect(problemsOf(text)).toBe(`invalid config gateway.toml:\n${line}`);
  });

  it('lists every problem at once', () => {
    const message = problemsOf('[log]\nlevel = "loud"\nformat = "xml"\n[store]\npath = "rel"\n');
    expect(message.split('\n')).toHaveLength(4);
    expect(message).toContain('log.level:');
    expect(message).toContain('log.format:');
    expect(message).toContain('store.path:');
  });

  it('reports a TOML syntax error with its line and column', () => {
    let error: ConfigError | undefined;
    try {
      parseConfigText('[log]\nlevel = info\n', 'gateway.toml', defaults);
    } catch (caught) {
      error = caught as ConfigError;
    }
    expect(error?.code).toBe('EGW_CONFIG_SYNTAX');
    expect(error?.message).toBe(
      'invalid config gateway.toml:\n  - TOML syntax error at line 2, column 12: each key-value declaration must be followed by an end-of-line',
    );
  });

  it('reports an unreadable file with its path and the reason', () => {
    const missing = join(mkdtempSync(join(tmpdir(), 'egw-cfg-')), 'absent.toml');
    expect(() => loadConfigFile(missing, defaults)).toThrow(
      expect.objectContaining({
        code: 'EGW_CONFIG_UNREADABLE',
        message: `invalid config ${missing}:\n  - cannot read the file (ENOENT)`,
      }),
    );
  });

  it('carries a hint that names the file and the check command', () => {
    const dir = mkdtempSync(join(tmpdir(), 'egw-cfg-'));
    const file = join(dir, 'gateway.toml');
    writeFileSync(file, '[log]\nlevel = 3\n');
    try {
      loadConfigFile(file, defaults);
      expect.unreachable();
    } catch (error) {
      const configError = error as ConfigError;
      expect(configError.code).toBe('EGW_CONFIG_INVALID');
      expect(configError.problems).toEqual([
        {
          path: 'log.level',
          message: 'expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent"; found 3',
        },
      ]);
      expect(configError.hint).toContain(`gatewayctl config check ${file}`);
    }
  });
});

describe('changedKeys', () => {
  it('lists the leaf keys that differ', () => {
    const a = parseConfigText('', 'a.toml', defaults);
    const b = parseConfigText('[log]\nlevel = "debug"\n[store]\npath = "/x.db"\n', 'b.toml', defaults);
    expect(changedKeys(a, b).sort()).toEqual(['log.level', 'store.path']);
    expect(changedKeys(a, a)).toEqual([]);
  });
});
