import { randomBytes } from 'node:crypto';
import {
  closeSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { KeyError } from '../key-error.js';

/**
 * The authValue of the TPM identity keys: the secret a process must present to sign with them.
 *
 * Design (issue 17 item 6): a random 32-byte secret, made when the first key is created, that only
 * the service can read — a file of mode 0600 in the state directory (identity.key.tpm.auth_file),
 * or, when systemd hands it over, the credential $CREDENTIALS_DIRECTORY/<auth_credential>
 * (LoadCredentialEncrypted= seals it to the TPM, so a copy of the disk does not carry it). A
 * credential wins over the file. It was chosen over a secret sealed inside the TPM under a policy
 * because a sealed object needs an authorization of its own (the same problem one level down) or a
 * PCR policy that breaks on every firmware or kernel update; the file/credential is simple, works on
 * every TPM, and systemd already offers the TPM-sealed variant for those who want it.
 *
 * One secret serves the factory key and the rotated keys (identity.renewal.rotate_key): a rotation
 * then works with a read-only credential, and there is one thing to back up or restore.
 *
 * The secret is 32 random bytes whose last byte is not zero: the TPM drops an authValue's trailing
 * zero bytes, and tools that pass the value (tpm2_sign -p hex:…) should not have to know that.
 */
export const AUTH_BYTES = 32;

/** Where the secret comes from. */
export interface TpmAuthSource {
  kind: 'file' | 'credential';
  path: string;
}

export interface TpmAuthParams {
  /** The 0600 file that holds the secret (created with the first key). */
  authFile: string;
  /** A systemd credential name looked up in $CREDENTIALS_DIRECTORY first; "" for none. */
  authCredential: string;
}

/** The credential when systemd passed one under that name, else the file. */
export function authSource(params: TpmAuthParams, env: NodeJS.ProcessEnv = process.env): TpmAuthSource {
  const directory = env.CREDENTIALS_DIRECTORY;
  if (directory && params.authCredential) {
    const path = join(directory, params.authCredential);
    if (exists(path)) return { kind: 'credential', path };
  }
  return { kind: 'file', path: params.authFile };
}

/** The secret, or undefined when there is none yet. Refuses a file others may read. */
export function readAuth(source: TpmAuthSource): Uint8Array | undefined {
  let secret: Buffer;
  try {
    if (source.kind === 'file') {
      const mode = statSync(source.path).mode;
      if ((mode & 0o077) !== 0) {
        throw new KeyError(
          'EGW_KEY_FILE_PERMISSIONS',
          `the TPM key authorization file ${source.path} is readable by group or others (mode ${(mode & 0o777).toString(8)})`,
          {
            hint: `chmod 600 ${source.path}; whoever could read it can sign with the identity key: consider re-provisioning (gatewayctl provision factory --force) and re-enrolling`,
          },
        );
      }
    }
    secret = readFileSync(source.path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    if (error instanceof KeyError) throw error;
    throw new KeyError(
      'EGW_KEY_AUTH',
      `cannot read the TPM key authorization ${describeSource(source)}: ${(error as Error).message}`,
      {
        hint: 'the file must belong to the service user (the systemd unit re-owns the state directory at start)',
      },
    );
  }
  if (secret.length === 0 || secret.length > AUTH_BYTES) {
    throw new KeyError(
      'EGW_KEY_AUTH',
      `the TPM key authorization ${describeSource(source)} holds ${secret.length} bytes, not 1 to ${AUTH_BYTES}`,
      { hint: 'restore the secret the key was created with (a backup, or the credential it came from)' },
    );
  }
  return new Uint8Array(secret);
}

/**
 * A fresh secret written to the file (0600, created exclusively, synced): only ever called when
 * there is none. A credential is never written: systemd provides it read-only.
 */
export function createAuth(source: TpmAuthSource): Uint8Array {
  if (source.kind === 'credential') {
    throw new KeyError('EGW_KEY_AUTH', `the systemd credential ${source.path} is empty or missing`, {
      hint: 'create it from the auth file (see README, "TPM key authorization")',
    });
  }
  const secret = randomBytes(AUTH_BYTES);
  while (secret[AUTH_BYTES - 1] === 0) secret[AUTH_BYTES - 1] = randomBytes(1)[0] ?? 1;
  const path = source.path;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  // Written under a temporary name, then linked into place: the name appears only with all 32 bytes
  // behind it, and link() fails if another process made the secret meanwhile (that one wins).
  const temporary = `${path}.${process.pid}.tmp`;
  const fd = openSync(temporary, 'wx', 0o600);
  try {
    writeSync(fd, secret);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  try {
    linkSync(temporary, path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new KeyError(
        'EGW_KEY_AUTH',
        `cannot write the TPM key authorization file ${path}: ${(error as Error).message}`,
        { hint: 'identity.key.tpm.auth_file must be in a directory the service (or gatewayctl) can write' },
      );
    }
  } finally {
    unlinkSync(temporary);
  }
  const stored = readAuth(source);
  if (!stored) throw new KeyError('EGW_KEY_AUTH', `the TPM key authorization file ${path} vanished`);
  return stored;
}

export function describeSource(source: TpmAuthSource): string {
  return source.kind === 'credential' ? `(systemd credential ${source.path})` : `file ${source.path}`;
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}
