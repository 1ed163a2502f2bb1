import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { KeyError, WorkerKeyStore } from '../../src/keys/index.js';
import { createDevice, type TpmKeyDevice } from '../../src/keys/tpm/index.js';

const HANDLE = 0x81010001;

let swtpm: SwtpmProcess;
let work: string;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'egw-tpm-test-'));
  // The state lives under `work`, so it goes with it even when a test restarts swtpm on it.
  swtpm = await SwtpmProcess.start({ stateDir: join(work, 'tpm-state') });
});

afterAll(async () => {
  await swtpm?.stop();
  rmSync(work, { recursive: true, force: true });
});

function device(persistentHandle = HANDLE, tcti = swtpm.tcti): TpmKeyDevice {
  return createDevice({ tcti, persistentHandle, certificateDir: join(work, 'certs') });
}

/** Runs `fn` with a device and always closes it: swtpm serves one connection at a time. */
function withDevice<T>(fn: (d: TpmKeyDevice) => T, persistentHandle = HANDLE, tcti = swtpm.tcti): T {
  const d = device(persistentHandle, tcti);
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

/** tpm2-tools against a given swtpm (no device of ours may be connected meanwhile). */
function tpm2(tcti: string, tool: string, ...args: string[]): string {
  try {
    return execFileSync(tool, args, {
      env: { ...process.env, TPM2TOOLS_TCTI: tcti, TSS2_LOG: 'all+NONE' },
      stdio: ['ignore', 'pipe', 'pipe'],
      encoding: 'utf8',
    });
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT')
      throw new Error(`${tool} is missing: apt-get install tpm2-tools (or scripts/setup.sh)`);
    throw new Error(`${tool} ${args.join(' ')} failed: ${e.stderr ?? e.message}`);
  }
}

/** The identity key at HANDLE, provisioned if this test runs first (tests also run one by one with -t). */
function ensureKey(): Uint8Array {
  return withDevice((d) => {
    d.connect();
    return d.hasKey() ? d.publicKey() : d.generateKey({ overwrite: false });
  });
}

function verifies(spki: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  return verify('sha256', data, { key, dsaEncoding: 'ieee-p1363' }, signature);
}

/** r‖s → ECDSA-Sig-Value DER, as openssl dgst -verify expects. */
function rawToDer(raw: Uint8Array): Buffer {
  const integer = (bytes: Uint8Array) => {
    let value = Buffer.from(bytes);
    while (value.length > 1 && value[0] === 0 && (value[1] ?? 0) < 0x80) value = value.subarray(1);
    if ((value[0] ?? 0) >= 0x80) value = Buffer.concat([Buffer.from([0]), value]);
    return Buffer.concat([Buffer.from([0x02, value.length]), value]);
  };
  const body = Buffer.concat([integer(raw.subarray(0, 32)), integer(raw.subarray(32))]);
  return Buffer.concat([Buffer.from([0x30, body.length]), body]);
}

function opensslVerifies(spki: Uint8Array, data: Uint8Array, signature: Uint8Array): boolean {
  const dir = mkdtempSync(join(work, 'openssl-'));
  const pem = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).export({
    type: 'spki',
    format: 'pem',
  });
  writeFileSync(join(dir, 'pub.pem'), pem);
  writeFileSync(join(dir, 'data'), data);
  writeFileSync(join(dir, 'sig.der'), rawToDer(signature));
  try {
    const out = execFileSync(
      'openssl',
      ['dgst', '-sha256', '-verify', 'pub.pem', '-signature', 'sig.der', 'data'],
      { cwd: dir, encoding: 'utf8' },
    );
    return out.trim() === 'Verified OK';
  } catch {
    return false;
  }
}

const sha256 = (data: Uint8Array) => new Uint8Array(createHash('sha256').update(data).digest());

async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 1));
    });
  });
}

describe('TpmKeyDevice on swtpm', () => {
  test('connect() describes the TPM; serial is the SHA-256 of the ECC EK that tpm2_createek derives, first 9 bytes', () => {
    const info = withDevice((d) => {
      const info = d.connect();
      expect(d.hasKey()).toBe(false);
      expect(d.lockState()).toBeNull();
      const locked = keyError(() => d.lock());
      expect(locked.code).toBe('EGW_KEY_DEVICE_ERROR');
      expect(locked.message).toContain('no lockable zones');
      return info;
    });
    expect(info).toMatchObject({
      backend: 'tpm',
      hardwareBacked: false, // swtpm keeps its keys in a state file: it says so
      keyLocation: 'persistent handle 0x81010001',
    });
    expect(info.model).toMatch(/^TPM 2\.0 IBM \(SW TPM\), firmware [\d.]+$/);
    expect(info.serial).toMatch(/^[0-9A-F]{18}$/);

    const dir = mkdtempSync(join(work, 'ek-'));
    tpm2(
      swtpm.tcti,
      'tpm2_createek',
      '-c',
      join(dir, 'ek.ctx'),
      '-G',
      'ecc',
      '-u',
      join(dir, 'ek.pem'),
      '-f',
      'pem',
    );
    tpm2(swtpm.tcti, 'tpm2_flushcontext', '-t');
    const ek = createPublicKey(execFileSync('cat', [join(dir, 'ek.pem')])).export({
      type: 'spki',
      format: 'der',
    });
    expect(info.serial).toBe(
      createHash('sha256').update(ek.subarray(-64)).digest().subarray(0, 9).toString('hex').toUpperCase(),
    );
    // Stable: a second connection reports the same serial.
    expect(withDevice((d) => d.connect().serial)).toBe(info.serial);
  });

  test('open() before provisioning says which handle is empty and what to run', () => {
    const error = keyError(() => withDevice((d) => d.open()));
    expect(error.code).toBe('EGW_KEY_NOT_FOUND');
    expect(error.message).toContain('0x81010001');
    expect(error.message).toContain(swtpm.tcti);
    expect(error.hint).toContain('gatewayctl provision factory');
  });

  test('a provisioned key persists across a process restart and signs verifiably (node:crypto and openssl)', () => {
    const spki = withDevice((d) => {
      d.connect();
      const spki = d.generateKey({ overwrite: false });
      expect(d.hasKey()).toBe(true);
      expect(d.publicKey()).toEqual(spki);
      return spki;
    });
    expect(spki.length).toBe(91);
    expect(
      createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' }).asymmetricKeyDetails,
    ).toEqual({
      namedCurve: 'prime256v1',
    });

    // A new device object, as after a daemon restart.
    withDevice((d) => {
      const info = d.open();
      expect(info.keyLocation).toBe('persistent handle 0x81010001');
      expect(d.publicKey()).toEqual(spki);

      const data = randomBytes(100);
      const signature = d.signDigest(sha256(data));
      expect(signature.length).toBe(64);
      expect(verifies(spki, data, signature)).toBe(true);
      expect(opensslVerifies(spki, data, signature)).toBe(true);
      expect(verifies(spki, randomBytes(100), signature)).toBe(false);

      // r or s with leading zero bytes come back short from the TPM (about 1 in 128 signatures):
      // enough signatures to meet some, every one must verify.
      for (let i = 0; i < 300; i++) {
        const message = randomBytes(32);
        expect(verifies(spki, message, d.signDigest(sha256(message)))).toBe(true);
      }

      const bad = keyError(() => d.signDigest(new Uint8Array(20)));
      expect(bad.code).toBe('EGW_KEY_BAD_DIGEST');
    });
  });

  test('generateKey refuses an occupied handle without overwrite, replaces the key with it', () => {
    const before = ensureKey();
    const exists = keyError(() =>
      withDevice((d) => {
        d.connect();
        return d.generateKey({ overwrite: false });
      }),
    );
    expect(exists.code).toBe('EGW_KEY_EXISTS');
    expect(exists.message).toContain('0x81010001');
    expect(exists.hint).toContain('--force');
    expect(withDevice((d) => d.open() && d.publicKey())).toEqual(before);

    // On a device that has the old key open, as gatewayctl provision --force would.
    const replaced = withDevice((d) => {
      expect(d.open() && d.publicKey()).toEqual(before);
      const spki = d.generateKey({ overwrite: true });
      expect(d.publicKey()).toEqual(spki);
      const message = randomBytes(50);
      expect(verifies(spki, message, d.signDigest(sha256(message)))).toBe(true);
      return spki;
    });
    expect(replaced).not.toEqual(before);
    expect(withDevice((d) => d.open() && d.publicKey())).toEqual(replaced);
  });

  test('keys come from fresh randomness: generating twice with the same template gives different keys', () => {
    const handle = 0x81010002;
    const keys = [0, 1].map(() =>
      withDevice((d) => {
        d.connect();
        return Buffer.from(d.generateKey({ overwrite: true })).toString('hex');
      }, handle),
    );
    const identity = Buffer.from(ensureKey()).toString('hex');
    expect(new Set([...keys, identity]).size).toBe(3);
  });

  test('a handle holding another kind of object is reported and never replaced, even with overwrite', () => {
    const handle = 0x81000005;
    const dir = mkdtempSync(join(work, 'srk-'));
    tpm2(swtpm.tcti, 'tpm2_createprimary', '-C', 'o', '-G', 'ecc', '-c', join(dir, 'srk.ctx'));
    tpm2(swtpm.tcti, 'tpm2_evictcontrol', '-C', 'o', '-c', join(dir, 'srk.ctx'), '0x81000005');
    tpm2(swtpm.tcti, 'tpm2_flushcontext', '-t');

    const notIdentity = keyError(() => withDevice((d) => d.open(), handle));
    expect(notIdentity.code).toBe('EGW_KEY_NOT_FOUND');
    expect(notIdentity.message).toContain('restricted, decryption');
    expect(withDevice((d) => d.hasKey(), handle)).toBe(false);
    const refused = keyError(() =>
      withDevice((d) => {
        d.connect();
        return d.generateKey({ overwrite: true });
      }, handle),
    );
    expect(refused.code).toBe('EGW_KEY_EXISTS');
    expect(refused.message).toContain('0x81000005');
    expect(tpm2(swtpm.tcti, 'tpm2_getcap', 'handles-persistent')).toContain('0x81000005');
  });

  test('a handle with nothing in it → EGW_KEY_NOT_FOUND naming the handle', () => {
    const error = keyError(() => withDevice((d) => d.open(), 0x81000777));
    expect(error.code).toBe('EGW_KEY_NOT_FOUND');
    expect(error.message).toContain('0x81000777');
    expect(withDevice((d) => d.hasKey(), 0x81000777)).toBe(false);
  });

  test('an unreachable TPM → EGW_KEY_DEVICE_MISSING naming the TCTI, with what to check', async () => {
    const tcti = `swtpm:host=127.0.0.1,port=${await closedPort()}`;
    const refused = keyError(() => withDevice((d) => d.open(), HANDLE, tcti));
    expect(refused.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(refused.message).toContain(tcti);
    expect(refused.message).toContain('TSS2_TCTI_RC_IO_ERROR');
    expect(refused.hint).toContain('swtpm');

    const noDevice = keyError(() => withDevice((d) => d.connect(), HANDLE, 'device:/dev/tpmrm-missing'));
    expect(noDevice.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(noDevice.message).toContain('device:/dev/tpmrm-missing');
    expect(noDevice.hint).toContain('group tss');

    const unknown = keyError(() => withDevice((d) => d.connect(), HANDLE, 'no-such-tcti:'));
    expect(unknown.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(unknown.message).toContain('no such TCTI');

    const badParams = keyError(() =>
      createDevice({ tcti: swtpm.tcti, persistentHandle: 0x80000001, certificateDir: work }),
    );
    expect(badParams.message).toContain('persistentHandle 0x80000001 is not a persistent handle');
  });

  test('a TPM that goes away → EGW_KEY_DEVICE_MISSING; back on the same state, the same device signs with the same key', async () => {
    const spki = ensureKey();
    const d = device();
    try {
      d.open();
      await swtpm.stop({ keepState: true });
      const down = keyError(() => d.signDigest(sha256(randomBytes(8))));
      expect(down.code).toBe('EGW_KEY_DEVICE_MISSING');
      expect(down.message).toContain(swtpm.tcti);

      swtpm = await SwtpmProcess.start({ stateDir: swtpm.stateDir, port: swtpm.port });
      const message = randomBytes(40);
      expect(verifies(spki, message, d.signDigest(sha256(message)))).toBe(true);
      expect(d.publicKey()).toEqual(spki);
    } finally {
      d.close();
    }
    // restart() is the same on the same ports: the persisted key is still there.
    await swtpm.restart();
    expect(withDevice((fresh) => fresh.open() && fresh.publicKey())).toEqual(spki);
  });

  test('factory certificates are written atomically into a 0700 directory as 0600 files', () => {
    const certificates = {
      device: new Uint8Array(randomBytes(600)),
      signer: new Uint8Array(randomBytes(700)),
    };
    withDevice((d) => {
      expect(d.readCertificates()).toEqual({});
      d.storeCertificates(certificates);
      expect(d.readCertificates()).toEqual(certificates);
      const replacement = { ...certificates, device: new Uint8Array(randomBytes(650)) };
      d.storeCertificates(replacement);
      expect(d.readCertificates()).toEqual(replacement);
    });
    const dir = join(work, 'certs');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    // tpm-key-auth: the keys' authorization value, made with the first key (tpm-key-auth.ts).
    expect(readdirSync(dir).sort()).toEqual(['device.der', 'signer.der', 'tpm-key-auth']);
    for (const file of ['device.der', 'signer.der', 'tpm-key-auth'])
      expect(statSync(join(dir, file)).mode & 0o777).toBe(0o600);
  });
});

describe('TPM states the backend must cope with', () => {
  test('a TPM nobody started (no startup-clear) gets TPM2_Startup(CLEAR) and works', async () => {
    const cold = await SwtpmProcess.start({ startupClear: false });
    try {
      const spki = withDevice(
        (d) => {
          expect(d.connect().model).toMatch(/^TPM 2\.0 IBM/);
          return d.generateKey({ overwrite: false });
        },
        HANDLE,
        cold.tcti,
      );
      expect(spki.length).toBe(91);
    } finally {
      await cold.stop();
    }
  });

  test('dictionary-attack lockout → EGW_KEY_LOCKOUT with the way out for a DA-protected key, and health reports it; our noDA key keeps signing', async () => {
    const locked = await SwtpmProcess.start();
    try {
      // Keys made before issue 17 (empty auth, dictionary-attack protected) are locked out with the
      // TPM: one such key at HANDLE, made with tpm2-tools and the old template.
      const old = mkdtempSync(join(work, 'old-key-'));
      tpm2(locked.tcti, 'tpm2_createprimary', '-C', 'o', '-G', 'ecc', '-c', join(old, 'srk.ctx'));
      tpm2(locked.tcti, 'tpm2_flushcontext', '-t');
      tpm2(
        locked.tcti,
        'tpm2_create',
        ...['-C', join(old, 'srk.ctx'), '-G', 'ecc256:ecdsa-sha256'],
        ...['-a', 'fixedtpm|fixedparent|sensitivedataorigin|userwithauth|sign'],
        ...['-u', join(old, 'key.pub'), '-r', join(old, 'key.priv'), '-c', join(old, 'key.ctx')],
      );
      tpm2(locked.tcti, 'tpm2_flushcontext', '-t');
      tpm2(locked.tcti, 'tpm2_evictcontrol', '-C', 'o', '-c', join(old, 'key.ctx'), '0x81010001');
      tpm2(locked.tcti, 'tpm2_flushcontext', '-t');
      // Ours (noDA: a 256-bit secret needs no dictionary-attack protection) at HANDLE + 1.
      withDevice(
        (d) => {
          d.connect();
          d.generateKey({ overwrite: false });
        },
        HANDLE + 1,
        locked.tcti,
      );
      // One failed authorization locks this TPM out; then fail one on purpose (wrong key password).
      tpm2(
        locked.tcti,
        'tpm2_dictionarylockout',
        '--setup-parameters',
        '--max-tries=1',
        '--recovery-time=600',
        '--lockout-recovery-time=600',
      );
      const dir = mkdtempSync(join(work, 'da-'));
      writeFileSync(join(dir, 'data'), 'x');
      expect(() =>
        tpm2(
          locked.tcti,
          'tpm2_sign',
          '-c',
          '0x81010001',
          '-p',
          'wrong',
          '-g',
          'sha256',
          '-o',
          join(dir, 'sig'),
          join(dir, 'data'),
        ),
      ).toThrow(/0x98e|authorization|AUTH_FAIL/i);

      withDevice(
        (d) => {
          d.open();
          const error = keyError(() => d.signDigest(sha256(randomBytes(8))));
          expect(error.code).toBe('EGW_KEY_LOCKOUT');
          expect(error.message).toContain('TPM_RC_LOCKOUT');
          expect(error.message).toContain(locked.tcti);
          expect(error.hint).toContain('tpm2_dictionarylockout --clear-lockout');
          const lockout = d.healthChecks().find((check) => check.name === 'dictionary-attack lockout');
          expect(lockout).toMatchObject({ ok: false });
          expect(lockout?.detail).toContain('IN LOCKOUT');
        },
        HANDLE,
        locked.tcti,
      );
      withDevice(
        (d) => {
          d.open();
          const message = randomBytes(8);
          expect(verifies(d.publicKey(), message, d.signDigest(sha256(message)))).toBe(true);
        },
        HANDLE + 1,
        locked.tcti,
      );

      tpm2(locked.tcti, 'tpm2_dictionarylockout', '--clear-lockout');
      withDevice(
        (d) => {
          d.open();
          const message = randomBytes(8);
          expect(verifies(d.publicKey(), message, d.signDigest(sha256(message)))).toBe(true);
          // All fine but the old key's missing authorization value.
          const failing = d.healthChecks().filter((check) => !check.ok);
          expect(failing.map((check) => check.name)).toEqual(['identity key authorization']);
        },
        HANDLE,
        locked.tcti,
      );
    } finally {
      await locked.stop();
    }
  });
});

describe('SwtpmProcess', () => {
  test('without the swtpm binary, says how to install it', async () => {
    await expect(SwtpmProcess.start({ binary: 'swtpm-not-installed-here' })).rejects.toThrow(
      'apt-get install swtpm swtpm-tools libtss2-tcti-swtpm0',
    );
  });
});

describe('WorkerKeyStore with the tpm backend', () => {
  test('signs asynchronously and synchronously from its worker, and reports health', async () => {
    const params = { tcti: swtpm.tcti, persistentHandle: HANDLE, certificateDir: join(work, 'certs') };
    ensureKey();
    const store = await WorkerKeyStore.open('tpm', params);
    try {
      expect(store.info).toMatchObject({
        backend: 'tpm',
        hardwareBacked: false, // swtpm keeps its keys in a state file: it says so
        keyLocation: 'persistent handle 0x81010001',
      });
      const spki = await store.publicKey();

      const a = randomBytes(64);
      expect(verifies(spki, a, await store.signDigest(sha256(a)))).toBe(true);
      const b = randomBytes(64);
      expect(verifies(spki, b, store.signDigestSync(sha256(b)))).toBe(true);
      const signatures = await Promise.all([1, 2, 3, 4].map(() => store.signDigest(sha256(a))));
      for (const signature of signatures) expect(verifies(spki, a, signature)).toBe(true);

      const health = await store.healthCheck();
      expect(health.ok).toBe(true);
      expect(health.checks.map((check) => check.name)).toEqual([
        'sign/verify round trip',
        'TPM self-test',
        'dictionary-attack lockout',
        'identity key authorization',
        'identity key',
      ]);
    } finally {
      await store.close();
    }
  });

  test('open fails with the device error when there is no key', async () => {
    const params = { tcti: swtpm.tcti, persistentHandle: 0x81000999, certificateDir: join(work, 'certs') };
    await expect(WorkerKeyStore.open('tpm', params)).rejects.toMatchObject({ code: 'EGW_KEY_NOT_FOUND' });
  });
});
