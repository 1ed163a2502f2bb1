import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EVP_PKEY_EC } from '../../src/native/openssl/ec-key-method.js';
import { EVP_AEAD_CTRL } from '../../src/native/openssl/libcrypto-aead.js';
import * as ssl from '../../src/native/openssl/libssl.js';
import { DTLS_CONST } from '../../src/native/openssl/libssl-dtls.js';
import { repositoryRoot } from '../helpers/daemon-harness.js';

/**
 * The koffi bindings against the OpenSSL headers of the running node (include/node/openssl, which
 * official node builds ship): every C prototype declared in src/native/openssl and src/tls must have
 * the ABI of the header's declaration (integer widths and signedness exactly, pointers as pointers:
 * the bindings loosen ABI-identical pointer types such as X509_NAME * to void *), and every numeric
 * constant must equal the header's macro. Run it on each new node/OpenSSL before raising
 * MAX_CHECKED_MINOR in supported-versions.ts. Needs gcc (scripts/setup.sh installs a toolchain).
 */
const include = join(dirname(dirname(process.execPath)), 'include', 'node');
let work: string;

beforeAll(() => {
  if (spawnSync('gcc', ['--version']).error)
    throw new Error('gcc is missing: apt-get install gcc (scripts/setup.sh)');
  if (!existsSync(join(include, 'openssl', 'ssl.h')))
    throw new Error(`${include}/openssl/ssl.h is missing: this node build ships no OpenSSL headers`);
  work = mkdtempSync(join(tmpdir(), 'egw-openssl-abi-'));
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

const HEADERS = ['ssl.h', 'err.h', 'x509v3.h', 'ec.h', 'evp.h', 'bn.h', 'crypto.h', 'bio.h', 'x509_vfy.h'];

/** Every prototype string in the binding sources, with the file declaring it. */
function declaredPrototypes(): { name: string; signature: string; file: string }[] {
  const found = new Map<string, { name: string; signature: string; file: string }>();
  const sources = ['src/native/openssl', 'src/tls', 'src/tls/dtls', 'src/tls/tls-client'].flatMap((dir) =>
    readdirSync(join(repositoryRoot, dir))
      .filter((file) => file.endsWith('.ts'))
      .map((file) => `${dir}/${file}`),
  );
  for (const file of sources) {
    const text = readFileSync(join(repositoryRoot, file), 'utf8');
    if (!text.includes("from 'koffi'")) continue;
    for (const match of text.matchAll(
      /'((?:const\s+)?(?:unsigned\s+)?[A-Za-z_]\w*\s*\**\s*([A-Za-z_]\w*)\([^')]*\))'/g,
    )) {
      const [, signature, name] = match as unknown as [string, string, string];
      found.set(`${name}|${signature}`, { name, signature, file });
    }
  }
  return [...found.values()];
}

function splitArguments(text: string): string[] {
  const parts: string[] = [];
  let depth = 0;
  let current = '';
  for (const character of text) {
    if (character === '(') depth++;
    if (character === ')') depth--;
    if (character === ',' && depth === 0) {
      parts.push(current.trim());
      current = '';
    } else current += character;
  }
  if (current.trim()) parts.push(current.trim());
  return parts.length === 1 && parts[0] === 'void' ? [] : parts;
}

const C_INTEGERS: Record<string, string> = {
  int: 'i32',
  'unsigned int': 'u32',
  'long int': 'i64',
  'long unsigned int': 'u64',
  'short unsigned int': 'u16',
  'unsigned char': 'u8',
  void: 'void',
};
const KOFFI_INTEGERS: Record<string, string> = {
  int: 'i32',
  'unsigned int': 'u32',
  long: 'i64',
  'unsigned long': 'u64',
  size_t: 'u64',
  uint64_t: 'u64',
  int64_t: 'i64',
  uint32_t: 'u32',
  uint16_t: 'u16',
  uint8_t: 'u8',
  void: 'void',
};
const TYPE_WORDS = new Set([
  'unsigned',
  'int',
  'long',
  'short',
  'char',
  'void',
  ...Object.keys(KOFFI_INTEGERS),
]);

/** ABI class of a C type as gcc spells it (typedefs resolved). */
function cClass(type: string): string {
  if (/[*([]/.test(type)) return 'ptr';
  const bare = type
    .replace(/\b(const|volatile|struct|union|enum)\b/g, '')
    .trim()
    .replace(/\s+/g, ' ');
  return C_INTEGERS[bare] ?? `?${bare}`;
}

/** ABI class of a koffi type ("const SSL *", "_Out_ unsigned int *", "unsigned int cookie_len"). */
function koffiClass(type: string): string {
  const bare = type.replace(/_(Out|Inout|In)_/g, '').trim();
  if (bare.includes('*')) return 'ptr';
  const words = bare.split(/\s+/).filter((word) => TYPE_WORDS.has(word));
  return KOFFI_INTEGERS[words.join(' ')] ?? `?${bare}`;
}

describe("koffi bindings against the running node's OpenSSL headers", () => {
  it('declare every C function with the ABI of its header prototype', () => {
    const declared = declaredPrototypes().filter(({ name }) => !/^(egw_|Egw)/.test(name));
    const names = [...new Set(declared.map(({ name }) => name))];
    const probe = join(work, 'probe.c');
    writeFileSync(
      probe,
      `${HEADERS.map((h) => `#include <openssl/${h}>`).join('\n')}\n${names.map((n) => `char probe_${n} = &${n};`).join('\n')}\n`,
    );
    const result = spawnSync(
      'gcc',
      ['-fsyntax-only', '-Wno-deprecated-declarations', `-I${include}`, probe],
      {
        encoding: 'utf8',
        env: { ...process.env, LC_ALL: 'C' },
      },
    );
    const lines = result.stderr.split('\n');
    const cTypes = new Map<string, string>();
    lines.forEach((line, index) => {
      const type = /initialization of 'char' from '(.*?)'(?: \{aka '(.*?)'\})? makes integer/.exec(line);
      const name = /probe_(\w+) =/.exec(lines[index + 1] ?? '')?.[1];
      if (type && name) cTypes.set(name, type[2] ?? (type[1] as string));
    });
    const problems: string[] = [];
    for (const { name, signature, file } of declared) {
      const cType = cTypes.get(name);
      if (!cType) {
        problems.push(`${name} (${file}): not declared by the headers`);
        continue;
      }
      const c = /^(.*?)\s*\(\*\)\((.*)\)$/.exec(cType) as RegExpExecArray;
      const k = /^(.*?)\b\w+\((.*)\)$/.exec(signature.trim()) as RegExpExecArray;
      const cAbi = [cClass(c[1] as string), ...splitArguments(c[2] as string).map(cClass)].join(', ');
      const kAbi = [koffiClass(k[1] as string), ...splitArguments(k[2] as string).map(koffiClass)].join(', ');
      if (cAbi !== kAbi)
        problems.push(`${name} (${file}): koffi "${signature}" [${kAbi}] vs C "${cType}" [${cAbi}]`);
    }
    expect(problems).toEqual([]);
    expect(declared.length).toBeGreaterThanOrEqual(140);
  });

  it('declare every callback with the ABI of the header parameter it is passed as', () => {
    const declared = new Map(declaredPrototypes().map(({ name, signature }) => [name, signature]));
    // Callback prototype → the header function (and its argument index) that takes it.
    const uses: [string, string, number][] = [
      ['egw_dtls_cookie_generate_cb', 'SSL_CTX_set_cookie_generate_cb', 1],
      ['egw_dtls_cookie_verify_cb', 'SSL_CTX_set_cookie_verify_cb', 1],
      ['egw_dtls_verify_cb', 'SSL_CTX_set_verify', 2],
      ['EgwVerifyCallback', 'SSL_CTX_set_verify', 2],
      ['egw_dtls_info_cb', 'SSL_CTX_set_info_callback', 1],
      ['egw_dtls_cert_verify_cb', 'SSL_CTX_set_cert_verify_callback', 1],
      ['egw_security_cb', 'SSL_CTX_set_security_callback', 1],
      ['EgwEcSign', 'EC_KEY_METHOD_set_sign', 1],
      ['EgwEcSignSig', 'EC_KEY_METHOD_set_sign', 3],
      ['EgwEcFinish', 'EC_KEY_METHOD_set_init', 2],
      ['EgwEcCopy', 'EC_KEY_METHOD_set_init', 3],
    ];
    const probe = join(work, 'callbacks.c');
    const setters = [...new Set(uses.map(([, setter]) => setter))];
    writeFileSync(
      probe,
      `${HEADERS.map((h) => `#include <openssl/${h}>`).join('\n')}\n${setters.map((n) => `char probe_${n} = &${n};`).join('\n')}\n`,
    );
    const stderr = spawnSync(
      'gcc',
      ['-fsyntax-only', '-Wno-deprecated-declarations', `-I${include}`, probe],
      {
        encoding: 'utf8',
        env: { ...process.env, LC_ALL: 'C' },
      },
    ).stderr;
    const lines = stderr.split('\n');
    const setterTypes = new Map<string, string>();
    lines.forEach((line, index) => {
      const type = /initialization of 'char' from '(.*?)'(?: \{aka '(.*?)'\})? makes integer/.exec(line);
      const name = /probe_(\w+) =/.exec(lines[index + 1] ?? '')?.[1];
      if (type && name) setterTypes.set(name, type[1] as string);
    });
    const problems: string[] = [];
    for (const [callback, setter, index] of uses) {
      const signature = declared.get(callback);
      const setterType = setterTypes.get(setter);
      if (!signature || !setterType) {
        problems.push(`${callback}/${setter}: not found`);
        continue;
      }
      const setterArguments = splitArguments(
        (/^.*?\(\*\)\((.*)\)$/.exec(setterType) as RegExpExecArray)[1] as string,
      );
      const parameter = /^(.*?)\s*\(\*\)\((.*)\)$/.exec(setterArguments[index] ?? '');
      if (!parameter) {
        problems.push(`${setter} argument ${index} is not a function pointer: ${setterArguments[index]}`);
        continue;
      }
      const k = /^(.*?)\b\w+\((.*)\)$/.exec(signature) as RegExpExecArray;
      const cAbi = [
        cClass(parameter[1] as string),
        ...splitArguments(parameter[2] as string).map(cClass),
      ].join(', ');
      const kAbi = [koffiClass(k[1] as string), ...splitArguments(k[2] as string).map(koffiClass)].join(', ');
      if (cAbi !== kAbi)
        problems.push(
          `${callback}: koffi "${signature}" [${kAbi}] vs ${setter}'s "${parameter[0]}" [${cAbi}]`,
        );
    }
    expect(problems).toEqual([]);
  });

  it('use the numeric constants of the headers', () => {
    const rows: [string, bigint, string][] = [];
    const add = (ours: string, value: number | bigint, macro: string) =>
      rows.push([ours, BigInt(value), macro]);
    const ctrlMacro: Record<string, string> = {
      DTLS_GET_TIMEOUT: 'DTLS_CTRL_GET_TIMEOUT',
      DTLS_HANDLE_TIMEOUT: 'DTLS_CTRL_HANDLE_TIMEOUT',
    };
    for (const [key, value] of Object.entries(ssl.SSL_CTRL))
      add(`SSL_CTRL.${key}`, value, ctrlMacro[key] ?? `SSL_CTRL_${key}`);
    for (const [key, value] of Object.entries(ssl.X509_V_ERR))
      add(`X509_V_ERR.${key}`, value, `X509_V_ERR_${key}`);
    for (const [key, value] of Object.entries(ssl.SSL_ERROR))
      add(`SSL_ERROR.${key}`, value, `SSL_ERROR_${key}`);
    for (const [key, value] of Object.entries(ssl.SSL_VERIFY))
      add(`SSL_VERIFY.${key}`, value, `SSL_VERIFY_${key}`);
    for (const [key, value] of Object.entries(ssl.SSL_MODE)) add(`SSL_MODE.${key}`, value, `SSL_MODE_${key}`);
    for (const [key, value] of Object.entries(ssl.SSL_OP)) add(`SSL_OP.${key}`, value, `SSL_OP_${key}`);
    for (const [key, value] of Object.entries(ssl.SSL_SESS_CACHE))
      add(`SSL_SESS_CACHE.${key}`, value, `SSL_SESS_CACHE_${key}`);
    for (const [key, value] of Object.entries(ssl.SSL_SECOP))
      add(`SSL_SECOP.${key}`, value, `SSL_SECOP_${key}`);
    for (const [key, value] of Object.entries(ssl.ERR_LIB)) add(`ERR_LIB.${key}`, value, `ERR_LIB_${key}`);
    for (const [key, value] of Object.entries(ssl.SSL_R))
      add(`SSL_R.${key}`, value, key === 'AD_REASON_OFFSET' ? 'SSL_AD_REASON_OFFSET' : `SSL_R_${key}`);
    add('SSL_SHUTDOWN_STATE.SENT', ssl.SSL_SHUTDOWN_STATE.SENT, 'SSL_SENT_SHUTDOWN');
    add('SSL_SHUTDOWN_STATE.RECEIVED', ssl.SSL_SHUTDOWN_STATE.RECEIVED, 'SSL_RECEIVED_SHUTDOWN');
    add('TLSEXT_NAMETYPE_HOST_NAME', ssl.TLSEXT_NAMETYPE_HOST_NAME, 'TLSEXT_NAMETYPE_host_name');
    add('ERR_CODE.LIB_SHIFT', ssl.ERR_CODE.LIB_SHIFT, 'ERR_LIB_OFFSET');
    add('ERR_CODE.LIB_MASK', ssl.ERR_CODE.LIB_MASK, 'ERR_LIB_MASK');
    add('ERR_CODE.REASON_MASK', ssl.ERR_CODE.REASON_MASK, 'ERR_REASON_MASK');
    add('ERR_CODE.SYSTEM_FLAG', ssl.ERR_CODE.SYSTEM_FLAG, 'ERR_SYSTEM_FLAG');
    add('TLS_VERSION.TLS1_2', ssl.TLS_VERSION.TLS1_2, 'TLS1_2_VERSION');
    add('TLS_VERSION.TLS1_3', ssl.TLS_VERSION.TLS1_3, 'TLS1_3_VERSION');
    add('TLS_VERSION.DTLS1_2', ssl.TLS_VERSION.DTLS1_2, 'DTLS1_2_VERSION');
    add('BIO_CTRL.PENDING', ssl.BIO_CTRL.PENDING, 'BIO_CTRL_PENDING');
    add(
      'BIO_CTRL.SET_BUF_MEM_EOF_RETURN',
      ssl.BIO_CTRL.SET_BUF_MEM_EOF_RETURN,
      'BIO_C_SET_BUF_MEM_EOF_RETURN',
    );
    const dtlsMacro: Record<string, string> = {
      XKU_ABSENT: 'UINT32_MAX', // what X509_get_extended_key_usage returns without the extension
      XN_FLAG_RFC2253_UTF8: '(XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB)',
    };
    for (const [key, value] of Object.entries(DTLS_CONST))
      add(`DTLS_CONST.${key}`, value, dtlsMacro[key] ?? key);
    add('EVP_PKEY_EC', EVP_PKEY_EC, 'EVP_PKEY_EC');
    for (const [key, value] of Object.entries(EVP_AEAD_CTRL)) add(`EVP_AEAD_CTRL.${key}`, value, key);
    // Literals in the code: SSL_ctrl commands of libssl-dtls.ts and DtlsSession's shutdown state.
    add('DTLS_get_timeout (libssl-dtls.ts)', 73, 'DTLS_CTRL_GET_TIMEOUT');
    add('dtlsHandleTimeout (libssl-dtls.ts)', 74, 'DTLS_CTRL_HANDLE_TIMEOUT');
    add('SHUTDOWN_SENT_AND_RECEIVED (dtls-session.ts)', 3, '(SSL_SENT_SHUTDOWN | SSL_RECEIVED_SHUTDOWN)');
    // The alert descriptions tls-failure.ts has hints for.
    const alerts: Record<number, string> = {
      40: 'SSL_AD_HANDSHAKE_FAILURE',
      42: 'SSL_AD_BAD_CERTIFICATE',
      43: 'SSL_AD_UNSUPPORTED_CERTIFICATE',
      44: 'SSL_AD_CERTIFICATE_REVOKED',
      45: 'SSL_AD_CERTIFICATE_EXPIRED',
      46: 'SSL_AD_CERTIFICATE_UNKNOWN',
      48: 'SSL_AD_UNKNOWN_CA',
      70: 'SSL_AD_PROTOCOL_VERSION',
      71: 'SSL_AD_INSUFFICIENT_SECURITY',
      112: 'SSL_AD_UNRECOGNIZED_NAME',
      116: 'SSL_AD_CERTIFICATE_REQUIRED',
    };
    for (const [value, macro] of Object.entries(alerts))
      add(`alert ${value} (tls-failure.ts)`, Number(value), macro);
    const source = join(work, 'constants.c');
    writeFileSync(
      source,
      `#include <stdio.h>\n#include <stdint.h>\n${HEADERS.map((h) => `#include <openssl/${h}>`).join('\n')}\nint main(void) {\n${rows
        .map(
          ([ours, , macro]) =>
            `  printf("%s\\t%llu\\n", ${JSON.stringify(ours)}, (unsigned long long)(${macro}));`,
        )
        .join('\n')}\n  return 0;\n}\n`,
    );
    execFileSync('gcc', ['-w', `-I${include}`, source, '-o', join(work, 'constants')], { stdio: 'pipe' });
    const header = new Map(
      execFileSync(join(work, 'constants'), { encoding: 'utf8' })
        .trim()
        .split('\n')
        .map((line) => line.split('\t') as [string, string]),
    );
    const problems = rows
      .filter(([ours, value]) => BigInt(header.get(ours) ?? -1) !== value)
      .map(([ours, value, macro]) => `${ours} = ${value}, but ${macro} = ${header.get(ours)}`);
    expect(problems).toEqual([]);
    expect(rows.length).toBeGreaterThanOrEqual(100);
  });
});
