import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { derOctetString, derSequence, derTlv, pemBlocks } from '../../src/pki/index.js';
import { normalizeSerial } from '../../src/trust/enrollment/index.js';
import { AnchorIndex, PathValidator } from '../../src/trust/validation/index.js';
import type { ValidationReason } from '../../src/trust/validation-reason.js';
import { nameDer, type TestCertificate, TestPki } from '../helpers/test-pki.js';

/**
 * The path validator against `openssl verify -x509_strict -purpose sslclient` on the same chains:
 * a matrix of bad certificates and chains, each refused with its own reason code (and the good sensor
 * still validating right after, from the same caches), and each verdict compared with OpenSSL's. Where
 * the gateway is deliberately stricter than OpenSSL's defaults, the case says so and asserts the
 * difference explicitly (`opensslAccepts`), with the OpenSSL option that agrees when there is one.
 */

const DEVICE_TYPE_OID = '1.3.6.1.4.1.12345.1.1';
const MAX_CHAIN_DEPTH = 4;

/** What a case presents and trusts. `roots` defaults to the test root, `anchors` to an index of the roots. */
interface Material {
  presented: Uint8Array[];
  roots?: Uint8Array[];
  /** Intermediates the gateway knows from its bundle (also given to openssl as -untrusted). */
  knownIntermediates?: Uint8Array[];
}

interface BadCase {
  name: string;
  reason: ValidationReason;
  depth: number;
  make: () => Promise<Material>;
  /** OpenSSL refuses too: its error text. */
  openssl?: RegExp;
  /** OpenSSL (with the documented command) accepts: why the gateway differs, and the option that agrees. */
  opensslAccepts?: { why: string; agreeingArgs?: string[]; agreeing?: RegExp };
}

let pki: TestPki;
let root: TestCertificate;
let inter: TestCertificate;
let sensor: TestCertificate;
let validator: PathValidator;
let index: AnchorIndex;
const at = new Date();
const day = 86_400_000;

beforeAll(async () => {
  pki = await TestPki.create();
  root = await pki.root({ commonName: 'Sensor Root CA' });
  inter = await pki.intermediate(root, { commonName: 'Sensor Intermediate' });
  sensor = await pki.sensor(inter, { commonName: 'sensor-good' });
  index = new AnchorIndex([root.der]);
  validator = new PathValidator({
    policy: { allowedCurves: ['P-256', 'P-384'], allowEd25519: false, minRsaBits: 2048 },
    maxChainDepth: MAX_CHAIN_DEPTH,
    deviceTypeOid: DEVICE_TYPE_OID,
  });
});

afterAll(() => pki.remove());

function validate(material: Material) {
  const roots = material.roots ?? [root.der];
  const anchors =
    material.roots === undefined && material.knownIntermediates === undefined
      ? index
      : new AnchorIndex(roots, material.knownIntermediates ?? []);
  return validator.validate(material.presented, anchors, at);
}

function openssl(material: Material, extra: string[] = []) {
  const [leaf = new Uint8Array(), ...rest] = material.presented;
  return pki.opensslVerify(
    leaf,
    material.roots ?? [root.der],
    [...rest, ...(material.knownIntermediates ?? [])],
    at,
    extra,
  );
}

/** A leaf under the test intermediate, presented with it. */
async function underIntermediate(options: Parameters<TestPki['sensor']>[1]): Promise<Material> {
  return { presented: [(await pki.sensor(inter, options)).der, inter.der] };
}

/** A leaf under a fresh intermediate (made with `options`) of the test root. */
async function underOwnIntermediate(options: Parameters<TestPki['intermediate']>[1]): Promise<Material> {
  const own = await pki.intermediate(root, options);
  return { presented: [(await pki.sensor(own)).der, own.der] };
}

function flipLastByte(der: Uint8Array): Uint8Array {
  const copy = Uint8Array.from(der);
  copy[copy.length - 1] = (copy[copy.length - 1] as number) ^ 0x01; // inside the signature's last INTEGER
  return copy;
}

/** A nameConstraints extension (critical unless told) from GeneralName DERs. */
function nameConstraints(
  permitted: Uint8Array[],
  excluded: Uint8Array[] = [],
  critical = true,
): { oid: string; critical: boolean; value: Uint8Array } {
  const subtrees = (tag: number, names: Uint8Array[]) =>
    names.length === 0 ? [] : [derTlv(tag, ...names.map((name) => derSequence(name)))];
  return {
    oid: '2.5.29.30',
    critical,
    value: derSequence(...subtrees(0xa0, permitted), ...subtrees(0xa1, excluded)),
  };
}
const dnsName = (text: string) => derTlv(0x82, Buffer.from(text, 'ascii'));
const emailName = (text: string) => derTlv(0x81, Buffer.from(text, 'ascii'));
const uriName = (text: string) => derTlv(0x86, Buffer.from(text, 'ascii'));
const ipName = (...octets: number[]) => derTlv(0x87, Uint8Array.from(octets));
const directoryName = (name: Uint8Array) => derTlv(0xa4, name);

/** A leaf (made with `leaf`) under a fresh intermediate of the test root carrying `constraints`. */
async function underConstrainedCa(
  constraints: ReturnType<typeof nameConstraints>,
  leaf: Parameters<TestPki['sensor']>[1] = {},
): Promise<Material> {
  const ca = await pki.intermediate(root, { commonName: 'Constrained CA', extraExtensions: [constraints] });
  return { presented: [(await pki.sensor(ca, leaf)).der, ca.der] };
}

const cases: BadCase[] = [
  {
    name: 'expired sensor certificate',
    reason: 'expired',
    depth: 0,
    make: () =>
      underIntermediate({ notBefore: new Date(Date.now() - 10 * day), notAfter: new Date(Date.now() - day) }),
    openssl: /certificate has expired/,
  },
  {
    name: 'sensor certificate not yet valid',
    reason: 'not-yet-valid',
    depth: 0,
    make: () =>
      underIntermediate({ notBefore: new Date(Date.now() + day), notAfter: new Date(Date.now() + 10 * day) }),
    openssl: /certificate is not yet valid/,
  },
  {
    name: 'expired intermediate',
    reason: 'expired',
    depth: 1,
    make: () =>
      underOwnIntermediate({
        notBefore: new Date(Date.now() - 10 * day),
        notAfter: new Date(Date.now() - day),
      }),
    openssl: /certificate has expired/,
  },
  {
    name: 'intermediate not yet valid',
    reason: 'not-yet-valid',
    depth: 1,
    make: () =>
      underOwnIntermediate({
        notBefore: new Date(Date.now() + day),
        notAfter: new Date(Date.now() + 10 * day),
      }),
    openssl: /certificate is not yet valid/,
  },
  {
    name: 'expired trust anchor',
    reason: 'expired',
    depth: 1,
    make: async () => {
      const old = await pki.root({
        commonName: 'Old Root',
        notBefore: new Date(Date.now() - 10 * day),
        notAfter: new Date(Date.now() - day),
      });
      return { presented: [(await pki.sensor(old)).der], roots: [old.der] };
    },
    openssl: /certificate has expired/,
  },
  {
    name: 'extendedKeyUsage serverAuth only',
    reason: 'eku',
    depth: 0,
    make: () => underIntermediate({ extendedKeyUsage: ['serverAuth'] }),
    openssl: /unsuitable certificate purpose/,
  },
  {
    name: 'no extendedKeyUsage',
    reason: 'eku',
    depth: 0,
    make: () => underIntermediate({ extendedKeyUsage: null }),
    opensslAccepts: {
      why: 'OpenSSL reads a missing EKU as "any purpose"; the gateway requires clientAuth explicitly',
    },
  },
  {
    name: 'keyUsage keyEncipherment without digitalSignature',
    reason: 'key-usage',
    depth: 0,
    make: () => underIntermediate({ keyUsage: ['keyEncipherment'] }),
    openssl: /unsuitable certificate purpose/,
  },
  {
    name: 'keyUsage keyAgreement without digitalSignature',
    reason: 'key-usage',
    depth: 0,
    make: () => underIntermediate({ keyUsage: ['keyAgreement'] }),
    opensslAccepts: {
      why: 'sslclient accepts keyAgreement (static (EC)DH client certificates); DTLS client authentication here signs',
    },
  },
  {
    name: 'sensor certificate that is a CA',
    reason: 'key-usage',
    depth: 0,
    make: () =>
      underIntermediate({
        basicConstraints: { ca: true, critical: true },
        keyUsage: ['digitalSignature', 'keyCertSign'],
      }),
    opensslAccepts: {
      why: 'OpenSSL lets a CA certificate be a TLS client; the gateway refuses a CA key as a sensor',
    },
  },
  {
    name: 'intermediate with basicConstraints CA:FALSE',
    reason: 'not-a-ca',
    depth: 1,
    make: () => underOwnIntermediate({ commonName: 'Not A CA', basicConstraints: { ca: false } }),
    openssl: /invalid CA certificate/,
  },
  {
    name: 'intermediate without basicConstraints',
    reason: 'not-a-ca',
    depth: 1,
    make: () => underOwnIntermediate({ commonName: 'No Constraints', basicConstraints: null }),
    openssl: /invalid CA certificate/,
  },
  {
    name: 'intermediate keyUsage without keyCertSign',
    reason: 'ca-key-usage',
    depth: 1,
    make: () =>
      underOwnIntermediate({ commonName: 'No CertSign', keyUsage: ['digitalSignature', 'cRLSign'] }),
    openssl: /key usage does not include certificate signing/,
  },
  {
    name: 'pathLenConstraint 0 with an intermediate below',
    reason: 'path-length-exceeded',
    depth: 2,
    make: async () => {
      const limited = await pki.intermediate(root, {
        commonName: 'PathLen 0',
        basicConstraints: { ca: true, pathLen: 0, critical: true },
      });
      const below = await pki.intermediate(limited, { commonName: 'Below PathLen 0' });
      return { presented: [(await pki.sensor(below)).der, below.der, limited.der] };
    },
    openssl: /path length constraint exceeded/,
  },
  {
    name: 'chain of 5 intermediates (max_chain_depth 4)',
    reason: 'chain-too-long',
    depth: 5,
    make: async () => {
      const chain = [await pki.intermediate(root, { commonName: 'Level 1' })];
      for (let level = 2; level <= 5; level++) {
        chain.push(
          await pki.intermediate(chain[chain.length - 1] as TestCertificate, {
            commonName: `Level ${level}`,
          }),
        );
      }
      const leaf = await pki.sensor(chain[chain.length - 1]);
      return { presented: [leaf.der, ...chain.reverse().map((certificate) => certificate.der)] };
    },
    opensslAccepts: {
      why: 'openssl verify has no depth limit by default; -verify_depth is the same limit (intermediates only)',
      agreeingArgs: ['-verify_depth', String(MAX_CHAIN_DEPTH)],
      agreeing: /certificate chain too long/,
    },
  },
  {
    name: 'sensor signature altered',
    reason: 'bad-signature',
    depth: 0,
    make: async () => ({ presented: [flipLastByte((await pki.sensor(inter)).der), inter.der] }),
    openssl: /certificate signature failure/,
  },
  {
    name: 'intermediate signature altered',
    reason: 'bad-signature',
    depth: 1,
    make: async () => {
      const own = await pki.intermediate(root, { commonName: 'Tampered Intermediate' });
      return { presented: [(await pki.sensor(own)).der, flipLastByte(own.der)] };
    },
    openssl: /certificate signature failure/,
  },
  {
    name: 'intermediate with extendedKeyUsage serverAuth only (EKU chaining)',
    reason: 'ca-eku',
    depth: 1,
    make: () => underOwnIntermediate({ commonName: 'ServerAuth Only CA', extendedKeyUsage: ['serverAuth'] }),
    openssl: /unsuitable certificate purpose/,
  },
  {
    name: 'trust anchor with extendedKeyUsage serverAuth only (EKU chaining)',
    reason: 'ca-eku',
    depth: 1,
    make: async () => {
      const serverRoot = await pki.root({ commonName: 'ServerAuth Root', extendedKeyUsage: ['serverAuth'] });
      return { presented: [(await pki.sensor(serverRoot)).der], roots: [serverRoot.der] };
    },
    openssl: /unsuitable certificate purpose/,
  },
  {
    name: 'negative sensor serial',
    reason: 'bad-serial',
    depth: 0,
    make: () => underIntermediate({ serial: Uint8Array.of(0xf0, 0x01, 0x02) }),
    opensslAccepts: {
      why: 'OpenSSL 3.0 does not check serials (RFC 5280 4.1.2.2: positive); [trust] lenient_serials admits them',
    },
  },
  {
    name: 'zero sensor serial',
    reason: 'bad-serial',
    depth: 0,
    make: () => underIntermediate({ serial: Uint8Array.of(0x00) }),
    opensslAccepts: { why: 'OpenSSL 3.0 does not check serials (RFC 5280 4.1.2.2: positive, so not zero)' },
  },
  {
    name: 'sensor serial of 21 octets',
    reason: 'bad-serial',
    depth: 0,
    make: () => underIntermediate({ serial: new Uint8Array(21).fill(0x11) }),
    opensslAccepts: {
      why: 'OpenSSL 3.0 does not check serial lengths (RFC 5280 4.1.2.2: at most 20 octets)',
    },
  },
  {
    name: 'intermediate serial of 21 octets',
    reason: 'bad-serial',
    depth: 1,
    make: () => underOwnIntermediate({ commonName: 'Long Serial CA', serial: new Uint8Array(21).fill(0x22) }),
    opensslAccepts: { why: 'OpenSSL 3.0 does not check serial lengths; the rule holds for CAs too' },
  },
  {
    name: 'device-type extension holding an INTEGER',
    reason: 'bad-device-type',
    depth: 0,
    make: () =>
      underIntermediate({
        deviceType: undefined,
        extraExtensions: [{ oid: DEVICE_TYPE_OID, value: Uint8Array.of(0x02, 0x01, 0x07) }],
      }),
    opensslAccepts: { why: 'the device-type extension is the gateway’s own; OpenSSL does not read it' },
  },
  {
    name: 'device-type extension holding raw bytes, not DER',
    reason: 'bad-device-type',
    depth: 0,
    make: () =>
      underIntermediate({
        deviceType: undefined,
        extraExtensions: [{ oid: DEVICE_TYPE_OID, value: Uint8Array.from(Buffer.from('thermometer')) }],
      }),
    opensslAccepts: { why: 'the device-type extension is the gateway’s own; OpenSSL does not read it' },
  },
  {
    name: 'device-type PrintableString with characters outside its set',
    reason: 'bad-device-type',
    depth: 0,
    make: () =>
      underIntermediate({
        deviceType: undefined,
        extraExtensions: [{ oid: DEVICE_TYPE_OID, value: derTlv(0x13, Buffer.from('thermo_meter@1')) }],
      }),
    opensslAccepts: { why: 'the device-type extension is the gateway’s own; OpenSSL does not read it' },
  },
  // RFC 5280's certificate profile (certificate-profile.ts; [trust] lenient_profile relaxes it).
  {
    name: 'sensor certificate without authorityKeyIdentifier',
    reason: 'key-identifier',
    depth: 0,
    make: () => underIntermediate({ authorityKeyId: false }),
    openssl: /Missing Authority Key Identifier/,
  },
  {
    name: 'intermediate without authorityKeyIdentifier',
    reason: 'key-identifier',
    depth: 1,
    make: () => underOwnIntermediate({ commonName: 'No AKI CA', authorityKeyId: false }),
    openssl: /Missing Authority Key Identifier/,
  },
  {
    name: 'intermediate without subjectKeyIdentifier',
    reason: 'key-identifier',
    depth: 1,
    make: () => underOwnIntermediate({ commonName: 'No SKI CA', subjectKeyId: false }),
    openssl: /Missing Subject Key Identifier/,
  },
  {
    name: 'trust anchor without subjectKeyIdentifier',
    reason: 'key-identifier',
    depth: 1,
    make: async () => {
      const bare = await pki.root({ commonName: 'No SKI Root', subjectKeyId: false });
      return { presented: [(await pki.sensor(bare)).der], roots: [bare.der] };
    },
    openssl: /Missing Subject Key Identifier/,
  },
  {
    name: 'trust anchor without basicConstraints',
    reason: 'not-a-ca',
    depth: 1,
    make: async () => {
      const plain = await pki.root({ commonName: 'Plain Root', basicConstraints: null, keyUsage: null });
      return { presented: [(await pki.sensor(plain)).der], roots: [plain.der] };
    },
    openssl: /invalid CA certificate/,
  },
  {
    name: 'intermediate with a non-critical basicConstraints',
    reason: 'extension-criticality',
    depth: 1,
    make: () =>
      underOwnIntermediate({ commonName: 'Soft CA', basicConstraints: { ca: true, critical: false } }),
    openssl: /Basic Constraints of CA cert not marked critical/,
  },
  {
    name: 'critical authorityKeyIdentifier in the sensor certificate',
    reason: 'extension-criticality',
    depth: 0,
    make: () =>
      underIntermediate({
        authorityKeyId: false,
        extraExtensions: [
          {
            oid: '2.5.29.35',
            critical: true,
            value: derSequence(derTlv(0x80, Buffer.from(inter.subjectKeyId, 'hex'))),
          },
        ],
      }),
    openssl: /unhandled critical extension/,
  },
  {
    name: 'critical authorityInfoAccess in the sensor certificate',
    reason: 'extension-criticality',
    depth: 0,
    make: () =>
      underIntermediate({
        extraExtensions: [
          {
            oid: '1.3.6.1.5.5.7.1.1',
            critical: true,
            // caIssuers (1.3.6.1.5.5.7.48.2) at a URI
            value: derSequence(
              derSequence(
                derTlv(0x06, Uint8Array.of(0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x02)),
                uriName('http://ca.example/ca.der'),
              ),
            ),
          },
        ],
      }),
    openssl: /unhandled critical extension/,
  },
  {
    name: 'non-critical policyConstraints on an intermediate',
    reason: 'extension-criticality',
    depth: 1,
    make: () =>
      underOwnIntermediate({
        commonName: 'Soft Policy CA',
        // requireExplicitPolicy [0] 0
        extraExtensions: [
          { oid: '2.5.29.36', critical: false, value: derSequence(derTlv(0x80, Uint8Array.of(0))) },
        ],
      }),
    opensslAccepts: {
      why: 'OpenSSL 3 does not check the criticality of policyConstraints (RFC 5280 4.2.1.11: MUST be critical)',
    },
  },
  {
    name: 'sensor with an empty subject and a non-critical subjectAltName',
    reason: 'empty-subject',
    depth: 0,
    make: () => underIntermediate({ subjectDer: derSequence(), dnsNames: ['th-empty.local'] }),
    openssl: /Subject empty and Subject Alt Name extension not critical/,
  },
  {
    name: 'sensor keyUsage keyCertSign without CA:TRUE',
    reason: 'key-usage',
    depth: 0,
    make: () => underIntermediate({ keyUsage: ['digitalSignature', 'keyCertSign'] }),
    openssl: /Key usage keyCertSign invalid for non-CA cert/,
  },
  {
    name: 'SAN dNSName with an underscore',
    reason: 'san-syntax',
    depth: 0,
    make: () => underIntermediate({ dnsNames: ['th_1.local'] }),
    opensslAccepts: {
      why: 'OpenSSL checks a dNSName only against a name it is asked to match (RFC 5280 4.2.1.6: preferred name syntax)',
    },
  },
  {
    name: 'SAN dNSName outside a permitted dNSName (name constraints)',
    reason: 'name-constraints',
    depth: 0,
    make: () =>
      underConstrainedCa(nameConstraints([dnsName('plant7.example')]), { dnsNames: ['s1.plant8.example'] }),
    openssl: /permitted subtree violation/,
  },
  {
    name: 'SAN dNSName inside an excluded dNSName (name constraints)',
    reason: 'name-constraints',
    depth: 0,
    make: () =>
      underConstrainedCa(nameConstraints([], [dnsName('lab.plant7.example')]), {
        dnsNames: ['s1.plant7.example', 's2.LAB.plant7.example'],
      }),
    openssl: /excluded subtree violation/,
  },
  {
    name: 'subject outside a permitted directoryName (name constraints)',
    reason: 'name-constraints',
    depth: 0,
    make: () =>
      underConstrainedCa(nameConstraints([directoryName(nameDer({ organization: 'Acme' }))]), {
        dnsNames: [],
      }),
    openssl: /permitted subtree violation/,
  },
  {
    name: 'SAN iPAddress outside a permitted iPAddress range (name constraints)',
    reason: 'name-constraints',
    depth: 0,
    make: () =>
      underConstrainedCa(nameConstraints([ipName(10, 0, 0, 0, 255, 0, 0, 0)]), {
        dnsNames: [],
        ips: ['192.0.2.7'],
      }),
    openssl: /permitted subtree violation/,
  },
  {
    name: 'SAN rfc822Name outside a permitted host (name constraints)',
    reason: 'name-constraints',
    depth: 0,
    make: () =>
      underConstrainedCa(nameConstraints([emailName('plant7.example')]), {
        dnsNames: [],
        emails: ['ops@plant8.example'],
      }),
    openssl: /permitted subtree violation/,
  },
  {
    name: 'SAN URI whose host is excluded (name constraints)',
    reason: 'name-constraints',
    depth: 0,
    make: () =>
      underConstrainedCa(nameConstraints([], [uriName('.bad.example')]), {
        dnsNames: [],
        uris: ['coaps://s1.bad.example/telemetry'],
      }),
    openssl: /excluded subtree violation/,
  },
  {
    name: 'non-critical nameConstraints on a CA',
    reason: 'name-constraints',
    depth: 1,
    make: () => underConstrainedCa(nameConstraints([dnsName('local')], [], false)),
    opensslAccepts: {
      why: 'OpenSSL applies a non-critical nameConstraints (the names are inside); RFC 5280 4.2.1.10 requires it critical, as x509-limbo rfc5280::nc::permitted-dns-match-noncritical expects',
    },
  },
  {
    name: 'nameConstraints with a leading-period dNSName',
    reason: 'name-constraints',
    depth: 1,
    make: () => underConstrainedCa(nameConstraints([dnsName('.local')])),
    opensslAccepts: {
      why: 'OpenSSL reads ".local" as a suffix; RFC 5280 4.2.1.10 dNSName constraints have no leading period (x509-limbo rfc5280::nc::invalid-dnsname-leading-period)',
    },
  },
  {
    name: 'nameConstraints in the sensor certificate',
    reason: 'name-constraints',
    depth: 0,
    make: () => underIntermediate({ extraExtensions: [nameConstraints([dnsName('local')])] }),
    opensslAccepts: {
      why: 'OpenSSL ignores nameConstraints in an end entity; RFC 5280 4.2.1.10 allows it only in CA certificates (x509-limbo rfc5280::nc::not-allowed-in-ee-*)',
    },
  },
  {
    name: 'issued by an unknown CA',
    reason: 'unknown-issuer',
    depth: 1,
    make: async () => {
      const rogueRoot = await pki.root({ commonName: 'Rogue Root' });
      const rogue = await pki.intermediate(rogueRoot, { commonName: 'Rogue Intermediate' });
      return { presented: [(await pki.sensor(rogue)).der, rogue.der] };
    },
    openssl: /unable to get (local )?issuer certificate/,
  },
  {
    name: 'issuer name that does not match its issuer (same key identifier)',
    reason: 'name-chaining',
    depth: 0,
    make: () => underIntermediate({ issuerDer: nameDer({ commonName: 'Somebody Else' }) }),
    openssl: /unable to get local issuer certificate/,
  },
  {
    name: 'self-signed sensor certificate, not enrolled',
    reason: 'unknown-issuer',
    depth: 0,
    make: async () => ({ presented: [(await pki.sensor(undefined, { commonName: 'lonely-sensor' })).der] }),
    openssl: /self-signed certificate/,
  },
  {
    name: 'SHA-1 signature',
    reason: 'weak-signature-algorithm',
    depth: 0,
    make: () => underIntermediate({ digest: 'sha1' }),
    opensslAccepts: {
      why: 'openssl verify checks signature strength only at an authentication security level',
      agreeingArgs: ['-auth_level', '1'],
      agreeing: /CA signature digest algorithm too weak/,
    },
  },
  {
    name: 'MD5 signature',
    reason: 'weak-signature-algorithm',
    depth: 0,
    make: async () => {
      const rsa = await pki.intermediate(root, { commonName: 'RSA Intermediate', key: 'rsa2048' });
      return { presented: [(await pki.sensor(rsa, { digest: 'md5' })).der, rsa.der] };
    },
    opensslAccepts: {
      why: 'as for SHA-1: no security level by default',
      agreeingArgs: ['-auth_level', '1'],
      agreeing: /CA signature digest algorithm too weak/,
    },
  },
  {
    name: 'RSA-1024 sensor key',
    reason: 'weak-key',
    depth: 0,
    make: () => underIntermediate({ key: 'rsa1024' }),
    opensslAccepts: {
      why: 'no security level by default; level 2 (112 bits) matches min_rsa_bits 2048',
      agreeingArgs: ['-auth_level', '2'],
      agreeing: /EE certificate key too weak/,
    },
  },
  {
    name: 'RSA-1024 intermediate key',
    reason: 'weak-key',
    depth: 1,
    make: () => underOwnIntermediate({ commonName: 'Weak RSA Intermediate', key: 'rsa1024' }),
    opensslAccepts: {
      why: 'no security level by default',
      agreeingArgs: ['-auth_level', '2'],
      agreeing: /CA certificate key too weak/,
    },
  },
  {
    name: 'secp256k1 sensor key',
    reason: 'curve-not-allowed',
    depth: 0,
    make: () => underIntermediate({ key: 'secp256k1' }),
    opensslAccepts: { why: 'OpenSSL has no curve policy; allowed_curves is the gateway’s own' },
  },
  {
    name: 'P-521 sensor key (allowed curves P-256, P-384)',
    reason: 'curve-not-allowed',
    depth: 0,
    make: () => underIntermediate({ key: 'P-521' }),
    opensslAccepts: { why: 'OpenSSL has no curve policy' },
  },
  {
    name: 'Ed25519 sensor key with allow_ed25519 off',
    reason: 'curve-not-allowed',
    depth: 0,
    make: () => underIntermediate({ key: 'ed25519' }),
    opensslAccepts: { why: 'OpenSSL has no curve policy; Ed25519 is a policy choice here' },
  },
  {
    name: 'unknown critical extension',
    reason: 'unknown-critical-extension',
    depth: 0,
    make: () =>
      underIntermediate({
        extraExtensions: [{ oid: '1.3.6.1.4.1.99999.7', critical: true, value: derTlv(0x05) }],
      }),
    openssl: /unhandled critical extension/,
  },
  {
    name: 'critical certificatePolicies (not processed)',
    reason: 'unknown-critical-extension',
    depth: 1,
    make: () =>
      underOwnIntermediate({
        commonName: 'Policy CA',
        // anyPolicy (2.5.29.32.0)
        extraExtensions: [
          {
            oid: '2.5.29.32',
            critical: true,
            value: derSequence(derSequence(derTlv(0x06, Uint8Array.of(0x55, 0x1d, 0x20, 0x00)))),
          },
        ],
      }),
    opensslAccepts: {
      why: 'OpenSSL processes certificate policies; the gateway does not, so refuses them critical',
    },
  },
  {
    name: 'duplicate extension',
    reason: 'duplicate-extension',
    depth: 0,
    make: () =>
      underIntermediate({
        extraExtensions: [
          { oid: '2.5.29.37', value: derSequence(derTlv(0x06, Uint8Array.of(43, 6, 1, 5, 5, 7, 3, 2))) },
        ],
      }),
    // OpenSSL marks the certificate invalid, so it is never taken as issued by anyone.
    openssl: /ossl_x509v3_cache_extensions:invalid certificate/,
  },
  {
    name: 'not DER at all',
    reason: 'malformed',
    depth: 0,
    make: async () => ({
      presented: [Uint8Array.from(Buffer.from('this is not a certificate at all')), inter.der],
    }),
    openssl: /Could not read certificate/,
  },
  {
    name: 'truncated DER',
    reason: 'malformed',
    depth: 0,
    make: async () => ({ presented: [(await pki.sensor(inter)).der.subarray(0, 300), inter.der] }),
    openssl: /Could not read certificate/,
  },
  {
    name: 'non-minimal DER length (BER)',
    reason: 'malformed',
    depth: 0,
    make: async () => {
      const der = (await pki.sensor(inter)).der;
      // 30 82 LL LL → 30 83 00 LL LL: the same value, a length DER forbids.
      const ber = Uint8Array.from([0x30, 0x83, 0x00, der[2] as number, der[3] as number, ...der.subarray(4)]);
      return { presented: [ber, inter.der] };
    },
    opensslAccepts: { why: 'OpenSSL decodes BER lengths; the gateway reads strict DER only' },
  },
  {
    name: 'trailing bytes after the certificate',
    reason: 'malformed',
    depth: 0,
    make: async () => ({
      presented: [Uint8Array.from([...(await pki.sensor(inter)).der, 0x00, 0x00, 0x00, 0x00]), inter.der],
    }),
    opensslAccepts: { why: 'OpenSSL reads the first certificate of a PEM block and ignores what follows' },
  },
  {
    name: 'oversized certificate (700 SANs, > 16 KB)',
    reason: 'oversized',
    depth: 0,
    make: () =>
      underIntermediate({
        dnsNames: Array.from({ length: 700 }, (_, i) => `sensor-${i}.plant-7.example.local`),
      }),
    opensslAccepts: { why: 'OpenSSL has no size limit; 16 KB bounds what a handshake callback parses' },
  },
  {
    name: 'signature algorithm of tbsCertificate differs from the outer one',
    reason: 'malformed',
    depth: 0,
    make: async () => {
      const der = (await pki.sensor(inter)).der;
      // ecdsa-with-SHA256 (…04 03 02) → ecdsa-with-SHA384 (…04 03 03) in the outer AlgorithmIdentifier only.
      const outer = Buffer.from(der).lastIndexOf(
        Buffer.from([0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02]),
      );
      const copy = Uint8Array.from(der);
      copy[outer + 7] = 0x03;
      return { presented: [copy, inter.der] };
    },
    openssl: /cert info signature and signature algorithm mismatch/,
  },
];

describe('path validation refusals, cross-checked with openssl verify', () => {
  it('has a matrix of at least 25 bad certificates and chains', () => {
    expect(cases.length).toBeGreaterThanOrEqual(25);
  });

  for (const badCase of cases) {
    it(`${badCase.name}: ${badCase.reason} at depth ${badCase.depth}`, async () => {
      const material = await badCase.make();
      const verdict = validate(material);
      expect(verdict.ok).toBe(false);
      if (verdict.ok) return;
      expect(verdict.refusal.reason).toBe(badCase.reason);
      expect(verdict.refusal.depth).toBe(badCase.depth);
      expect(verdict.refusal.detail.length).toBeGreaterThan(10);

      const theirs = openssl(material);
      if (badCase.openssl) {
        expect(theirs.ok, theirs.output).toBe(false);
        expect(theirs.output).toMatch(badCase.openssl);
      } else if (badCase.opensslAccepts) {
        // A deliberate difference: OpenSSL accepts what the gateway refuses (the reason is in the case).
        expect(theirs.ok, `${badCase.opensslAccepts.why}\n${theirs.output}`).toBe(true);
        const { agreeingArgs, agreeing } = badCase.opensslAccepts;
        if (agreeingArgs && agreeing) {
          const agreed = openssl(material, agreeingArgs);
          expect(agreed.ok).toBe(false);
          expect(agreed.output).toMatch(agreeing);
        }
      } else {
        throw new Error(`case "${badCase.name}" says nothing about OpenSSL's verdict`);
      }

      // Nothing else affected: the good sensor still validates, through the same caches.
      const good = validate({ presented: [sensor.der, inter.der] });
      expect(good.ok).toBe(true);
    });
  }
});

describe('good paths, agreed by openssl verify', () => {
  it('sensor ← intermediate ← root, the intermediate presented', () => {
    const verdict = validate({ presented: [sensor.der, inter.der] });
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    expect(verdict.path.map((certificate) => certificate.subject)).toEqual([
      'CN=sensor-good, serialNumber=0001',
      'CN=Sensor Intermediate',
      'CN=Sensor Root CA',
    ]);
    expect(verdict.identity.commonName).toBe('sensor-good');
    expect(verdict.identity.deviceType).toBe('thermometer');
    expect(openssl({ presented: [sensor.der, inter.der] }).ok).toBe(true);
  });

  it('sensor directly under the root', async () => {
    const direct = await pki.sensor(root, { commonName: 'sensor-direct' });
    const verdict = validate({ presented: [direct.der] });
    expect(verdict.ok).toBe(true);
    if (verdict.ok) expect(verdict.path).toHaveLength(2);
    expect(openssl({ presented: [direct.der] }).ok).toBe(true);
  });

  it('the intermediate not presented but known from the anchor index', () => {
    const material = { presented: [sensor.der], knownIntermediates: [inter.der] };
    const verdict = validate(material);
    expect(verdict.ok).toBe(true);
    if (verdict.ok) expect(verdict.path).toHaveLength(3);
    expect(openssl(material).ok).toBe(true);
    // Without it, the sensor's issuer is unknown (openssl agrees).
    const alone = validate({ presented: [sensor.der] });
    expect(alone.ok).toBe(false);
    if (!alone.ok) expect(alone.refusal.reason).toBe('unknown-issuer');
    expect(openssl({ presented: [sensor.der] }).ok).toBe(false);
  });

  it('a presented chain that includes the anchor, and unordered extra intermediates', async () => {
    const stray = await pki.intermediate(root, { commonName: 'Unrelated Intermediate' });
    for (const presented of [
      [sensor.der, inter.der, root.der],
      [sensor.der, root.der, stray.der, inter.der],
    ]) {
      const verdict = validate({ presented });
      expect(verdict.ok).toBe(true);
      if (verdict.ok)
        expect(verdict.path.map((certificate) => certificate.commonName)).toContain('Sensor Intermediate');
      expect(openssl({ presented }).ok).toBe(true);
    }
  });

  it('P-384, RSA-2048 (PKCS#1 v1.5 and PSS) and, when allowed, Ed25519 certificates', async () => {
    const rsa = await pki.intermediate(root, {
      commonName: 'RSA Intermediate 2048',
      key: 'rsa2048',
      digest: 'sha384',
    });
    const p384 = await pki.sensor(rsa, { key: 'P-384', digest: 'sha512' });
    expect(validate({ presented: [p384.der, rsa.der] }).ok).toBe(true);
    expect(openssl({ presented: [p384.der, rsa.der] }).ok).toBe(true);
    const pss = await pki.sensor(rsa, { rsaPss: true, digest: 'sha256', commonName: 'sensor-pss' });
    const pssVerdict = validate({ presented: [pss.der, rsa.der] });
    expect(pssVerdict.ok ? 'valid' : pssVerdict.refusal).toBe('valid');
    expect(pssVerdict.ok && pssVerdict.path[0]?.signatureAlgorithm.name).toBe('RSASSA-PSS/sha256');
    expect(openssl({ presented: [pss.der, rsa.der] }).ok).toBe(true);
    const forged = validate({ presented: [flipLastByte(pss.der), rsa.der] });
    expect(forged.ok || forged.refusal.reason).toBe('bad-signature');

    const edRoot = await pki.root({ commonName: 'Ed25519 Root', key: 'ed25519' });
    const edSensor = await pki.sensor(edRoot, { key: 'ed25519' });
    const permissive = new PathValidator({
      policy: { allowedCurves: ['P-256'], allowEd25519: true, minRsaBits: 2048 },
      maxChainDepth: MAX_CHAIN_DEPTH,
      deviceTypeOid: DEVICE_TYPE_OID,
    });
    expect(permissive.validate([edSensor.der], new AnchorIndex([edRoot.der]), at).ok).toBe(true);
    expect(openssl({ presented: [edSensor.der], roots: [edRoot.der] }).ok).toBe(true);
  });

  it('a chain made by the openssl CLI itself (req -x509, x509 -req -extfile)', () => {
    const run = (...args: string[]) => {
      const result = spawnSync('openssl', args, { cwd: pki.dir, encoding: 'utf8' });
      if (result.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${result.stderr}`);
    };
    const key = (name: string) =>
      run('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', `${name}.key`);
    key('cli-root');
    run(
      'req',
      '-x509',
      '-new',
      '-key',
      'cli-root.key',
      '-subj',
      '/O=Plant 7/CN=CLI Root',
      '-days',
      '3',
      '-out',
      'cli-root.pem',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
    );
    key('cli-sensor');
    run(
      'req',
      '-new',
      '-key',
      'cli-sensor.key',
      '-subj',
      '/CN=cli-sensor/serialNumber=0042',
      '-out',
      'cli-sensor.csr',
    );
    writeFileSync(
      join(pki.dir, 'cli-sensor.ext'),
      [
        'basicConstraints=CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=clientAuth',
        'subjectAltName=DNS:cli-sensor.local,URI:urn:dev:cli-sensor,IP:10.0.0.7',
        'authorityKeyIdentifier=keyid',
        `${DEVICE_TYPE_OID}=ASN1:UTF8String:pressure-gauge`,
        'crlDistributionPoints=URI:http://crl.example.test/plant7.crl',
      ].join('\n'),
    );
    run(
      'x509',
      '-req',
      '-in',
      'cli-sensor.csr',
      '-CA',
      'cli-root.pem',
      '-CAkey',
      'cli-root.key',
      '-CAcreateserial',
      '-days',
      '2',
      '-sha384',
      '-extfile',
      'cli-sensor.ext',
      '-out',
      'cli-sensor.pem',
    );
    const [cliRoot] = pemBlocks(readFileSync(join(pki.dir, 'cli-root.pem'), 'utf8'));
    const [cliSensor] = pemBlocks(readFileSync(join(pki.dir, 'cli-sensor.pem'), 'utf8'));
    if (!cliRoot || !cliSensor) throw new Error('openssl wrote no certificate');

    // openssl starts validity at the current second: judge a minute later.
    const later = new Date(Date.now() + 60_000);
    const verdict = validator.validate([cliSensor], new AnchorIndex([cliRoot]), later);
    expect(verdict.ok ? 'valid' : verdict.refusal).toBe('valid');
    if (!verdict.ok) return;
    expect(verdict.identity).toMatchObject({
      commonName: 'cli-sensor',
      serialNumber: '0042',
      subject: 'CN=cli-sensor, serialNumber=0042',
      issuer: 'O=Plant 7, CN=CLI Root',
      deviceType: 'pressure-gauge',
      subjectAltNames: [
        { type: 'dns', value: 'cli-sensor.local' },
        { type: 'uri', value: 'urn:dev:cli-sensor' },
        { type: 'ip', value: '10.0.0.7' },
      ],
    });
    expect(verdict.path[0]?.crlDistributionPoints).toEqual(['http://crl.example.test/plant7.crl']);
    expect(verdict.path[0]?.signatureAlgorithm.name).toBe('ecdsa-with-SHA384');
    expect(pki.opensslVerify(cliSensor, [cliRoot], [], later).ok).toBe(true);
  });

  it('an octet-string device type is read as text', async () => {
    const raw = await pki.sensor(inter, {
      deviceType: undefined,
      extraExtensions: [{ oid: DEVICE_TYPE_OID, value: derOctetString(Buffer.from('flow-meter')) }],
    });
    const verdict = validate({ presented: [raw.der, inter.der] });
    expect(verdict.ok && verdict.identity.deviceType).toBe('flow-meter');
  });
});

describe('RFC 5280 rules: EKU chaining and serials, next to openssl', () => {
  it('a CA whose extendedKeyUsage allows clientAuth (beside serverAuth) issues sensors; openssl agrees', async () => {
    const material = await underOwnIntermediate({
      commonName: 'Client and Server CA',
      extendedKeyUsage: ['serverAuth', 'clientAuth'],
    });
    expect(validate(material).ok).toBe(true);
    expect(openssl(material).ok).toBe(true);
  });

  it('a CA with anyExtendedKeyUsage alone issues sensors (as Go reads it); OpenSSL 3 refuses it for sslclient', async () => {
    const material = await underOwnIntermediate({
      commonName: 'Any Purpose CA',
      extendedKeyUsage: ['2.5.29.37.0'],
    });
    expect(validate(material).ok).toBe(true);
    const theirs = openssl(material);
    // OpenSSL requires the purpose itself in a CA's EKU; Go, Windows and RFC 5280 4.2.1.12 let
    // anyExtendedKeyUsage stand for any purpose. The gateway follows the latter.
    expect(theirs.ok).toBe(false);
    expect(theirs.output).toMatch(/unsuitable certificate purpose/);
  });

  it('lenient_serials admits a negative serial, and its serial is the one openssl prints (block --serial)', async () => {
    const negative = await pki.sensor(inter, {
      commonName: 'legacy-sensor',
      serial: Uint8Array.of(0xf0, 0x01, 0x02),
    });
    const lenient = new PathValidator({
      policy: { allowedCurves: ['P-256', 'P-384'], allowEd25519: false, minRsaBits: 2048 },
      maxChainDepth: MAX_CHAIN_DEPTH,
      deviceTypeOid: DEVICE_TYPE_OID,
      lenientSerials: true,
    });
    const verdict = lenient.validate([negative.der, inter.der], index, at);
    expect(verdict.ok).toBe(true);
    if (!verdict.ok) return;
    // 0xf00102 is -(0x1000000 - 0xf00102) = -0x0ffefe.
    expect(verdict.identity.certificateSerial).toBe('-ffefe');
    const printed = spawnSync('openssl', ['x509', '-noout', '-serial', '-in', negative.path], {
      encoding: 'utf8',
    });
    const serial = printed.stdout.trim().replace(/^serial=/, '');
    expect(normalizeSerial(serial)).toBe('-ffefe');
    const text = spawnSync('openssl', ['x509', '-noout', '-text', '-in', negative.path], {
      encoding: 'utf8',
    });
    const shown = /Serial Number:\s*(\S+(?: \(\S+\))?)/.exec(text.stdout)?.[1] ?? '';
    expect(shown).toMatch(/^-/);
    expect(normalizeSerial(/\((-0x[0-9a-f]+)\)/.exec(shown)?.[1] ?? shown)).toBe('-ffefe');
    expect(normalizeSerial('(Negative)0f:fe:fe')).toBe('-ffefe');
    // Without the switch: refused.
    const strict = validate({ presented: [negative.der, inter.der] });
    expect(strict.ok ? 'valid' : strict.refusal.reason).toBe('bad-serial');
  });

  it('lenient_profile admits a legacy PKI without key identifiers, with a non-critical basicConstraints and an underscore name, but not a keyCertSign sensor', async () => {
    const legacyCa = await pki.intermediate(root, {
      commonName: 'Legacy CA',
      authorityKeyId: false,
      subjectKeyId: false,
      basicConstraints: { ca: true, critical: false },
    });
    const legacy = await pki.sensor(legacyCa, {
      commonName: 'legacy-sensor',
      authorityKeyId: false,
      dnsNames: ['legacy_sensor.local'],
    });
    const lenient = new PathValidator({
      policy: { allowedCurves: ['P-256', 'P-384'], allowEd25519: false, minRsaBits: 2048 },
      maxChainDepth: MAX_CHAIN_DEPTH,
      deviceTypeOid: DEVICE_TYPE_OID,
      lenientProfile: true,
    });
    const verdict = lenient.validate([legacy.der, legacyCa.der], index, at);
    expect(verdict.ok ? 'valid' : verdict.refusal).toBe('valid');
    const strict = validate({ presented: [legacy.der, legacyCa.der] });
    expect(strict.ok ? 'valid' : strict.refusal.detail).toMatch(/lenient_profile = true/);
    // The security rules stay: a sensor key that may sign certificates is refused either way.
    const signer = await pki.sensor(inter, { keyUsage: ['digitalSignature', 'keyCertSign'] });
    const refused = lenient.validate([signer.der, inter.der], index, at);
    expect(refused.ok ? 'valid' : refused.refusal.reason).toBe('key-usage');
  });
});

/** A Name of one CN RDN whose value has the string type `tag` (0x0c UTF8String, 0x13 PrintableString). */
function commonNameDer(text: string, tag: number): Uint8Array {
  const cn = derTlv(0x06, Uint8Array.of(0x55, 0x04, 0x03));
  return derSequence(derTlv(0x31, derSequence(cn, derTlv(tag, Buffer.from(text, 'utf8')))));
}

describe('RFC 5280 §7.1: names compare case-insensitively, whitespace folded, string type aside', () => {
  it('an issuer name differing in case, spacing and string type chains to the presented intermediate; openssl agrees', async () => {
    const variant = await pki.sensor(inter, {
      commonName: 'sensor-variant',
      issuerDer: commonNameDer('  sensor   INTERMEDIATE ', 0x13),
    });
    const material = { presented: [variant.der, inter.der] };
    const verdict = validate(material);
    expect(verdict.ok ? 'valid' : verdict.refusal).toBe('valid');
    if (verdict.ok)
      expect(verdict.path.map((certificate) => certificate.commonName)).toEqual([
        'sensor-variant',
        'Sensor Intermediate',
        'Sensor Root CA',
      ]);
    expect(openssl(material).ok).toBe(true);
  });

  it('the anchor index finds a trust anchor by the §7.1 form of the name (sensor directly under the root); openssl agrees', async () => {
    const variant = await pki.sensor(root, {
      commonName: 'sensor-variant-root',
      issuerDer: commonNameDer('SENSOR ROOT\tca', 0x0c),
    });
    const verdict = validate({ presented: [variant.der] });
    expect(verdict.ok ? 'valid' : verdict.refusal).toBe('valid');
    expect(openssl({ presented: [variant.der] }).ok).toBe(true);
  });

  it('a name differing in more than case and spacing still does not chain; openssl agrees', async () => {
    const other = await pki.sensor(inter, { issuerDer: commonNameDer('Sensor Intermediate 2', 0x0c) });
    const verdict = validate({ presented: [other.der, inter.der] });
    expect(verdict.ok ? 'valid' : verdict.refusal.reason).toBe('name-chaining');
    expect(openssl({ presented: [other.der, inter.der] }).ok).toBe(false);
  });
});

describe('name constraints inside which the sensor is, agreed by openssl verify', () => {
  it('a critical nameConstraints (permitted dNSName, directoryName, iPAddress; excluded rfc822Name) on an intermediate and on the root', async () => {
    const constraints = nameConstraints(
      [
        dnsName('local'),
        directoryName(nameDer({ commonName: 'sensor-nc' })),
        ipName(10, 7, 0, 0, 255, 255, 0, 0),
      ],
      [emailName('lab.example')],
    );
    const material = await underConstrainedCa(constraints, {
      commonName: 'sensor-nc',
      serialNumber: undefined,
      dnsNames: ['sensor-nc.LOCAL'],
      ips: ['10.7.3.4'],
      emails: ['ops@plant7.example'],
    });
    const verdict = validate(material);
    expect(verdict.ok ? 'valid' : verdict.refusal).toBe('valid');
    expect(openssl(material).ok).toBe(true);

    const constrainedRoot = await pki.root({
      commonName: 'Constrained Root',
      extraExtensions: [nameConstraints([dnsName('local')])],
    });
    const direct = await pki.sensor(constrainedRoot, { commonName: 'sensor-under-root' });
    const rooted = { presented: [direct.der], roots: [constrainedRoot.der] };
    const rootVerdict = validate(rooted);
    expect(rootVerdict.ok ? 'valid' : rootVerdict.refusal).toBe('valid');
    expect(openssl(rooted).ok).toBe(true);
  });
});
