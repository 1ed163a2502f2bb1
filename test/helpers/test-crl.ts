/**
 * Test CRLs and the certificates around them, for the revocation tests, the trust bench and
 * anyone else who needs a CRL: CA and leaf certificates come from the `openssl` CLI (so they are
 * what real tooling produces); CRLs are written with the DER writer and signed with node:crypto,
 * which makes a 1,000,000-entry CRL a matter of seconds and lets tests break them on purpose.
 */
import { spawnSync } from 'node:child_process';
import { createPrivateKey, type KeyObject, sign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  derBitString,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derTime,
  derTlv,
} from '../../src/pki/index.js';
import { CertificateFacts } from '../../src/trust/validation/index.js';

export type TestKeyKind = 'P-256' | 'P-384' | 'P-521' | 'rsa2048' | 'ed25519';

/** A CA made by openssl: files in `dir`, DER and key for our code. */
export interface TestCa {
  name: string;
  certFile: string;
  keyFile: string;
  certPem: string;
  certDer: Uint8Array;
  privateKey: KeyObject;
  /** The certificate as path validation (and the CRL cache) reads it. */
  facts: CertificateFacts;
}

/** A certificate issued by a TestCa (openssl x509 -req). */
export interface TestCertificate {
  name: string;
  certFile: string;
  keyFile: string;
  certDer: Uint8Array;
  /** The serialNumber content octets, as a CRL entry lists them. */
  serial: Uint8Array;
}

/** A scratch directory with openssl at hand. */
export class TestPkiDir {
  readonly dir: string;

  constructor(prefix = 'egw-crl-') {
    const check = spawnSync('openssl', ['version'], { encoding: 'utf8' });
    if (check.error) throw new Error('openssl is missing: run scripts/setup.sh (apt-get install openssl)');
    this.dir = mkdtempSync(join(tmpdir(), prefix));
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  write(name: string, content: string | Uint8Array): string {
    writeFileSync(this.file(name), content);
    return this.file(name);
  }

  /** Runs openssl in the directory; throws with its stderr when it fails. */
  openssl(...args: string[]): string {
    const result = spawnSync('openssl', args, { cwd: this.dir, encoding: 'utf8' });
    if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
    return result.stdout;
  }

  /**
   * A self-signed CA (or one issued by `issuer`): basicConstraints CA:TRUE, keyUsage
   * keyCertSign+cRLSign unless `keyUsage` says otherwise, SKI (and AKI) as openssl adds them.
   */
  ca(
    name: string,
    options: { key?: TestKeyKind; cn?: string; keyUsage?: string; issuer?: TestCa } = {},
  ): TestCa {
    this.#newKey(name, options.key ?? 'P-256');
    const keyUsage = options.keyUsage ?? 'critical,keyCertSign,cRLSign';
    const extensions = `basicConstraints=critical,CA:TRUE\nkeyUsage=${keyUsage}\nsubjectKeyIdentifier=hash\n`;
    this.write(`${name}.ext`, `${extensions}authorityKeyIdentifier=keyid\n`);
    if (options.issuer) {
      this.openssl(
        'req',
        '-new',
        '-key',
        `${name}.key`,
        '-subj',
        `/CN=${options.cn ?? name}`,
        '-out',
        `${name}.csr`,
      );
      this.#sign(name, options.issuer, `${name}.ext`, `0x${Buffer.from(randomSerial()).toString('hex')}`);
    } else {
      this.openssl(
        'req',
        '-x509',
        '-new',
        '-key',
        `${name}.key`,
        '-subj',
        `/CN=${options.cn ?? name}`,
        '-days',
        '2',
        '-out',
        `${name}.pem`,
        '-addext',
        'basicConstraints=critical,CA:TRUE',
        '-addext',
        `keyUsage=${keyUsage}`,
      );
    }
    const certPem = readFileSync(this.file(`${name}.pem`), 'utf8');
    this.openssl('x509', '-in', `${name}.pem`, '-outform', 'DER', '-out', `${name}.der`);
    const certDer = new Uint8Array(readFileSync(this.file(`${name}.der`)));
    return {
      name,
      certFile: this.file(`${name}.pem`),
      keyFile: this.file(`${name}.key`),
      certPem,
      certDer,
      privateKey: createPrivateKey(readFileSync(this.file(`${name}.key`))),
      facts: CertificateFacts.parse(certDer),
    };
  }

  /** A leaf certificate with serial `serial` (hex, no 0x) and optionally a CRL distribution point. */
  leaf(name: string, issuer: TestCa, options: { serialHex?: string; crlUrl?: string } = {}): TestCertificate {
    this.#newKey(name, 'P-256');
    this.openssl('req', '-new', '-key', `${name}.key`, '-subj', `/CN=${name}`, '-out', `${name}.csr`);
    this.write(
      `${name}.ext`,
      `basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n${
        options.crlUrl ? `crlDistributionPoints=URI:${options.crlUrl}\n` : ''
      }`,
    );
    const serialHex = options.serialHex ?? Buffer.from(randomSerial()).toString('hex');
    this.#sign(name, issuer, `${name}.ext`, `0x${serialHex}`);
    this.openssl('x509', '-in', `${name}.pem`, '-outform', 'DER', '-out', `${name}.der`);
    const certDer = new Uint8Array(readFileSync(this.file(`${name}.der`)));
    return {
      name,
      certFile: this.file(`${name}.pem`),
      keyFile: this.file(`${name}.key`),
      certDer,
      serial: CertificateFacts.parse(certDer).serial,
    };
  }

  /**
   * A CRL made by `openssl ca -gencrl` (a real encoder, to check our reader against), revoking
   * `revoked` with their openssl reason names ("keyCompromise", …). DER.
   */
  opensslCrl(ca: TestCa, revoked: { certificate: TestCertificate; reason?: string }[]): Uint8Array {
    const base = `ca-db-${ca.name}-${uniqueSuffix()}`;
    this.write(`${base}.index`, '');
    this.write(`${base}.crlnumber`, '1000\n');
    const config = this.write(
      `${base}.cnf`,
      [
        '[ ca ]',
        'default_ca = CA_default',
        '[ CA_default ]',
        `database = ${this.file(`${base}.index`)}`,
        `crlnumber = ${this.file(`${base}.crlnumber`)}`,
        `certificate = ${ca.certFile}`,
        `private_key = ${ca.keyFile}`,
        'default_md = sha256',
        'default_crl_days = 1',
        'crl_extensions = crl_ext',
        '[ crl_ext ]',
        'authorityKeyIdentifier = keyid:always',
        '',
      ].join('\n'),
    );
    for (const { certificate, reason } of revoked) {
      this.openssl(
        'ca',
        '-config',
        config,
        '-revoke',
        certificate.certFile,
        ...(reason ? ['-crl_reason', reason] : []),
      );
    }
    this.openssl('ca', '-config', config, '-gencrl', '-out', `${base}.crl.pem`);
    this.openssl('crl', '-in', `${base}.crl.pem`, '-outform', 'DER', '-out', `${base}.crl.der`);
    return new Uint8Array(readFileSync(this.file(`${base}.crl.der`)));
  }

  /**
   * `openssl verify -crl_check -CRLfile <crl> -CAfile <ca> [-attime <at>] <cert>`: exit status and
   * output. The CRL is handed over as PEM (DER in a PEM wrapper when it is broken).
   */
  verifyWithCrl(
    caFile: string,
    crl: Uint8Array,
    certFile: string,
    at?: Date,
  ): { ok: boolean; output: string } {
    const crlFile = this.write(`verify-${uniqueSuffix()}.crl.pem`, crlPem(crl));
    const attime = at ? ['-attime', String(Math.floor(at.getTime() / 1000))] : [];
    const result = spawnSync(
      'openssl',
      ['verify', '-crl_check', ...attime, '-CRLfile', crlFile, '-CAfile', caFile, certFile],
      { cwd: this.dir, encoding: 'utf8' },
    );
    return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
  }

  /** Whether `openssl crl -inform DER -noout` loads `der`, with its output. */
  opensslLoadsCrl(der: Uint8Array): { ok: boolean; output: string } {
    const file = this.write(`load-${uniqueSuffix()}.crl`, der);
    const result = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', file, '-noout'], {
      cwd: this.dir,
      encoding: 'utf8',
    });
    return { ok: result.status === 0, output: `${result.stdout}${result.stderr}` };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  #newKey(name: string, kind: TestKeyKind): void {
    const args =
      kind === 'rsa2048'
        ? ['-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048']
        : kind === 'ed25519'
          ? ['-algorithm', 'ED25519']
          : ['-algorithm', 'EC', '-pkeyopt', `ec_paramgen_curve:${kind}`];
    this.openssl('genpkey', ...args, '-out', `${name}.key`);
  }

  #sign(name: string, issuer: TestCa, extfile: string, serial: string): void {
    this.openssl(
      'x509',
      '-req',
      '-in',
      `${name}.csr`,
      '-CA',
      issuer.certFile,
      '-CAkey',
      issuer.keyFile,
      '-set_serial',
      serial,
      '-days',
      '2',
      '-out',
      `${name}.pem`,
      '-extfile',
      extfile,
    );
  }
}

export interface TestCrlEntry {
  /** A serial as a number, or as its DER INTEGER content octets (used as given). */
  serial: bigint | Uint8Array;
  revokedAt: Date;
  reason?: number;
}

export interface TestCrlOptions {
  /** The CA whose subject becomes the CRL issuer and whose key signs it (unless `signingKey`). */
  issuer: { certDer: Uint8Array; privateKey: KeyObject };
  /** Sign with another key (a forged CRL). */
  signingKey?: KeyObject;
  entries?: Iterable<TestCrlEntry>;
  thisUpdate: Date;
  /** null: no nextUpdate. */
  nextUpdate: Date | null;
  /** null (or v1): no cRLNumber; omitted: thisUpdate in whole seconds. */
  crlNumber?: bigint | null;
  /** 1: no version field, no extensions at all. */
  version?: 1 | 2;
  /** Whether to add authorityKeyIdentifier (the CA's SKI); default: when the CA has one. */
  authorityKeyIdentifier?: boolean;
  /** More CRL extensions, each a complete Extension encoding (see `testExtension`). */
  extraExtensions?: Uint8Array[];
  /** Write an empty revokedCertificates SEQUENCE instead of leaving it out when there are no entries. */
  emptyRevokedList?: boolean;
  /** Another signature AlgorithmIdentifier (complete encoding) and digest, e.g. SHA-1 to see it refused. */
  signatureAlgorithm?: { algorithm: Uint8Array; hash: string };
}

/** A DER CRL as specified, signed with node:crypto. */
export function buildTestCrl(options: TestCrlOptions): Uint8Array {
  const version = options.version ?? 2;
  const issuer = CertificateFacts.parse(options.issuer.certDer);
  const key = options.signingKey ?? options.issuer.privateKey;
  const { algorithm, hash } = options.signatureAlgorithm ?? signatureAlgorithmFor(key);
  const entryEncodings: Uint8Array[] = [];
  const times = new Map<number, Uint8Array>();
  for (const entry of options.entries ?? []) {
    const at = entry.revokedAt.getTime();
    let time = times.get(at);
    if (!time) {
      time = derTime(entry.revokedAt);
      times.set(at, time);
    }
    const serial = derInteger(
      entry.serial instanceof Uint8Array ? entry.serial : integerOctets(entry.serial),
    );
    entryEncodings.push(
      entry.reason === undefined
        ? derSequence(serial, time)
        : derSequence(serial, time, reasonExtensions(entry.reason)),
    );
  }
  const fields: Uint8Array[] = [];
  if (version === 2) fields.push(derInteger(Uint8Array.of(1)));
  fields.push(algorithm, issuer.subjectDer, derTime(options.thisUpdate));
  if (options.nextUpdate) fields.push(derTime(options.nextUpdate));
  if (entryEncodings.length > 0 || options.emptyRevokedList) {
    // One concatenation first: derTlv(...items) would spread a million arguments.
    fields.push(derTlv(0x30, Buffer.concat(entryEncodings)));
  }
  if (version === 2) {
    const extensions: Uint8Array[] = [];
    // Default: thisUpdate in seconds, so successive test CRLs of one CA number upwards as a CA's do.
    const crlNumber =
      options.crlNumber === undefined
        ? BigInt(Math.floor(options.thisUpdate.getTime() / 1000))
        : options.crlNumber;
    if (crlNumber !== null) {
      extensions.push(testExtension('2.5.29.20', derInteger(integerOctets(crlNumber))));
    }
    if ((options.authorityKeyIdentifier ?? true) && issuer.subjectKeyId !== undefined) {
      const keyId = Buffer.from(issuer.subjectKeyId, 'hex');
      extensions.push(testExtension('2.5.29.35', derSequence(derTlv(0x80, keyId))));
    }
    extensions.push(...(options.extraExtensions ?? []));
    if (extensions.length > 0) fields.push(derTlv(0xa0, derSequence(...extensions)));
  }
  const tbs = derTlv(0x30, Buffer.concat(fields));
  const signature = sign(hash, tbs, key);
  return derTlv(0x30, tbs, algorithm, derBitString(signature));
}

/** An Extension encoding: extnID, critical when asked, extnValue wrapping `value`. */
export function testExtension(oid: string, value: Uint8Array, critical = false): Uint8Array {
  return critical
    ? derSequence(derOid(oid), derTlv(0x01, Uint8Array.of(0xff)), derOctetString(value))
    : derSequence(derOid(oid), derOctetString(value));
}

export function crlPem(der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN X509 CRL-----\n${lines.join('\n')}\n-----END X509 CRL-----\n`;
}

/** Ways to break a good CRL. */
export type CrlCorruption =
  | 'truncated'
  | 'trailing-garbage'
  | 'bad-outer-length'
  | 'flipped-signature'
  | 'flipped-tbs';

/**
 * A broken copy of `der`: 'truncated' drops the last 10 octets, 'trailing-garbage' appends 4,
 * 'bad-outer-length' makes the outer SEQUENCE claim one octet more than there is,
 * 'flipped-signature' flips a bit of the signature's last octet, 'flipped-tbs' flips a bit of the
 * TBS's last octet (the AKI key identifier in our CRLs: still well-formed, no longer signed).
 */
export function corruptCrl(der: Uint8Array, how: CrlCorruption): Uint8Array {
  const copy = Uint8Array.from(der);
  switch (how) {
    case 'truncated':
      return copy.subarray(0, copy.length - 10);
    case 'trailing-garbage':
      return Uint8Array.from([...copy, 0xde, 0xad, 0xbe, 0xef]);
    case 'bad-outer-length': {
      const lengthOctets = (copy[1] as number) & 0x80 ? (copy[1] as number) & 0x7f : 0;
      const last = 1 + lengthOctets;
      // A last length octet of 0xff (or a short form of 0x7f) cannot grow by one in place (it would
      // wrap to a non-minimal length): drop the final octet instead, the length is then past the end too.
      if ((copy[last] as number) === (lengthOctets === 0 ? 0x7f : 0xff))
        return copy.subarray(0, copy.length - 1);
      copy[last] = (copy[last] as number) + 1;
      return copy;
    }
    case 'flipped-signature':
      copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0x01;
      return copy;
    case 'flipped-tbs': {
      const outerHeader = 2 + ((copy[1] as number) & 0x80 ? (copy[1] as number) & 0x7f : 0);
      const tbsLengthByte = copy[outerHeader + 1] as number;
      const tbsHeader = 2 + (tbsLengthByte & 0x80 ? tbsLengthByte & 0x7f : 0);
      let tbsLength = tbsLengthByte;
      if (tbsLengthByte & 0x80) {
        tbsLength = 0;
        for (let i = 0; i < (tbsLengthByte & 0x7f); i++)
          tbsLength = tbsLength * 256 + (copy[outerHeader + 2 + i] as number);
      }
      const tbsLast = outerHeader + tbsHeader + tbsLength - 1;
      copy[tbsLast] = (copy[tbsLast] as number) ^ 0x01;
      return copy;
    }
  }
}

/** A random positive 16-octet serial, minimally encoded (as CAs issue them). */
export function randomSerial(): Uint8Array {
  const bytes = new Uint8Array(16);
  globalThis.crypto.getRandomValues(bytes);
  bytes[0] = ((bytes[0] as number) & 0x7f) | 0x01; // positive, 16 octets, no leading zero
  return bytes;
}

/** The DER INTEGER content octets of a non-negative number. */
export function integerOctets(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function uniqueSuffix(): string {
  return `${Date.now()}-${Math.random().toString(16).slice(2)}`;
}

const REASON_EXTENSIONS = new Map<number, Uint8Array>();

function reasonExtensions(reason: number): Uint8Array {
  let encoded = REASON_EXTENSIONS.get(reason);
  if (!encoded) {
    encoded = derSequence(testExtension('2.5.29.21', derTlv(0x0a, Uint8Array.of(reason))));
    REASON_EXTENSIONS.set(reason, encoded);
  }
  return encoded;
}

function signatureAlgorithmFor(key: KeyObject): { algorithm: Uint8Array; hash: string | null } {
  if (key.asymmetricKeyType === 'rsa') {
    return { algorithm: derSequence(derOid('1.2.840.113549.1.1.11'), derTlv(0x05)), hash: 'sha256' };
  }
  if (key.asymmetricKeyType === 'ed25519')
    return { algorithm: derSequence(derOid('1.3.101.112')), hash: null };
  const curve = key.asymmetricKeyDetails?.namedCurve;
  if (curve === 'secp384r1') return { algorithm: derSequence(derOid('1.2.840.10045.4.3.3')), hash: 'sha384' };
  if (curve === 'secp521r1') return { algorithm: derSequence(derOid('1.2.840.10045.4.3.4')), hash: 'sha512' };
  return { algorithm: derSequence(derOid('1.2.840.10045.4.3.2')), hash: 'sha256' };
}
