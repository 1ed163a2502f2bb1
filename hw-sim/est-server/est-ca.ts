import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { GatewayError } from '../../src/errors/index.js';
import * as x509 from '../../src/pki/x509.js';
import { Authority } from './authority.js';
import { DEFAULT_DEVICE_TYPE_OID, deviceExtensions } from './device-profile.js';
import { generateEcKeys, privateKeyToPem } from './ec-keys.js';
import { withoutEkuAndSan } from './interop-behaviours.js';
import { applyIssueFault, type IssueFault } from './issue-fault.js';
import { VerifiedCsr } from './verified-csr.js';

export interface EstCaOptions {
  /** Where the CA keys and certificates live; made on first open, reused afterwards. */
  stateDir: string;
  /** The device-type extension copied from CSRs. Default 1.3.6.1.4.1.12345.1.1. */
  deviceTypeOid?: string;
}

/** Which CA signs: the real issuing CA, the root itself (a one-level CA), or a fault variant. */
export type EstIssuer = 'issuing' | 'root' | 'wrong-ca' | 'expired-issuing-ca';

export interface IssueOptions {
  lifetimeSeconds: number;
  /** Default 'issuing'. */
  issuer?: EstIssuer;
  /** Without extendedKeyUsage and subjectAltName, as some EST CAs issue. */
  bare?: boolean;
  /** Issue a certificate that breaks the profile this way (tests of the client's checks). */
  fault?: IssueFault;
}

export interface IssuedCertificate {
  /** The certificate, parsed on first access (the server sends `der` and never needs it). */
  certificate: x509.X509Certificate;
  /** The certificate's DER. */
  der: Uint8Array;
  /** Its serial number, lowercase hex, as `certificate.serialNumber` prints it. */
  serialNumber: string;
  /** Its notAfter, as the certificate encodes it (whole seconds). */
  notAfter: Date;
  /** The CA certificate that signed it (the issuing CA, or a fault variant). */
  issuer: x509.X509Certificate;
  /** The issuer's DER. */
  issuerDer: Uint8Array;
}

export interface TlsServerCredentials {
  certificatePem: string;
  privateKeyPem: string;
}

/** Files of the state directory: certificates PEM, keys PKCS#8 PEM (mode 0600). */
const FILES = {
  rootCertificate: 'root-ca.pem',
  rootKey: 'root-ca.key',
  issuingCertificate: 'issuing-ca.pem',
  issuingKey: 'issuing-ca.key',
} as const;

const MINUTE_MS = 60_000;
const DAY_MS = 24 * 60 * MINUTE_MS;
const YEAR_MS = 365 * DAY_MS;
/** Leaves start 5 minutes in the past: a client whose clock is a little behind still accepts them. */
const BACKDATE_MS = 5 * MINUTE_MS;

/**
 * The EST server's CA: root (self-signed, P-256, CA:true pathLen 1, ~10 years) → issuing CA (pathLen 0),
 * kept in a state directory so a restarted server (and the clients that pinned its root) keep the same
 * trust anchor. Issues device certificates with the seeds' profile from verified CSRs, the EST server's
 * own TLS certificate, and — for fault injection — certificates from an unrelated CA or from an
 * expired issuing CA under the same root.
 */
export class EstCa {
  readonly stateDir: string;
  /** Whether this open made a new hierarchy (false: loaded from stateDir). */
  readonly created: boolean;
  readonly #root: Authority;
  readonly #issuing: Authority;
  readonly #deviceTypeOid: string;
  #wrongCa: Promise<Authority> | undefined;
  #expiredIssuingCa: Promise<Authority> | undefined;

  private constructor(stateDir: string, created: boolean, root: Authority, issuing: Authority, oid: string) {
    this.stateDir = stateDir;
    this.created = created;
    this.#root = root;
    this.#issuing = issuing;
    this.#deviceTypeOid = oid;
  }

  /** Loads the hierarchy from `stateDir`, or makes and saves one if the directory holds none. */
  static async open(options: EstCaOptions): Promise<EstCa> {
    const dir = options.stateDir;
    const oid = options.deviceTypeOid ?? DEFAULT_DEVICE_TYPE_OID;
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const present = Object.values(FILES).filter((name) => existsSync(join(dir, name)));
    if (present.length === Object.keys(FILES).length) {
      const read = (name: string) => readFileSync(join(dir, name), 'utf8');
      try {
        const root = await Authority.load(read(FILES.rootCertificate), read(FILES.rootKey));
        const issuing = await Authority.load(read(FILES.issuingCertificate), read(FILES.issuingKey));
        return new EstCa(dir, false, root, issuing, oid);
      } catch (cause) {
        throw new GatewayError(
          'EGW_EST_CA_STATE',
          `the EST CA files in ${dir} cannot be read: ${String(cause)}`,
          {
            hint: `remove ${dir} to make a new CA (clients must then pin the new root)`,
            cause,
          },
        );
      }
    }
    if (present.length > 0) {
      throw new GatewayError(
        'EGW_EST_CA_STATE',
        `the EST CA in ${dir} is incomplete (found only ${present.join(', ')})`,
        { hint: `remove ${dir} to make a new CA, or restore the missing files` },
      );
    }
    const id = randomBytes(3).toString('hex');
    const now = Date.now();
    const root = await Authority.createRoot({
      name: `O=edge-gatewayd hw-sim, CN=edge-gatewayd EST root CA ${id}`,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + 10 * YEAR_MS),
      pathLength: 1,
    });
    const issuing = await root.createSubordinate({
      name: `O=edge-gatewayd hw-sim, CN=edge-gatewayd EST issuing CA ${id}`,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + 5 * YEAR_MS),
      pathLength: 0,
    });
    // Keys first, certificates last: a crash in between leaves an "incomplete" state, never a
    // certificate without its key.
    await saveKey(join(dir, FILES.rootKey), root);
    await saveKey(join(dir, FILES.issuingKey), issuing);
    saveFile(join(dir, FILES.issuingCertificate), issuing.certificate.toString('pem'), 0o644);
    saveFile(join(dir, FILES.rootCertificate), root.certificate.toString('pem'), 0o644);
    return new EstCa(dir, true, root, issuing, oid);
  }

  get root(): x509.X509Certificate {
    return this.#root.certificate;
  }

  get issuing(): x509.X509Certificate {
    return this.#issuing.certificate;
  }

  get rootPem(): string {
    return `${this.#root.certificate.toString('pem')}\n`;
  }

  get issuingPem(): string {
    return `${this.#issuing.certificate.toString('pem')}\n`;
  }

  get deviceTypeOid(): string {
    return this.#deviceTypeOid;
  }

  /**
   * A device certificate for a DER CSR (or one already checked): the CSR must verify and have a CN
   * (else CsrRejectedError); subject and public key copied, notBefore now − 5 min, notAfter now +
   * lifetime (to the second), the device profile's extensions. Built as DER and signed with node:crypto
   * (Authority.issueDer); `certificate` is parsed only when read.
   */
  async issue(csr: Uint8Array | VerifiedCsr, options: IssueOptions): Promise<IssuedCertificate> {
    const lifetime = options.lifetimeSeconds;
    if (!Number.isInteger(lifetime) || lifetime <= 0) {
      throw new GatewayError(
        'EGW_EST_CONFIG',
        `certificate lifetime must be a positive integer (seconds), not ${lifetime}`,
      );
    }
    const { content } = csr instanceof VerifiedCsr ? csr : await VerifiedCsr.read(csr);
    const authority = await this.#authority(options.issuer ?? 'issuing');
    const now = Date.now();
    const profile = {
      subject: content.subject,
      spki: content.spki,
      notBefore: wholeSeconds(now - BACKDATE_MS),
      notAfter: wholeSeconds(now + lifetime * 1000),
      extensions: bareIf(options.bare, deviceExtensions(content.extensions, this.#deviceTypeOid)),
    };
    const params = options.fault ? applyIssueFault(profile, options.fault, now) : profile;
    const { notAfter } = params;
    const { der, serialNumber } = authority.issueDer(params);
    let certificate: x509.X509Certificate | undefined;
    return {
      get certificate() {
        certificate ??= new x509.X509Certificate(der);
        return certificate;
      },
      der,
      serialNumber,
      notAfter,
      issuer: authority.certificate,
      issuerDer: authority.der,
    };
  }

  /**
   * A fresh key and certificate for the EST server's own HTTPS, issued by the root: SAN DNS:localhost,
   * IP:127.0.0.1, IP:::1 and `extraNames` (host names or IP addresses), EKU serverAuth.
   */
  async tlsServerCertificate(extraNames: string[] = []): Promise<TlsServerCredentials> {
    const keys = await generateEcKeys();
    const names = [...new Set(['localhost', '127.0.0.1', '::1', ...extraNames])];
    const now = Date.now();
    const certificate = await this.#root.issue({
      subject: 'O=edge-gatewayd hw-sim, CN=edge-gatewayd EST server',
      publicKey: keys.publicKey,
      notBefore: new Date(now - BACKDATE_MS),
      notAfter: new Date(now + YEAR_MS),
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth], false),
        new x509.SubjectAlternativeNameExtension(
          names.map((value) => ({ type: isIpAddress(value) ? ('ip' as const) : ('dns' as const), value })),
          false,
        ),
      ],
    });
    return {
      certificatePem: certificate.toString('pem'),
      privateKeyPem: await privateKeyToPem(keys.privateKey),
    };
  }

  /** The unrelated CA that `issuer: 'wrong-ca'` signs with (self-signed, made on first use, not saved). */
  async wrongCa(): Promise<x509.X509Certificate> {
    return (await this.#authority('wrong-ca')).certificate;
  }

  /** The expired issuing CA under the same root that `issuer: 'expired-issuing-ca'` signs with. */
  async expiredIssuingCa(): Promise<x509.X509Certificate> {
    return (await this.#authority('expired-issuing-ca')).certificate;
  }

  #authority(issuer: EstIssuer): Promise<Authority> {
    // The fault CAs carry the root's random id too, so their names say which EST CA they belong to.
    const id = () => this.#root.certificate.subjectName.getField('CN')[0]?.split(' ').pop() ?? '';
    switch (issuer) {
      case 'issuing':
        return Promise.resolve(this.#issuing);
      case 'root':
        return Promise.resolve(this.#root);
      case 'wrong-ca': {
        const now = Date.now();
        this.#wrongCa ??= Authority.createRoot({
          name: `O=edge-gatewayd hw-sim, CN=edge-gatewayd EST wrong CA ${id()}`,
          notBefore: new Date(now - BACKDATE_MS),
          notAfter: new Date(now + 10 * YEAR_MS),
          pathLength: 0,
        });
        return this.#wrongCa;
      }
      case 'expired-issuing-ca': {
        // A different key and name from the real issuing CA, so a chain builder can never swap in the
        // valid one: the only path for its leaves goes through an expired certificate.
        const now = Date.now();
        this.#expiredIssuingCa ??= this.#root.createSubordinate({
          name: `O=edge-gatewayd hw-sim, CN=edge-gatewayd EST expired issuing CA ${id()}`,
          notBefore: new Date(now - 2 * YEAR_MS),
          notAfter: new Date(now - DAY_MS),
          pathLength: 0,
        });
        return this.#expiredIssuingCa;
      }
    }
  }
}

function bareIf(bare: boolean | undefined, extensions: Uint8Array[]): Uint8Array[] {
  return bare ? withoutEkuAndSan(extensions) : extensions;
}

async function saveKey(path: string, authority: Authority): Promise<void> {
  saveFile(path, await privateKeyToPem(authority.privateKey), 0o600);
}

/** Write-then-rename, so a reader never sees half a file. */
function saveFile(path: string, content: string, mode: number): void {
  const temporary = `${path}.tmp-${process.pid}`;
  writeFileSync(temporary, content, { mode });
  chmodSync(temporary, mode);
  renameSync(temporary, path);
}

/** `ms` (epoch milliseconds) truncated to the second, as a certificate's validity holds it. */
function wholeSeconds(ms: number): Date {
  return new Date(Math.floor(ms / 1000) * 1000);
}

function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}
