import {
  constants,
  createCipheriv,
  createHash,
  createHmac,
  type KeyObject,
  publicEncrypt,
  randomBytes,
} from 'node:crypto';

/**
 * TPM2_MakeCredential in software (TPM 2.0 Part 1 §24 "Credential Protection", Part 3 §12.6), for an
 * RSA 2048 EK with the TCG default template (nameAlg SHA-256, AES-128-CFB): the verifier side of the
 * credential-activation round trip. `credential` (at most 32 bytes) can be recovered only by
 * TPM2_ActivateCredential in the TPM holding the EK's private key, for an object named `objectName`.
 */
export function makeCredential(
  ekPublicKey: KeyObject,
  objectName: Uint8Array,
  credential: Uint8Array,
): { credentialBlob: Uint8Array; secret: Uint8Array } {
  const seed = randomBytes(32);
  // The seed is OAEP-encrypted to the EK with the label "IDENTITY" (its terminating NUL included).
  const encryptedSeed = publicEncrypt(
    {
      key: ekPublicKey,
      padding: constants.RSA_PKCS1_OAEP_PADDING,
      oaepHash: 'sha256',
      oaepLabel: Buffer.from('IDENTITY\0', 'latin1'),
    },
    seed,
  );
  const symmetricKey = kdfa(seed, 'STORAGE', objectName, new Uint8Array(), 128);
  const cipher = createCipheriv('aes-128-cfb', symmetricKey, Buffer.alloc(16));
  const encIdentity = Buffer.concat([cipher.update(tpm2b(credential)), cipher.final()]);
  const hmacKey = kdfa(seed, 'INTEGRITY', new Uint8Array(), new Uint8Array(), 256);
  const outerHmac = createHmac('sha256', hmacKey).update(encIdentity).update(objectName).digest();
  return {
    credentialBlob: tpm2b(Buffer.concat([tpm2b(outerHmac), encIdentity])),
    secret: tpm2b(encryptedSeed),
  };
}

/** TPM2 KDFa with HMAC-SHA-256 (Part 1 §11.4.10.2); `label` gets its terminating NUL. */
function kdfa(
  key: Uint8Array,
  label: string,
  contextU: Uint8Array,
  contextV: Uint8Array,
  bits: number,
): Buffer {
  const blocks: Buffer[] = [];
  const counter = Buffer.alloc(4);
  const size = Buffer.alloc(4);
  size.writeUInt32BE(bits);
  for (let i = 1; blocks.length * 32 * 8 < bits; i++) {
    counter.writeUInt32BE(i);
    blocks.push(
      createHmac('sha256', key)
        .update(counter)
        .update(Buffer.from(`${label}\0`, 'latin1'))
        .update(contextU)
        .update(contextV)
        .update(size)
        .digest(),
    );
  }
  return Buffer.concat(blocks).subarray(0, bits / 8);
}

function tpm2b(bytes: Uint8Array): Buffer {
  const size = Buffer.alloc(2);
  size.writeUInt16BE(bytes.length);
  return Buffer.concat([size, bytes]);
}

/** The TPM name of an object: nameAlg (SHA-256) ‖ SHA-256(TPMT_PUBLIC), from its TPM2B_PUBLIC. */
export function tpmName(publicWire: Uint8Array): Uint8Array {
  const area = publicWire.subarray(2);
  return Buffer.concat([Buffer.from([0x00, 0x0b]), createHash('sha256').update(area).digest()]);
}
