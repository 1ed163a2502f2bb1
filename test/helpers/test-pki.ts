import { spawnSync } from 'node:child_process';
import {
  constants,
  createHash,
  generateKeyPair,
  type KeyObject,
  type KeyPairKeyObjectResult,
  randomBytes,
  sign,
} from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import {
  DER_TAG,
  derBitString,
  derInteger,
  derOctetString,
  derOid,
  derSequence,
  derSet,
  derTime,
  derTlv,
} from '../../src/pki/index.js';

/**
 * A small, real test PKI: root, intermediate and sensor certificates with chosen attributes, for the
 * trust tests and anyone testing sensor authentication. The TBSCertificate is written with the
 * gateway's DER writer and signed with node:crypto, so every odd case (SHA-1/MD5 signatures, duplicate
 * or unknown critical extensions, a wrong issuer name, secp256k1, RSA-1024, dates in the past) is one
 * option away; every certificate is also written as PEM to `dir` so the openssl CLI can judge it
 * (`opensslVerify`). Defaults follow what `openssl verify -x509_strict` wants: critical basicConstraints
 * and keyUsage on CAs, subject/authority key identifiers.
 *
 *   const pki = await TestPki.create();
 *   const root = await pki.root();
 *   const inter = await pki.intermediate(root);
 *   const sensor = await pki.sensor(inter, { commonName: 'sensor-1', deviceType: 'thermo' });
 */

export type TestKeyType = 'P-256' | 'P-384' | 'P-521' | 'secp256k1' | 'rsa1024' | 'rsa2048' | 'ed25519';
export type TestDigest = 'sha256' | 'sha384' | 'sha512' | 'sha1' | 'md5';
export type TestKeyUsage =
  | 'digitalSignature'
  | 'nonRepudiation'
  | 'keyEncipherment'
  | 'dataEncipherment'
  | 'keyAgreement'
  | 'keyCertSign'
  | 'cRLSign';

/** An extension as it goes into the certificate, verbatim (`value` is extnValue's contents). */
export interface TestExtension {
  oid: string;
  critical?: boolean;
  value: Uint8Array;
}

export interface TestCertificateOptions {
  /** File name stem in `dir` (default: from the common name). */
  name?: string;
  commonName?: string;
  /** Subject serialNumber attribute (2.5.4.5). */
  serialNumber?: string;
  organization?: string;
  /** Replaces the whole subject Name (DER); the common name etc. are then ignored. */
  subjectDer?: Uint8Array;
  /** Writes this issuer Name instead of the issuer's subject (a name that does not chain). */
  issuerDer?: Uint8Array;
  key?: TestKeyType;
  /** Reuse a key pair instead of generating one. */
  keyPair?: KeyPairKeyObjectResult;
  /** Ignored for Ed25519 issuers (PureEdDSA has no separate digest). Default sha256. */
  digest?: TestDigest;
  /** An RSA issuer signs with RSASSA-PSS (MGF1 with the same digest, salt as long as the digest). */
  rsaPss?: boolean;
  /** Default: an hour ago. */
  notBefore?: Date;
  /** Default: in 30 days. */
  notAfter?: Date;
  /** null leaves the extension out. Defaults: CAs critical CA:TRUE, sensors CA:FALSE. */
  basicConstraints?: { ca: boolean; pathLen?: number; critical?: boolean } | null;
  /** null leaves it out. Defaults: CAs keyCertSign + cRLSign, sensors digitalSignature (critical). */
  keyUsage?: readonly TestKeyUsage[] | null;
  /** Purpose OIDs or 'clientAuth'/'serverAuth'; null leaves it out. Sensor default: clientAuth. */
  extendedKeyUsage?: readonly string[] | null;
  dnsNames?: readonly string[];
  uris?: readonly string[];
  emails?: readonly string[];
  /** IPv4 dotted quads. */
  ips?: readonly string[];
  /** Device-type extension (UTF8String) under `deviceTypeOid`. */
  deviceType?: string;
  deviceTypeOid?: string;
  crlDistributionPoints?: readonly string[];
  /** false leaves out the subjectKeyIdentifier / authorityKeyIdentifier. */
  subjectKeyId?: boolean;
  authorityKeyId?: boolean;
  /** Appended verbatim after the others: duplicates, unknown critical ones, padding. */
  extraExtensions?: readonly TestExtension[];
  /** Serial's INTEGER content octets (default: 16 random bytes, positive). */
  serial?: Uint8Array;
}

export interface TestCertificate {
  name: string;
  der: Uint8Array;
  pem: string;
  keyPem: string;
  /** The PEM certificate file in the PKI's directory. */
  path: string;
  keyPath: string;
  keyPair: KeyPairKeyObjectResult;
  subjectDer: Uint8Array;
  /** Hex subjectKeyIdentifier value used (even when left out of the certificate). */
  subjectKeyId: string;
}

export interface OpensslVerdict {
  ok: boolean;
  /** stdout + stderr: the error text when not ok. */
  output: string;
}

export const CLIENT_AUTH = '1.3.6.1.5.5.7.3.2';
export const SERVER_AUTH = '1.3.6.1.5.5.7.3.1';
export const DEFAULT_DEVICE_TYPE_OID = '1.3.6.1.4.1.12345.1.1';

const generate = promisify(generateKeyPair);
const KEY_USAGE_BITS: Record<TestKeyUsage, number> = {
  digitalSignature: 0,
  nonRepudiation: 1,
  keyEncipherment: 2,
  dataEncipherment: 3,
  keyAgreement: 4,
  keyCertSign: 5,
  cRLSign: 6,
};
const SIGNATURE_OIDS: Record<'ec' | 'rsa', Partial<Record<TestDigest, string>>> = {
  ec: {
    sha1: '1.2.840.10045.4.1',
    sha256: '1.2.840.10045.4.3.2',
    sha384: '1.2.840.10045.4.3.3',
    sha512: '1.2.840.10045.4.3.4',
  },
  rsa: {
    md5: '1.2.840.113549.1.1.4',
    sha1: '1.2.840.113549.1.1.5',
    sha256: '1.2.840.113549.1.1.11',
    sha384: '1.2.840.113549.1.1.12',
    sha512: '1.2.840.113549.1.1.13',
  },
};

export class TestPki {
  readonly dir: string;
  #count = 0;

  private constructor(dir: string) {
    this.dir = dir;
  }

  /** A PKI writing its files to `dir` (made if missing), or to a fresh temporary directory. */
  static async create(dir?: string): Promise<TestPki> {
    const where = dir ?? mkdtempSync(join(tmpdir(), 'egw-test-pki-'));
    mkdirSync(where, { recursive: true });
    return new TestPki(where);
  }

  /** A self-signed root CA (CN "Test Root CA" unless given). */
  root(options: TestCertificateOptions = {}): Promise<TestCertificate> {
    return this.#issue(undefined, { commonName: 'Test Root CA', ...caDefaults(), ...options });
  }

  /** An intermediate CA issued by `issuer`. */
  intermediate(issuer: TestCertificate, options: TestCertificateOptions = {}): Promise<TestCertificate> {
    return this.#issue(issuer, { commonName: 'Test Intermediate CA', ...caDefaults(), ...options });
  }

  /** A sensor certificate issued by `issuer` (undefined: self-signed): clientAuth, SAN, device type. */
  sensor(
    issuer: TestCertificate | undefined,
    options: TestCertificateOptions = {},
  ): Promise<TestCertificate> {
    const commonName = options.commonName ?? 'sensor-0001';
    return this.#issue(issuer, {
      commonName,
      serialNumber: '0001',
      basicConstraints: { ca: false },
      keyUsage: ['digitalSignature'],
      extendedKeyUsage: ['clientAuth'],
      // A dNSName only where the CN makes a valid one (RFC 5280 §4.2.1.6 syntax; the validator checks it).
      dnsNames: /^[A-Za-z0-9-]{1,63}$/.test(commonName) ? [`${commonName}.local`] : [],
      deviceType: 'thermometer',
      ...options,
    });
  }

  /** Writes DER certificates as one PEM file in `dir` (e.g. an -untrusted bundle); returns its path. */
  writePem(name: string, ders: readonly Uint8Array[]): string {
    const path = join(this.dir, `${name}.pem`);
    writeFileSync(path, ders.map((der) => pem('CERTIFICATE', der)).join(''));
    return path;
  }

  /**
   * `openssl verify -x509_strict -purpose sslclient -CAfile <roots> [-untrusted <intermediates>]
   * -attime <at> [extra] <leaf>`: what OpenSSL thinks of the same chain.
   */
  opensslVerify(
    leaf: Uint8Array,
    roots: readonly Uint8Array[],
    intermediates: readonly Uint8Array[],
    at: Date,
    extra: readonly string[] = [],
  ): OpensslVerdict {
    const id = ++this.#count;
    const args = [
      'verify',
      '-x509_strict',
      '-purpose',
      'sslclient',
      '-CAfile',
      this.writePem(`verify-${id}-roots`, roots),
    ];
    if (intermediates.length > 0)
      args.push('-untrusted', this.writePem(`verify-${id}-untrusted`, intermediates));
    args.push(
      '-attime',
      String(Math.floor(at.getTime() / 1000)),
      ...extra,
      this.writePem(`verify-${id}-leaf`, [leaf]),
    );
    const result = spawnSync('openssl', args, { encoding: 'utf8' });
    if (result.error) throw new Error('openssl is missing: run scripts/setup.sh (apt-get install openssl)');
    const output = `${result.stdout}${result.stderr}`;
    return { ok: result.status === 0 && /: OK\s*$/.test(result.stdout), output };
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }

  async #issue(
    issuer: TestCertificate | undefined,
    options: TestCertificateOptions,
  ): Promise<TestCertificate> {
    const keyPair = options.keyPair ?? (await newKeyPair(options.key ?? 'P-256'));
    const spki = new Uint8Array(keyPair.publicKey.export({ type: 'spki', format: 'der' }));
    const subjectDer = options.subjectDer ?? nameDer(options);
    const subjectKeyId = createHash('sha1').update(spki).digest();
    const signer = issuer?.keyPair.privateKey ?? keyPair.privateKey;
    const issuerKeyId = issuer === undefined ? subjectKeyId : Buffer.from(issuer.subjectKeyId, 'hex');
    const digestName = options.digest ?? 'sha256';
    const pss = options.rsaPss === true && signer.asymmetricKeyType === 'rsa';
    const signatureAlgorithm = pss ? pssAlgorithmDer(digestName) : signatureAlgorithmDer(signer, digestName);
    const tbs = derSequence(
      derTlv(0xa0, derInteger(Uint8Array.of(2))),
      derInteger(options.serial ?? randomSerial()),
      signatureAlgorithm,
      options.issuerDer ?? issuer?.subjectDer ?? subjectDer,
      derSequence(
        derTime(options.notBefore ?? new Date(Date.now() - 3_600_000)),
        derTime(options.notAfter ?? new Date(Date.now() + 30 * 86_400_000)),
      ),
      subjectDer,
      spki,
      derTlv(
        0xa3,
        derSequence(...extensions(options, subjectKeyId, issuer === undefined ? undefined : issuerKeyId)),
      ),
    );
    const digest = signer.asymmetricKeyType === 'ed25519' ? null : digestName;
    const signature = pss
      ? sign(digest, tbs, {
          key: signer,
          padding: constants.RSA_PKCS1_PSS_PADDING,
          saltLength: DIGEST_BYTES[digestName],
        })
      : sign(digest, tbs, signer);
    const der = derSequence(tbs, signatureAlgorithm, derBitString(new Uint8Array(signature)));

    const name =
      options.name ?? `${(options.commonName ?? 'certificate').replace(/[^\w.-]/g, '_')}-${++this.#count}`;
    const certificatePem = pem('CERTIFICATE', der);
    const keyPem = keyPair.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    const path = join(this.dir, `${name}.pem`);
    const keyPath = join(this.dir, `${name}.key.pem`);
    writeFileSync(path, certificatePem);
    writeFileSync(keyPath, keyPem, { mode: 0o600 });
    return {
      name,
      der,
      pem: certificatePem,
      keyPem,
      path,
      keyPath,
      keyPair,
      subjectDer,
      subjectKeyId: subjectKeyId.toString('hex'),
    };
  }
}

/** A subject Name: CN, serialNumber, O, each its own RDN (as openssl -subj writes them). */
export function nameDer(parts: {
  commonName?: string;
  serialNumber?: string;
  organization?: string;
}): Uint8Array {
  const rdn = (oid: string, tag: number, text: string) =>
    derSet(derSequence(derOid(oid), derTlv(tag, Buffer.from(text, 'utf8'))));
  const rdns: Uint8Array[] = [];
  if (parts.organization !== undefined) rdns.push(rdn('2.5.4.10', 0x0c, parts.organization));
  if (parts.commonName !== undefined) rdns.push(rdn('2.5.4.3', 0x0c, parts.commonName));
  if (parts.serialNumber !== undefined) rdns.push(rdn('2.5.4.5', 0x13, parts.serialNumber)); // PrintableString (X.520)
  return derSequence(...rdns);
}

/** An Extension's DER. */
export function extensionDer(extension: TestExtension): Uint8Array {
  return derSequence(
    derOid(extension.oid),
    ...(extension.critical ? [derTlv(DER_TAG.boolean, Uint8Array.of(0xff))] : []),
    derOctetString(extension.value),
  );
}

/** PEM of DER (64-column base64). */
export function pem(label: string, der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

function caDefaults(): TestCertificateOptions {
  return { basicConstraints: { ca: true, critical: true }, keyUsage: ['keyCertSign', 'cRLSign'] };
}

async function newKeyPair(type: TestKeyType): Promise<KeyPairKeyObjectResult> {
  switch (type) {
    case 'rsa1024':
      return generate('rsa', { modulusLength: 1024 });
    case 'rsa2048':
      return generate('rsa', { modulusLength: 2048 });
    case 'ed25519':
      return generate('ed25519');
    default:
      return generate('ec', { namedCurve: type });
  }
}

function signatureAlgorithmDer(signer: KeyObject, digest: TestDigest): Uint8Array {
  const type = signer.asymmetricKeyType;
  if (type === 'ed25519') return derSequence(derOid('1.3.101.112'));
  const family = type === 'ec' ? 'ec' : 'rsa';
  const oid = SIGNATURE_OIDS[family][digest];
  if (oid === undefined) throw new Error(`no ${digest} signature with a ${type} key`);
  // RSA PKCS#1 v1.5 carries NULL parameters; ECDSA none (RFC 5758).
  return family === 'rsa' ? derSequence(derOid(oid), derTlv(0x05)) : derSequence(derOid(oid));
}

const DIGEST_BYTES: Record<TestDigest, number> = { md5: 16, sha1: 20, sha256: 32, sha384: 48, sha512: 64 };
const DIGEST_OIDS: Partial<Record<TestDigest, string>> = {
  sha1: '1.3.14.3.2.26',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
};

/** RFC 4055 RSASSA-PSS-params: the digest, MGF1 with the same digest, saltLength = digest length. */
function pssAlgorithmDer(digest: TestDigest): Uint8Array {
  const digestOid = DIGEST_OIDS[digest];
  if (digestOid === undefined) throw new Error(`no RSASSA-PSS with ${digest}`);
  const hash = derSequence(derOid(digestOid), derTlv(0x05));
  return derSequence(
    derOid('1.2.840.113549.1.1.10'),
    derSequence(
      derTlv(0xa0, hash),
      derTlv(0xa1, derSequence(derOid('1.2.840.113549.1.1.8'), hash)),
      derTlv(0xa2, derInteger(Uint8Array.of(DIGEST_BYTES[digest]))),
    ),
  );
}

function extensions(
  options: TestCertificateOptions,
  subjectKeyId: Buffer,
  issuerKeyId: Buffer | undefined,
): Uint8Array[] {
  const out: TestExtension[] = [];
  const constraints = options.basicConstraints;
  if (constraints) {
    const pathLen = constraints.pathLen === undefined ? [] : [derInteger(Uint8Array.of(constraints.pathLen))];
    const ca = constraints.ca ? [derTlv(DER_TAG.boolean, Uint8Array.of(0xff))] : [];
    out.push({
      oid: '2.5.29.19',
      critical: constraints.critical ?? constraints.ca,
      value: derSequence(...ca, ...pathLen),
    });
  }
  if (options.keyUsage) out.push({ oid: '2.5.29.15', critical: true, value: keyUsageDer(options.keyUsage) });
  if (options.extendedKeyUsage) {
    const purposes = options.extendedKeyUsage.map((purpose) =>
      derOid(purpose === 'clientAuth' ? CLIENT_AUTH : purpose === 'serverAuth' ? SERVER_AUTH : purpose),
    );
    out.push({ oid: '2.5.29.37', value: derSequence(...purposes) });
  }
  if (options.subjectKeyId !== false) out.push({ oid: '2.5.29.14', value: derOctetString(subjectKeyId) });
  if (issuerKeyId !== undefined && options.authorityKeyId !== false) {
    out.push({ oid: '2.5.29.35', value: derSequence(derTlv(0x80, issuerKeyId)) });
  }
  const names = [
    ...(options.emails ?? []).map((email) => derTlv(0x81, Buffer.from(email))),
    ...(options.dnsNames ?? []).map((dns) => derTlv(0x82, Buffer.from(dns))),
    ...(options.uris ?? []).map((uri) => derTlv(0x86, Buffer.from(uri))),
    ...(options.ips ?? []).map((ip) => derTlv(0x87, Uint8Array.from(ip.split('.').map(Number)))),
  ];
  if (names.length > 0) out.push({ oid: '2.5.29.17', value: derSequence(...names) });
  if (options.crlDistributionPoints?.length) {
    const points = options.crlDistributionPoints.map((uri) =>
      derSequence(derTlv(0xa0, derTlv(0xa0, derTlv(0x86, Buffer.from(uri))))),
    );
    out.push({ oid: '2.5.29.31', value: derSequence(...points) });
  }
  if (options.deviceType !== undefined) {
    out.push({
      oid: options.deviceTypeOid ?? DEFAULT_DEVICE_TYPE_OID,
      value: derTlv(0x0c, Buffer.from(options.deviceType, 'utf8')),
    });
  }
  out.push(...(options.extraExtensions ?? []));
  return out.map(extensionDer);
}

/** KeyUsage BIT STRING in DER: trailing zero bits dropped, their count in the first octet. */
function keyUsageDer(usages: readonly TestKeyUsage[]): Uint8Array {
  let bits = 0;
  for (const usage of usages) bits |= 0x8000 >> KEY_USAGE_BITS[usage];
  if (bits === 0) return derTlv(DER_TAG.bitString, Uint8Array.of(0));
  const bytes = bits & 0xff ? [bits >> 8, bits & 0xff] : [bits >> 8];
  const last = bytes[bytes.length - 1] as number;
  let unused = 0;
  while (!((last >> unused) & 1)) unused++;
  return derTlv(DER_TAG.bitString, Uint8Array.from([unused, ...bytes]));
}

function randomSerial(): Uint8Array {
  const serial = randomBytes(16);
  serial[0] = ((serial[0] as number) & 0x7f) | 0x10; // positive, and no leading zero octet to strip
  return serial;
}
