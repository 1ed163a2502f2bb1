import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { parseConfigText } from '../../src/config/index.js';
import { keySettingsFromConfig } from '../../src/identity/index.js';
import { RotationKeyRing } from '../../src/identity/lifecycle/rotation-key-ring.js';
import { KeyError, type KeyStoreSettings, WorkerKeyStore } from '../../src/keys/index.js';
import { createDevice, type TpmDeviceParams, type TpmKeyDevice } from '../../src/keys/tpm/index.js';

/**
 * Issue 17 item 6: the TPM identity key has an authorization value only the service holds. Checked
 * from outside with tpm2-tools, which knows nothing of our code: a process that can open the TPM
 * but lacks the secret cannot sign with the key.
 */

const HANDLE = 0x81000100;

let swtpm: SwtpmProcess;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-tpm-auth-'));
  swtpm = await SwtpmProcess.start({ stateDir: join(work, 'tpm-state') });
});

afterAll(async () => {
  await swtpm?.stop();
  rmSync(work, { recursive: true, force: true });
});

function params(overrides: Partial<TpmDeviceParams> = {}): TpmDeviceParams {
  return {
    tcti: swtpm.tcti,
    persistentHandle: HANDLE,
    certificateDir: join(work, 'identity'),
    authFile: join(work, 'tpm-key-auth'),
    authCredential: '',
    ...overrides,
  };
}

/** Runs `fn` with a device and always closes it: swtpm serves one connection at a time. */
function withDevice<T>(fn: (d: TpmKeyDevice) => T, overrides: Partial<TpmDeviceParams> = {}): T {
  const d = createDevice(params(overrides));
  try {
    return fn(d);
  } finally {
    d.close();
  }
}

function keyError(fn: () => unknown): KeyError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(KeyError);
    return error as KeyError;
  }
  throw new Error('expected a KeyError, nothing was thrown');
}

/** tpm2-tools (no device of ours may be connected meanwhile): exit status and output. */
function tpm2(tool: string, ...args: string[]): { ok: boolean; output: string } {
  try {
    const stdout = execFileSync(tool, args, {
      env: { ...process.env, TPM2TOOLS_TCTI: swtpm.tcti, TSS2_LOG: 'all+NONE' },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
    return { ok: true, output: stdout };
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error(`${tool} is missing: apt-get install tpm2-tools (or scripts/setup.sh)`);
    return { ok: false, output: e.stderr ?? e.message };
  }
}

/**
 * tpm2_sign of a digest with the key at `handle`, with `auth` (tpm2-tools syntax) or none; the
 * DER signature when it worked.
 */
function tpm2Sign(
  handle: number,
  digest: Uint8Array,
  auth?: string,
): { ok: boolean; output: string; der?: Buffer } {
  const dir = mkdtempSync(join(work, 'sign-'));
  writeFileSync(join(dir, 'digest'), digest);
  const args = ['-c', `0x${handle.toString(16)}`, '-g', 'sha256', '-d', '-f', 'plain'];
  if (auth !== undefined) args.push('-p', auth);
  args.push('-o', join(dir, 'sig'), join(dir, 'digest'));
  const result = tpm2('tpm2_sign', ...args);
  return result.ok ? { ...result, der: readFileSync(join(dir, 'sig')) } : result;
}

const hexAuth = (path: string) => `hex:${readFileSync(path).toString('hex')}`;

function verifies(
  spki: Uint8Array,
  digestOf: Uint8Array,
  signature: Uint8Array,
  dsaEncoding: 'der' | 'ieee-p1363',
) {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  return verify('sha256', digestOf, { key, dsaEncoding }, signature);
}

const sha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());

describe('identity.key.tpm.auth_file and auth_credential', () => {
  test('default: tpm-key-auth in identity.certificate_dir, credential "tpm-key-auth"; a relative path is refused by name', () => {
    const config = parseConfigText('[identity]\ncertificate_dir = "/srv/gw/identity"\n', 'gateway.toml');
    expect(keySettingsFromConfig(config).tpm).toMatchObject({
      authFile: '/srv/gw/identity/tpm-key-auth',
      authCredential: 'tpm-key-auth',
    });
    const set = parseConfigText(
      '[identity.key.tpm]\nauth_file = "/etc/gw/auth"\nauth_credential = ""\n',
      'g.toml',
    );
    expect(keySettingsFromConfig(set).tpm).toMatchObject({ authFile: '/etc/gw/auth', authCredential: '' });
    expect(() => parseConfigText('[identity.key.tpm]\nauth_file = "auth"\n', 'g.toml')).toThrow(
      /identity\.key\.tpm\.auth_file/,
    );
    const pcr = parseConfigText('[identity.key.tpm]\npcr_policy = "sha256:7"\n', 'g.toml');
    expect(keySettingsFromConfig(pcr).tpm.pcrPolicy).toBe('sha256:7');
    expect(() => parseConfigText('[identity.key.tpm]\npcr_policy = "sha256:24"\n', 'g.toml')).toThrow(
      /identity\.key\.tpm\.pcr_policy/,
    );
  });
});

describe('TPM identity key authorization (swtpm, tpm2-tools)', () => {
  test('a created key refuses tpm2_sign without the secret and signs with it; the secret is 32 bytes, mode 0600', () => {
    const spki = withDevice((d) => {
      d.connect();
      return d.generateKey({ overwrite: true });
    });
    const authFile = join(work, 'tpm-key-auth');
    const stat = statSync(authFile);
    expect(stat.mode & 0o777).toBe(0o600);
    expect(stat.size).toBe(32);

    const message = randomBytes(64);
    // Before issue 17 this succeeded: the key had an empty authValue.
    const without = tpm2Sign(HANDLE, sha256(message));
    expect(without.ok).toBe(false);
    expect(without.output).toMatch(/authorization|0x9a2|bad_auth/i);

    const wrong = tpm2Sign(HANDLE, sha256(message), `hex:${randomBytes(32).toString('hex')}`);
    expect(wrong.ok).toBe(false);

    const withAuth = tpm2Sign(HANDLE, sha256(message), hexAuth(authFile));
    expect(withAuth.ok).toBe(true);
    expect(verifies(spki, message, withAuth.der as Buffer, 'der')).toBe(true);
  });

  test('the daemon key store (worker thread) signs with the key, and health says where the secret is', async () => {
    const spki = withDevice((d) => d.open() && d.publicKey());
    const store = await WorkerKeyStore.open('tpm', params());
    try {
      expect(store.info.warnings).toBeUndefined();
      const message = randomBytes(100);
      const signature = await store.signDigest(sha256(message));
      expect(verifies(spki, message, signature, 'ieee-p1363')).toBe(true);
      const health = await store.healthCheck();
      const check = health.checks.find((c) => c.name === 'identity key authorization');
      expect(check).toMatchObject({ ok: true });
      expect(check?.detail).toContain(join(work, 'tpm-key-auth'));
    } finally {
      await store.close();
    }
  });

  test('a wrong secret: signing fails with EGW_KEY_AUTH and a hint; a missing one: open() says so', () => {
    const wrongFile = join(work, 'wrong-auth');
    writeFileSync(wrongFile, randomBytes(32), { mode: 0o600 });
    const wrong = keyError(() =>
      withDevice(
        (d) => {
          d.open();
          return d.signDigest(sha256(randomBytes(10)));
        },
        { authFile: wrongFile },
      ),
    );
    expect(wrong.code).toBe('EGW_KEY_AUTH');
    expect(wrong.message).toContain('refused the authorization value');
    expect(wrong.message).toContain(wrongFile);
    expect(wrong.hint).toContain('gatewayctl provision factory --force');

    const missing = keyError(() => withDevice((d) => d.open(), { authFile: join(work, 'no-such-auth') }));
    expect(missing.code).toBe('EGW_KEY_AUTH');
    expect(missing.message).toContain('no-such-auth');
    expect(missing.hint).toContain('restore the secret');

    // A secret others may read is refused before it is used.
    const open = join(work, 'readable-auth');
    copyFileSync(join(work, 'tpm-key-auth'), open);
    execFileSync('chmod', ['644', open]);
    const readable = keyError(() => withDevice((d) => d.open(), { authFile: open }));
    expect(readable.code).toBe('EGW_KEY_FILE_PERMISSIONS');
  });

  test('a systemd credential ($CREDENTIALS_DIRECTORY) wins over the file', () => {
    const credentials = join(work, 'credentials');
    mkdirSync(credentials, { recursive: true });
    copyFileSync(join(work, 'tpm-key-auth'), join(credentials, 'tpm-key-auth'));
    const saved = process.env.CREDENTIALS_DIRECTORY;
    process.env.CREDENTIALS_DIRECTORY = credentials;
    try {
      // The file the config names does not exist: only the credential can authorize.
      const signed = withDevice(
        (d) => {
          d.open();
          return d.signDigest(sha256(randomBytes(10))).length;
        },
        { authFile: join(work, 'absent'), authCredential: 'tpm-key-auth' },
      );
      expect(signed).toBe(64);
    } finally {
      if (saved === undefined) delete process.env.CREDENTIALS_DIRECTORY;
      else process.env.CREDENTIALS_DIRECTORY = saved;
    }
  });

  test('a key made before keys had an auth value still signs, with a warning that names the fix', async () => {
    const handle = 0x81000110;
    const dir = mkdtempSync(join(work, 'legacy-'));
    // The old template: no noDA, empty authValue (as edge-gatewayd created it before issue 17).
    // Without a resource manager, every tool leaves its objects loaded: flush after each (swtpm has 3 slots).
    const flush = () => tpm2('tpm2_flushcontext', '-t');
    expect(tpm2('tpm2_createprimary', '-C', 'o', '-G', 'ecc', '-c', join(dir, 'srk.ctx')).ok).toBe(true);
    flush();
    const created = tpm2(
      'tpm2_create',
      ...['-C', join(dir, 'srk.ctx'), '-G', 'ecc256:ecdsa-sha256'],
      ...['-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'],
      ...['-u', join(dir, 'key.pub'), '-r', join(dir, 'key.priv')],
    );
    flush();
    expect(created.ok, created.output).toBe(true);
    const loaded = tpm2(
      'tpm2_load',
      ...['-C', join(dir, 'srk.ctx'), '-u', join(dir, 'key.pub'), '-r', join(dir, 'key.priv')],
      ...['-c', join(dir, 'key.ctx')],
    );
    flush(); // the key stays loaded from key.ctx's save; the parent is gone
    expect(loaded.ok, loaded.output).toBe(true);
    expect(
      tpm2('tpm2_evictcontrol', '-C', 'o', '-c', join(dir, 'key.ctx'), `0x${handle.toString(16)}`).ok,
    ).toBe(true);
    flush();
    expect(tpm2Sign(handle, sha256(randomBytes(10))).ok).toBe(true); // what the issue found

    withDevice(
      (d) => {
        const info = d.open();
        expect(info.warnings?.[0]).toContain('created without an authorization value');
        expect(info.warnings?.[0]).toContain('gatewayctl provision factory --force');
        const message = randomBytes(20);
        expect(verifies(d.publicKey(), message, d.signDigest(sha256(message)), 'ieee-p1363')).toBe(true);
        const check = d.healthChecks().find((c) => c.name === 'identity key authorization');
        expect(check?.ok).toBe(false);
      },
      { persistentHandle: handle },
    );
    // The daemon's store (worker thread) carries the warning to the daemon, which logs it at start.
    const store = await WorkerKeyStore.open('tpm', params({ persistentHandle: handle }));
    try {
      expect(store.info.warnings?.[0]).toContain('created without an authorization value');
    } finally {
      await store.close();
    }
  });

  test('rotated keys (identity.renewal.rotate_key) get the same secret and refuse tpm2_sign without it', async () => {
    const settings: KeyStoreSettings = {
      backend: 'tpm',
      callTimeoutMs: 10_000,
      certificateDir: join(work, 'identity'),
      tpm: {
        tcti: swtpm.tcti,
        persistentHandle: HANDLE,
        authFile: join(work, 'tpm-key-auth'),
        authCredential: '',
      },
      atecc608: { bus: 1, address: 0x60, keySlot: 0 },
      software: { path: join(work, 'software.pem') },
    };
    const ring = new RotationKeyRing(settings);
    let spki: Uint8Array;
    try {
      const key = await ring.create('a');
      spki = await key.store.publicKey();
      const message = randomBytes(30);
      expect(verifies(spki, message, await key.store.signDigest(sha256(message)), 'ieee-p1363')).toBe(true);
    } finally {
      await ring.close();
    }
    const rotated = HANDLE + 1;
    expect(tpm2Sign(rotated, sha256(randomBytes(10))).ok).toBe(false);
    const message = randomBytes(40);
    const signed = tpm2Sign(rotated, sha256(message), hexAuth(join(work, 'tpm-key-auth')));
    expect(signed.ok).toBe(true);
    expect(verifies(spki, message, signed.der as Buffer, 'der')).toBe(true);
  });
});

describe('optional PCR policy (identity.key.tpm.pcr_policy)', () => {
  test('a key made with a PCR policy signs while the PCRs hold, never with the secret alone, and says why when they change', () => {
    const handle = 0x81000120;
    const policy = { persistentHandle: handle, pcrPolicy: 'sha256:16' };
    const spki = withDevice((d) => {
      d.connect();
      return d.generateKey({ overwrite: true });
    }, policy);
    const message = randomBytes(50);
    withDevice((d) => {
      d.open();
      expect(verifies(spki, message, d.signDigest(sha256(message)), 'ieee-p1363')).toBe(true);
    }, policy);
    // The auth value alone (a password session) is not enough: the key has no userWithAuth.
    expect(tpm2Sign(handle, sha256(message), hexAuth(join(work, 'tpm-key-auth'))).ok).toBe(false);
    // Without the setting, the key is not usable, and the error says which setting.
    const unset = keyError(() => withDevice((d) => d.open(), { persistentHandle: handle }));
    expect(unset.code).toBe('EGW_KEY_AUTH');
    expect(unset.message).toContain('identity.key.tpm.pcr_policy is not set');

    // PCR 16 (debug, resettable) changes: as after a boot chain update.
    expect(tpm2('tpm2_pcrextend', `16:sha256=${randomBytes(32).toString('hex')}`).ok).toBe(true);
    const changed = keyError(() =>
      withDevice((d) => {
        d.open();
        return d.signDigest(sha256(message));
      }, policy),
    );
    expect(changed.code).toBe('EGW_KEY_AUTH');
    expect(changed.message).toContain('PCR policy (sha256:16) no longer holds');
    expect(changed.hint).toContain('gatewayctl provision factory --force');

    // Back to the value the key was made under: it signs again.
    expect(tpm2('tpm2_pcrreset', '16').ok).toBe(true);
    withDevice((d) => {
      d.open();
      expect(verifies(spki, message, d.signDigest(sha256(message)), 'ieee-p1363')).toBe(true);
    }, policy);
  });
});
