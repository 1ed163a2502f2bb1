import { createHash } from 'node:crypto';
import type { KeyStore } from '../../keys/index.js';
import {
  DER_TAG,
  derOctetString,
  derOid,
  derSequence,
  derTlv,
  oidString,
  strictChildren,
  strictSingle,
  X509Attribute,
} from '../../pki/index.js';
import type { EstClient } from '../est/index.js';
import { ATTEST_CHALLENGE_OPERATION } from './attestation-challenge.js';
import { OID_EVIDENCE_ATTRIBUTE } from './evidence-attribute.js';

/**
 * ATECC608A attestation at enrolment (identity.attestation = "atecc608"): the evidence is the part's
 * manufacturer certificate chain (device certificate of the slot-0 key, signer CA certificate; the
 * shape of Microchip Trust&Go: root → signer → device) plus, bound to the server's nonce, an ECDSA
 * signature by that slot-0 device key over `nonce ‖ SHA-256(SubjectPublicKeyInfo of the CSR key)`.
 *
 * What it proves: the part holding the key the manufacturer certified asked, now (the nonce), for this
 * CSR key. When the CSR key is the device key, that is possession of a genuine part's key. When it is
 * a rotated key (identity.renewal.rotate_key, GenKey in a spare slot), the device key only vouches
 * for it: it proves the same genuine part asked, NOT that the new key cannot leave it — the
 * ATECC608A has no counterpart of TPM2_Certify that attests where a key was born or that it is
 * unexportable.
 *
 * Nonce round trip (the attest-challenge operation of attestation-challenge.ts, plain variant: there
 * is no EK to encrypt to): request ::= SEQUENCE {} (empty), answer ::= SEQUENCE { challengeId OCTET
 * STRING, nonce OCTET STRING }. The server keeps each nonce for a short time and accepts it once.
 *
 * The statement rides in the same id-aa-evidence attribute as the TPM's (evidence-attribute.ts):
 * EvidenceStatement { type OID_ATECC608_DEVICE_SIGNATURE, stmt SEQUENCE { challengeId OCTET STRING,
 * signature OCTET STRING (r‖s, 64 bytes) } }, certs = [device certificate, signer certificate].
 */
export const OID_ATECC608_DEVICE_SIGNATURE = '1.3.6.1.4.1.12345.2.2';

export interface NonceChallenge {
  challengeId: Uint8Array;
  nonce: Uint8Array;
}

export interface DeviceEvidenceStatement {
  challengeId: Uint8Array;
  /** ECDSA P-256 r‖s by the device key over deviceSignedMessage(nonce, spki). */
  signature: Uint8Array;
  deviceCertificate: Uint8Array;
  signerCertificate: Uint8Array;
}

/** The empty ChallengeRequest of the plain-nonce variant. */
export function encodeNonceChallengeRequest(): Uint8Array {
  return derSequence();
}

export function encodeNonceChallenge(challenge: NonceChallenge): Uint8Array {
  return derSequence(derOctetString(challenge.challengeId), derOctetString(challenge.nonce));
}

export function decodeNonceChallenge(der: Uint8Array): NonceChallenge {
  const parts = strictChildren(strictSingle(der, DER_TAG.sequence).value);
  if (parts.length !== 2 || parts.some((part) => part.tag !== DER_TAG.octetString)) {
    throw new Error('the nonce challenge is not a SEQUENCE of 2 OCTET STRINGs');
  }
  return {
    challengeId: new Uint8Array((parts[0] as { value: Uint8Array }).value),
    nonce: new Uint8Array((parts[1] as { value: Uint8Array }).value),
  };
}

/** What the device key signs: nonce ‖ SHA-256(SPKI DER of the CSR key). */
export function deviceSignedMessage(nonce: Uint8Array, spki: Uint8Array): Uint8Array {
  return Buffer.concat([nonce, createHash('sha256').update(spki).digest()]);
}

export function encodeDeviceEvidenceBundles(statement: DeviceEvidenceStatement): Uint8Array {
  const evidence = derSequence(
    derOid(OID_ATECC608_DEVICE_SIGNATURE),
    derSequence(derOctetString(statement.challengeId), derOctetString(statement.signature)),
    derTlv(0x0c, new TextEncoder().encode('ATECC608A device key signature')),
  );
  return derSequence(
    derSequence(derSequence(evidence), derSequence(statement.deviceCertificate, statement.signerCertificate)),
  );
}

/** EvidenceBundles (DER) → the ATECC608A statement, or an Error saying what is malformed or missing. */
export function decodeDeviceEvidenceBundles(der: Uint8Array): DeviceEvidenceStatement {
  for (const bundle of strictChildren(strictSingle(der, DER_TAG.sequence).value)) {
    const [evidences, certs] = strictChildren(bundle.value);
    if (!evidences) continue;
    for (const statement of strictChildren(evidences.value)) {
      const [type, stmt] = strictChildren(statement.value);
      if (
        !type ||
        !stmt ||
        type.tag !== DER_TAG.oid ||
        oidString(type.value) !== OID_ATECC608_DEVICE_SIGNATURE
      )
        continue;
      const parts = strictChildren(stmt.value);
      if (parts.length !== 2 || parts.some((part) => part.tag !== DER_TAG.octetString)) {
        throw new Error('the ATECC608A statement does not have its two OCTET STRINGs');
      }
      const [device, signer] = certs ? strictChildren(certs.value) : [];
      if (!device || !signer) throw new Error('the evidence bundle lacks the device and signer certificates');
      return {
        challengeId: new Uint8Array((parts[0] as { value: Uint8Array }).value),
        signature: new Uint8Array((parts[1] as { value: Uint8Array }).value),
        deviceCertificate: new Uint8Array(device.tlv),
        signerCertificate: new Uint8Array(signer.tlv),
      };
    }
  }
  throw new Error('the evidence attribute holds no ATECC608A device signature statement');
}

/**
 * The evidence attribute for a CSR of key `spki`: `device` is the factory (slot-0) key store, whose
 * stored certificates are the manufacturer chain; it signs the server's fresh nonce with the CSR key.
 */
export async function deviceAttestationAttribute(
  device: KeyStore,
  spki: Uint8Array,
  client: EstClient,
): Promise<X509Attribute> {
  const { device: deviceCertificate, signer: signerCertificate } = await device.certificates();
  if (!deviceCertificate || !signerCertificate) {
    throw new Error(
      'the ATECC608A holds no device and signer certificates: provision it (`gatewayctl provision factory`) before attested enrolment',
    );
  }
  const challenge = decodeNonceChallenge(
    await client.postDer(ATTEST_CHALLENGE_OPERATION, encodeNonceChallengeRequest()),
  );
  const digest = createHash('sha256').update(deviceSignedMessage(challenge.nonce, spki)).digest();
  const signature = await device.signDigest(new Uint8Array(digest));
  const bundles = encodeDeviceEvidenceBundles({
    challengeId: challenge.challengeId,
    signature,
    deviceCertificate,
    signerCertificate,
  });
  return new X509Attribute(OID_EVIDENCE_ATTRIBUTE, [bundles.slice().buffer]);
}
