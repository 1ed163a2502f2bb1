import { hkdfSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** The key that wraps the ticket keys at rest, and where it came from; or why there is none. */
export type TicketWrappingKey = { key: Buffer; source: string } | { key: undefined; why: string };

/** Shortest credential accepted: 32 bytes of secret (`systemd-creds encrypt` of 32 random bytes). */
const MIN_CREDENTIAL_BYTES = 32;

/**
 * The wrapping key from a systemd credential: `$CREDENTIALS_DIRECTORY/<name>`, which systemd decrypts
 * (LoadCredentialEncrypted=, sealed to this machine's TPM and/or /var/lib/systemd/credential.secret)
 * into a private ramfs for this service only. The file's bytes go through HKDF-SHA256, so the key
 * that wraps is never the credential itself.
 *
 * Why a credential for every backend today: the ATECC608A has no AES or ECDH in our model, and a
 * TPM-sealed wrapping key is not built yet; a credential made with `systemd-creds encrypt --with-key=tpm2`
 * is still bound to the TPM, through systemd.
 */
export function ticketWrappingKey(
  credential: string,
  environment: NodeJS.ProcessEnv = process.env,
): TicketWrappingKey {
  const directory = environment.CREDENTIALS_DIRECTORY;
  if (!directory) {
    return {
      key: undefined,
      why: `no systemd credentials ($CREDENTIALS_DIRECTORY is not set): add LoadCredentialEncrypted=${credential}:… to the unit`,
    };
  }
  const path = join(directory, credential);
  let secret: Buffer;
  try {
    secret = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    return {
      key: undefined,
      why:
        `credential ${credential} not readable in $CREDENTIALS_DIRECTORY (${code}): check the unit's ` +
        `LoadCredentialEncrypted=${credential}:… line and that the encrypted file exists (README "Sessions across restarts")`,
    };
  }
  if (secret.length < MIN_CREDENTIAL_BYTES) {
    return {
      key: undefined,
      why:
        `credential ${credential} holds ${secret.length} bytes, fewer than ${MIN_CREDENTIAL_BYTES}: make it again ` +
        `from 32 random bytes (head -c 32 /dev/urandom | systemd-creds encrypt --name=${credential} - <file>)`,
    };
  }
  const key = Buffer.from(
    hkdfSync('sha256', secret, Buffer.alloc(0), 'edge-gatewayd dtls ticket keys v1', 32),
  );
  secret.fill(0);
  return { key, source: `credential:${credential}` };
}
