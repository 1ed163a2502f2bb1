import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../build-info/index.js';
import { GatewayError } from '../errors/index.js';
import type { KeyStoreInfo, ProvisionableKeyDevice } from '../keys/index.js';
import { buildCsr, type CsrProfile, readableName, X509Certificate } from '../pki/index.js';
import { readCertificateFile, sameBytes } from './certificate-material.js';

/** One line of progress, as a technician sees it ("[3/7] signing … done"). */
export interface ProvisioningStep {
  index: number;
  total: number;
  label: string;
  outcome: 'done' | 'skipped' | 'warning';
  detail: string;
}

export interface ProvisioningHooks {
  onStep(step: ProvisioningStep): void;
  /** Asked before an irreversible lock; false leaves the zones unlocked (the run says so). */
  confirmLock(question: string): Promise<boolean>;
}

export interface FactoryProvisioningOptions extends ProvisioningHooks {
  device: ProvisionableKeyDevice;
  csrProfile(serial: string): CsrProfile;
  /** Replace an existing identity. */
  force: boolean;
  /** Sign locally with this factory CA kit directory (scripts/factory-ca.sh init DIR)… */
  caDir?: string;
  /** …or write the CSR here for the line's CA and stop (then `provision install-certs`). */
  csrOut?: string;
}

export interface ProvisioningResult {
  info: KeyStoreInfo;
  csrPem: string;
  certificate?: { subject: string; issuer: string; notAfter: string; sha256: string };
  locked: { config: boolean; data: boolean } | null;
  next?: string;
}

/**
 * `gatewayctl provision factory`: key in the secure element → CSR → factory CA → certificates
 * stored → zones locked. Every step reports progress; nothing existing is replaced without `force`.
 */
export async function provisionFactory(options: FactoryProvisioningOptions): Promise<ProvisioningResult> {
  const { device } = options;
  const total = options.caDir ? 6 : 4;
  const step = stepper(options.onStep, total);

  const info = device.connect();
  step(
    `connected to ${info.model}`,
    info.hardwareBacked ? 'done' : 'warning',
    info.hardwareBacked
      ? `serial ${info.serial}`
      : `serial ${info.serial}; NOT hardware-backed: for development only`,
  );

  const existing = describeExistingIdentity(device);
  if (existing && !options.force) {
    throw new GatewayError('EGW_PROVISION_EXISTS', `this gateway already has an identity (${existing})`, {
      hint: 'run `gatewayctl provision verify` to check it, or add --force to replace it (the old key is destroyed)',
    });
  }
  const spki = device.generateKey({ overwrite: options.force });
  step(
    `generated the identity key (${info.keyLocation})`,
    'done',
    `public key sha256 ${sha256(spki).slice(0, 16)}…`,
  );

  const signer = {
    publicKey: async () => device.publicKey(),
    signDigest: async (digest: Uint8Array) => device.signDigest(digest),
  };
  const csr = await buildCsr(signer, options.csrProfile(info.serial));
  step('built the certificate signing request', 'done', readableName(csr.subject));

  if (!options.caDir) {
    const target = options.csrOut ?? join(process.cwd(), `device-${info.serial}.csr`);
    writeFileSync(target, csr.pem);
    const next = `have the factory CA sign ${target}, then run: gatewayctl provision install-certs --cert DEVICE.crt --signer SIGNER.crt`;
    step(`wrote the CSR to ${target}`, 'done', next);
    return { info, csrPem: csr.pem, locked: device.lockState(), next };
  }

  const work = mkdtempSync(join(tmpdir(), 'egw-provision-'));
  let certificate: X509Certificate;
  try {
    writeFileSync(join(work, 'device.csr'), csr.pem);
    try {
      execFileSync(
        join(PACKAGE_ROOT, 'scripts/factory-ca.sh'),
        ['sign', options.caDir, join(work, 'device.csr'), join(work, 'device.crt')],
        { stdio: ['ignore', 'pipe', 'pipe'] },
      );
    } catch (cause) {
      const stderr = String((cause as { stderr?: Buffer }).stderr ?? '').trim();
      throw new GatewayError(
        'EGW_PROVISION_SIGN',
        `the factory CA in ${options.caDir} did not sign the CSR: ${stderr}`,
        {
          hint: 'check the CA kit (scripts/factory-ca.sh show DIR), or use --csr-out and hand the CSR to the line CA',
          cause,
        },
      );
    }
    certificate = new X509Certificate(readFileSync(join(work, 'device.crt'), 'latin1'));
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  step(`signed by the factory CA (${options.caDir})`, 'done', `issuer ${readableName(certificate.issuer)}`);

  const signerCertificate = readCertificateFile(join(options.caDir, 'intermediate.crt'));
  const installed = await installCertificates({ ...options, certificate, signerCertificate, step });
  return { info, csrPem: csr.pem, ...installed };
}

export interface InstallOptions extends ProvisioningHooks {
  device: ProvisionableKeyDevice;
  certificate: X509Certificate;
  signerCertificate: X509Certificate;
}

/**
 * `gatewayctl provision install-certs` (and the tail of `provision factory`): check the certificate
 * belongs to the key and was issued by the signer, store both, then lock what can be locked.
 */
export async function installCertificates(
  options: InstallOptions & { step?: ReturnType<typeof stepper> },
): Promise<Pick<ProvisioningResult, 'certificate' | 'locked'>> {
  const { device, certificate, signerCertificate } = options;
  const step = options.step ?? stepper(options.onStep, 3);
  if (!options.step) device.open();

  if (!sameBytes(certificate.publicKey.rawData, device.publicKey())) {
    throw new GatewayError(
      'EGW_PROVISION_MISMATCH',
      `certificate ${readableName(certificate.subject)} is for another key than this gateway's`,
      {
        hint: 'the CSR was made on another gateway or before the key was regenerated: make a new CSR with `gatewayctl provision factory --csr-out`',
      },
    );
  }
  if (!(await certificate.verify({ publicKey: signerCertificate.publicKey, signatureOnly: true }))) {
    throw new GatewayError(
      'EGW_PROVISION_MISMATCH',
      `certificate ${readableName(certificate.subject)} was not issued by ${readableName(signerCertificate.subject)}`,
      { hint: 'pass the certificate of the CA that signed it with --signer (the factory intermediate)' },
    );
  }
  device.storeCertificates({
    device: new Uint8Array(certificate.rawData),
    signer: new Uint8Array(signerCertificate.rawData),
  });
  step(
    'stored the device and signer certificates',
    'done',
    `${readableName(certificate.subject)}, valid until ${certificate.notAfter.toISOString()}`,
  );

  let locked = device.lockState();
  if (locked === null) {
    step('lock zones', 'skipped', 'nothing to lock on this backend');
  } else if (locked.config && locked.data) {
    step('lock zones', 'skipped', 'already locked');
  } else if (await options.confirmLock('Lock the configuration and data zones now? This cannot be undone.')) {
    device.lock();
    locked = device.lockState();
    step('locked the configuration and data zones', 'done', 'the key slot and certificates are now final');
  } else {
    step(
      'lock zones',
      'warning',
      'NOT locked: run `gatewayctl provision lock --yes` before the gateway leaves the line',
    );
  }
  return {
    certificate: {
      subject: readableName(certificate.subject),
      issuer: readableName(certificate.issuer),
      notAfter: certificate.notAfter.toISOString(),
      sha256: sha256(new Uint8Array(certificate.rawData)),
    },
    locked,
  };
}

function describeExistingIdentity(device: ProvisionableKeyDevice): string | undefined {
  const parts: string[] = [];
  if (device.hasKey()) parts.push('an identity key');
  if (device.readCertificates().device) parts.push('a device certificate');
  return parts.length > 0 ? parts.join(' and ') : undefined;
}

function stepper(onStep: (step: ProvisioningStep) => void, total: number) {
  let index = 0;
  return (label: string, outcome: ProvisioningStep['outcome'], detail: string) =>
    onStep({ index: ++index, total, label, outcome, detail });
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
