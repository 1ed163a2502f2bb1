import { randomBytes } from 'node:crypto';
import type { Config } from '../config/index.js';
import type { KeyBackend, KeyStore } from '../keys/index.js';

type DtlsSettings = Config['downstream']['dtls'];

/** What the endpoint's key signs per second, and where the figure comes from (status shows both). */
export interface SigningRate {
  perSecond: number;
  source: 'configured' | 'measured' | 'backend default';
}

/**
 * Used when the rate cannot be measured (a dedicated key file, or the measurement failed): what each
 * backend sustains. ATECC608A: ~115 ms per ECDSA sign at its I2C speed, ~9/s, so 8. TPM 2.0: tens of
 * ms per sign on discrete TPMs, so 20. Software: the CPU bounds full handshakes (ECDHE, the client's
 * chain and CertificateVerify: ~1 ms each), not the signature, so 1000.
 */
export const BACKEND_SIGNING_RATE: Record<KeyBackend, number> = { atecc608: 8, tpm: 20, software: 1000 };
/** A measured software rate (tens of thousands) is capped here too, for the reason above. */
const MAX_AUTO_RATE = 1000;
const SAMPLES = 3;

/**
 * downstream.dtls.signatures_per_second, or with "auto": with the identity key, the median of three
 * timed signatures of the key store (its device, its worker); with a dedicated key file (signed in
 * process by OpenSSL), the software figure.
 */
export async function signingRate(
  settings: DtlsSettings,
  identity: KeyStore | undefined,
): Promise<SigningRate> {
  if (settings.signatures_per_second !== 'auto')
    return { perSecond: settings.signatures_per_second, source: 'configured' };
  if (settings.server_key === 'file' || !identity)
    return { perSecond: BACKEND_SIGNING_RATE.software, source: 'backend default' };
  try {
    const times: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const started = performance.now();
      await identity.signDigest(randomBytes(32));
      times.push(performance.now() - started);
    }
    const median = times.sort((a, b) => a - b)[Math.floor(SAMPLES / 2)] as number;
    const perSecond = Math.min(MAX_AUTO_RATE, 1000 / Math.max(median, 0.001));
    return { perSecond: Math.round(perSecond * 10) / 10, source: 'measured' };
  } catch {
    return { perSecond: BACKEND_SIGNING_RATE[identity.info.backend], source: 'backend default' };
  }
}
