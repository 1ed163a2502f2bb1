import type { ProvisionableKeyDevice } from '../keys/index.js';
import { signVerifyRoundTrip } from '../keys/index.js';
import { readableName, X509Certificate } from '../pki/index.js';
import { type Verdict, worstStatus } from '../verdicts/index.js';
import { sameBytes } from './certificate-material.js';

/**
 * One line of `gatewayctl provision verify`: pass, fail, or n/a with its reason (`simulated` when
 * only the simulated part is why). `ok` mirrors status for older readers: true, false, null (n/a).
 */
export interface CheckItem extends Verdict {
  status: 'pass' | 'fail' | 'n/a';
  ok: boolean | null;
}

export interface ProvisioningReport {
  /** No item failed (n/a is not a failure). */
  ok: boolean;
  status: 'pass' | 'fail';
  serial: string;
  backend: string;
  /** Why this part is a stand-in (KeyStoreInfo.simulated), or null for the real thing. */
  simulated: string | null;
  items: CheckItem[];
}

/**
 * The technician's pass/fail checklist: key present and not exportable, certificate present and
 * matching the key, chain verifies (to `rootCa` when given), zones locked, and a live signature.
 */
export async function verifyProvisioning(
  device: ProvisionableKeyDevice,
  options: { rootCa?: X509Certificate } = {},
): Promise<ProvisioningReport> {
  const info = device.connect();
  const items: CheckItem[] = [];
  const add = (name: string, ok: boolean | null, detail: string) =>
    items.push(
      ok === null
        ? { name, status: 'n/a', ok, detail, reason: detail }
        : { name, status: ok ? 'pass' : 'fail', ok, detail },
    );

  const hasKey = device.hasKey();
  add('identity key present', hasKey, hasKey ? info.keyLocation : `no key at ${info.keyLocation}`);
  if (hasKey) device.open();
  if (info.hardwareBacked) {
    add('key not exportable', true, `generated and held inside ${info.model}; no operation exports it`);
  } else if (info.simulated) {
    // Cannot be proven for a stand-in the configuration asked for: not a finding, and said why.
    items.push({
      name: 'key not exportable',
      status: 'n/a',
      ok: null,
      detail: `${info.model} keeps the key in a file`,
      reason: `${info.simulated}; only the real part can prove its key never leaves it`,
      simulated: true,
    });
  } else {
    add(
      'key not exportable',
      false,
      `${info.model} keeps the key outside hardware, yet the configuration names a hardware part`,
    );
  }

  const stored = device.readCertificates();
  const certificate = stored.device ? new X509Certificate(stored.device) : undefined;
  const signer = stored.signer ? new X509Certificate(stored.signer) : undefined;
  add(
    'device certificate present',
    Boolean(certificate),
    certificate ? readableName(certificate.subject) : 'none stored',
  );

  if (certificate && hasKey) {
    const matches = sameBytes(certificate.publicKey.rawData, device.publicKey());
    add(
      'certificate matches key',
      matches,
      matches ? 'same public key' : 'the certificate is for another key',
    );
  } else {
    add('certificate matches key', false, 'needs both a key and a certificate');
  }
  add('chain verifies', ...(await chainVerdict(certificate, signer, options.rootCa)));

  const locked = device.lockState();
  if (locked === null) add('zones locked', null, 'not applicable to this backend');
  else
    add(
      'zones locked',
      locked.config && locked.data,
      `config ${lockWord(locked.config)}, data ${lockWord(locked.data)}`,
    );

  if (hasKey) {
    const roundTrip = await signVerifyRoundTrip(
      async () => device.publicKey(),
      async (digest) => device.signDigest(digest),
    );
    add('key signs', roundTrip.ok, roundTrip.detail);
  } else {
    add('key signs', false, 'no key');
  }
  const status = worstStatus(items) === 'pass' ? 'pass' : 'fail';
  return {
    ok: status === 'pass',
    status,
    serial: info.serial,
    backend: info.backend,
    simulated: info.simulated ?? null,
    items,
  };
}

async function chainVerdict(
  certificate: X509Certificate | undefined,
  signer: X509Certificate | undefined,
  root: X509Certificate | undefined,
): Promise<[boolean, string]> {
  if (!certificate || !signer) return [false, 'device or signer certificate missing'];
  if (!(await certificate.verify({ publicKey: signer.publicKey, signatureOnly: true }))) {
    return [false, `device certificate is not signed by ${readableName(signer.subject)}`];
  }
  const now = new Date();
  if (now < certificate.notBefore || now > certificate.notAfter) {
    return [
      false,
      `device certificate is valid ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()}`,
    ];
  }
  if (!root)
    return [true, `signed by ${readableName(signer.subject)} (pass --ca ROOT.crt to check up to the root)`];
  if (!(await signer.verify({ publicKey: root.publicKey, signatureOnly: true }))) {
    return [false, `signer ${readableName(signer.subject)} is not signed by ${readableName(root.subject)}`];
  }
  return [true, [certificate, signer, root].map((c) => readableName(c.subject)).join(' ← ')];
}

const lockWord = (locked: boolean) => (locked ? 'locked' : 'UNLOCKED');
