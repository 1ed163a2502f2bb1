/**
 * The DTLS 1.2 cipher suites whose record protection edge-gatewayd can run itself once OpenSSL has
 * finished the handshake: AEAD suites only (RFC 5288 AES-GCM, RFC 6655/7251 AES-CCM and CCM-8,
 * RFC 7905 ChaCha20-Poly1305). Any other negotiated suite stays with OpenSSL's record layer.
 */
export interface AeadSuite {
  /** OpenSSL's name of the suite (SSL_CIPHER_get_name). */
  name: string;
  /** OpenSSL's name of the AEAD cipher (EVP_CIPHER_fetch; node:crypto knows the same names). */
  algorithm: 'aes-128-gcm' | 'aes-256-gcm' | 'aes-128-ccm' | 'aes-256-ccm' | 'chacha20-poly1305';
  keyLength: number;
  /** Implicit part of the nonce from the key block: the 4-byte salt (GCM, CCM) or the 12-byte IV. */
  fixedIvLength: number;
  /** Nonce bytes carried in each record (8 for GCM and CCM, 0 for ChaCha20-Poly1305). */
  explicitNonceLength: number;
  tagLength: number;
  /** Hash of the TLS 1.2 PRF that expands the key block. */
  prfHash: 'sha256' | 'sha384';
}

function suite(
  name: string,
  algorithm: AeadSuite['algorithm'],
  tagLength: number,
  prfHash: AeadSuite['prfHash'] = 'sha256',
): AeadSuite {
  const chacha = algorithm === 'chacha20-poly1305';
  return {
    name,
    algorithm,
    keyLength: algorithm.includes('128') ? 16 : 32,
    fixedIvLength: chacha ? 12 : 4,
    explicitNonceLength: chacha ? 0 : 8,
    tagLength,
    prfHash,
  };
}

const SUITES: readonly AeadSuite[] = [
  suite('ECDHE-ECDSA-AES128-GCM-SHA256', 'aes-128-gcm', 16),
  suite('ECDHE-ECDSA-AES256-GCM-SHA384', 'aes-256-gcm', 16, 'sha384'),
  suite('ECDHE-ECDSA-AES128-CCM8', 'aes-128-ccm', 8),
  suite('ECDHE-ECDSA-AES256-CCM8', 'aes-256-ccm', 8),
  suite('ECDHE-ECDSA-AES128-CCM', 'aes-128-ccm', 16),
  suite('ECDHE-ECDSA-AES256-CCM', 'aes-256-ccm', 16),
  suite('ECDHE-ECDSA-CHACHA20-POLY1305', 'chacha20-poly1305', 16),
];

/** The suite called `name` by OpenSSL, or undefined when its records must stay with OpenSSL. */
export function aeadSuiteNamed(name: string): AeadSuite | undefined {
  return SUITES.find((candidate) => candidate.name === name);
}
