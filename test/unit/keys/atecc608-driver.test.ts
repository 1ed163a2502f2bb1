import { execFileSync } from 'node:child_process';
import { createHash, createPublicKey, randomBytes, verify } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Atecc608Model, openSimulatedBus, SimulatedI2cBus } from '../../../hw-sim/atecc608/index.js';
import { simulatedAtecc608Bus } from '../../../src/daemon/simulated-atecc608-bus.js';
import { encodeCertificates } from '../../../src/keys/atecc608/certificate-record.js';
import {
  Atecc608Driver,
  type Atecc608DriverOptions,
  Atecc608KeyDevice,
  Atecc608StatusError,
  certificateCapacity,
  certificateSlots,
  Opcode,
  spareKeySlots,
  spkiFromXy,
} from '../../../src/keys/atecc608/index.js';
import { KeyError } from '../../../src/keys/index.js';

/**
 * In this thread the simulator is the TypeScript source already loaded here: the device opens it
 * directly rather than loading the built module (a second copy of the OpenSSL bindings).
 */
const onThisThread = {
  openBus: (spec: { options: Record<string, unknown> }) =>
    openSimulatedBus(spec.options as { statePath: string; timing: boolean }),
};

const tempDir = () => mkdtempSync(join(tmpdir(), 'egw-atecc-'));
const sha256 = (data: Uint8Array | string) => createHash('sha256').update(data).digest();
const open: { close(): void }[] = [];

afterEach(() => {
  for (const thing of open.splice(0)) thing.close();
});

/** A simulated part (timing off unless asked) and the real driver on it, as on /dev/i2c-1. */
function rig(
  options: {
    timing?: boolean;
    statePath?: string;
    model?: Atecc608Model;
    driver?: Partial<Atecc608DriverOptions>;
  } = {},
) {
  const model =
    options.model ?? new Atecc608Model({ timing: options.timing ?? false, statePath: options.statePath });
  const bus = new SimulatedI2cBus(model);
  const driver = new Atecc608Driver({ bus, address: 0x60, busName: '/dev/i2c-1', ...options.driver });
  open.push(driver);
  return { model, bus, driver };
}

function thrown(run: () => unknown): KeyError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(KeyError);
    return error as KeyError;
  }
  throw new Error('expected a KeyError');
}

function verifies(xy: Uint8Array, message: string, signature: Uint8Array): boolean {
  const key = createPublicKey({ key: Buffer.from(spkiFromXy(xy)), format: 'der', type: 'spki' });
  return verify('sha256', Buffer.from(message), { key, dsaEncoding: 'ieee-p1363' }, signature);
}

/** Config locked and a key in slot 0: the state GenKey/Sign need. */
function withKey(driver: Atecc608Driver): Uint8Array {
  driver.lock('config');
  return driver.genKey(0);
}

describe('Atecc608Driver against the simulated part', () => {
  it('wakes the part, checks the wake token, and idles it after each operation', () => {
    const { driver, model } = rig();
    driver.wake();
    expect(model.power).toBe('awake');
    expect(driver.stats.wakes).toBe(1);
    expect(Buffer.from(driver.info()).toString('hex')).toBe('00006002');
    expect(model.power).toBe('idle');
  });

  it('reads the serial number (0123 … EE) and the lock state of a factory-fresh part', () => {
    const { driver, model } = rig();
    const serial = driver.serialNumber();
    expect(serial).toMatch(/^0123[0-9a-f]{12}ee$/);
    expect(serial).toBe(
      Buffer.concat([model.config.subarray(0, 4), model.config.subarray(8, 13)]).toString('hex'),
    );
    expect(driver.lockState()).toEqual({ config: false, data: false });
    expect(driver.readConfig()[16]).toBe(0xc0);
  });

  it('creates a key with GenKey and signs a digest with Nonce + Sign; node:crypto verifies it', () => {
    const { driver } = rig();
    const xy = withKey(driver);
    expect(xy.length).toBe(64);
    expect(driver.publicKey(0)).toEqual(xy);
    const signature = driver.sign(0, sha256('hello from the gateway'));
    expect(signature.length).toBe(64);
    expect(verifies(xy, 'hello from the gateway', signature)).toBe(true);
    expect(verifies(xy, 'something else', signature)).toBe(false);
  });

  it('refuses GenKey before the config lock and Sign without a key, with the status byte', () => {
    const { driver } = rig();
    const early = thrown(() => driver.genKey(0));
    expect(early).toBeInstanceOf(Atecc608StatusError);
    expect((early as Atecc608StatusError).status).toBe(0x0f);
    expect(early.message).toMatch(
      /\/dev\/i2c-1 address 0x60: GenKey \(0x40\) create in slot 0 failed with status 0x0F/,
    );
    driver.lock('config');
    expect(thrown(() => driver.sign(0, sha256('x'))).message).toMatch(/Nonce\+Sign .* status 0x0F/);
    expect(thrown(() => driver.sign(0, new Uint8Array(20))).code).toBe('EGW_KEY_BAD_DIGEST');
  });

  it('writes and reads back slots of every size', () => {
    const { driver } = rig();
    driver.lock('config');
    const big = randomBytes(416);
    const medium = randomBytes(72);
    const small = randomBytes(36);
    driver.writeSlot(8, big);
    driver.writeSlot(9, medium);
    driver.writeSlot(3, small);
    driver.writeSlot(10, Uint8Array.of(1, 2, 3, 4, 5));
    expect(Buffer.from(driver.readSlot(8))).toEqual(big);
    expect(Buffer.from(driver.readSlot(9))).toEqual(medium);
    expect(Buffer.from(driver.readSlot(3))).toEqual(small);
    expect(Buffer.from(driver.readSlot(8, 45))).toEqual(big.subarray(0, 45));
    expect([...driver.readSlot(10, 8)]).toEqual([1, 2, 3, 4, 5, 0, 0, 0]);
  });

  it('refuses data writes before the config lock, naming the zone', () => {
    const { driver } = rig();
    const error = thrown(() => driver.writeSlot(10, new Uint8Array(32)));
    expect(error.code).toBe('EGW_KEY_LOCKED');
    expect(error.message).toMatch(/data zone slot 10 refused .*config zone must be locked/);
  });

  it('after locking config and data, refuses writes to either zone with a KeyError naming it', () => {
    const { driver } = rig();
    withKey(driver);
    driver.writeSlot(10, Uint8Array.of(9, 9, 9, 9));
    driver.lock('data');
    expect(driver.lockState()).toEqual({ config: true, data: true });
    const config = thrown(() => driver.write('config', 0, 1, 0, new Uint8Array(4)));
    expect(config.code).toBe('EGW_KEY_LOCKED');
    expect(config.message).toMatch(
      /Write to the config zone refused \(status 0x0F\): the config zone is locked/,
    );
    const data = thrown(() => driver.writeSlot(10, new Uint8Array(4)));
    expect(data.code).toBe('EGW_KEY_LOCKED');
    expect(data.message).toMatch(
      /Write to data zone slot 10 refused \(status 0x0F\): the data zone is locked/,
    );
    expect([...driver.readSlot(10, 4)]).toEqual([9, 9, 9, 9]);
    // The key still signs after the lock.
    expect(driver.sign(0, sha256('after lock')).length).toBe(64);
  });

  it('never reads a private key, locked or not', () => {
    const { driver } = rig();
    withKey(driver);
    for (const run of [() => driver.readSlot(0), () => driver.read('data', 0, 0, 0, 4)]) {
      const error = thrown(run);
      expect(error.code).toBe('EGW_KEY_LOCKED');
      expect(error.message).toMatch(/slot 0 refused \(status 0x0F\)/);
    }
    driver.writeSlot(8, new Uint8Array(4));
    driver.lock('data');
    expect(thrown(() => driver.readSlot(0)).code).toBe('EGW_KEY_LOCKED');
  });

  it('refuses to lock a zone twice, and the data zone before the config zone', () => {
    const { driver } = rig();
    expect(thrown(() => driver.lock('data')).message).toMatch(
      /data zone cannot be locked before the config zone/,
    );
    driver.lock('config');
    const twice = thrown(() => driver.lock('config'));
    expect(twice.code).toBe('EGW_KEY_LOCKED');
    expect(twice.message).toMatch(/the config zone is already locked/);
    driver.lock('data');
    expect(thrown(() => driver.lock('data')).message).toMatch(/the data zone is already locked/);
  });

  it('retries a response whose CRC was corrupted, and reports persistent corruption as status 0xFF', () => {
    const { driver, model } = rig();
    model.faults.corruptResponses = 2;
    expect(Buffer.from(driver.info()).toString('hex')).toBe('00006002');
    expect(driver.stats.retries).toBe(2);
    model.faults.corruptResponses = 1_000;
    const error = thrown(() => driver.info());
    expect(error).toBeInstanceOf(Atecc608StatusError);
    expect((error as Atecc608StatusError).status).toBe(0xff);
    expect(error.message).toBe(
      'ATECC608A on /dev/i2c-1 address 0x60: Info (0x30) failed with status 0xFF (CRC or communication error): response CRC mismatch on each of 4 attempts',
    );
    expect(error.hint).toMatch(/pull-up/);
  });

  it('takes a Lock whose answer was lost on the bus as done when the retry finds the zone locked', () => {
    const { driver, model } = rig();
    model.faults.corruptResponses = 1;
    driver.lock('config');
    expect(driver.stats.retries).toBe(1);
    expect(model.lockState()).toEqual({ config: true, data: false });
  });

  it('rides out a NACK storm', () => {
    const { driver, model } = rig();
    model.faults.nackTransactions = 6;
    expect(driver.serialNumber()).toMatch(/^0123/);
    expect(model.faults.nackTransactions).toBe(0);
    expect(driver.stats.retries).toBeGreaterThan(0);
  });

  it('says which bus and address did not answer when the address is wrong', () => {
    const { driver } = rig({ driver: { address: 0x61 } });
    const error = thrown(() => driver.info());
    expect(error.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(error.message).toMatch(
      /^no ATECC608A answered on \/dev\/i2c-1 at address 0x61: nothing answered the wake sequence/,
    );
    expect(error.hint).toMatch(/address/);
  });

  it('recovers when the part falls asleep in the middle of Sign: re-wakes and redoes Nonce + Sign', () => {
    const { driver, model } = rig();
    const xy = withKey(driver);
    const wakes = model.stats.wakes;
    model.faults.sleepDuringCommands = 1;
    model.faults.sleepDuringOpcode = Opcode.Sign;
    const signature = driver.sign(0, sha256('brown-out'));
    expect(model.faults.sleepDuringCommands).toBe(0);
    expect(model.stats.wakes).toBeGreaterThan(wakes + 1);
    expect(verifies(xy, 'brown-out', signature)).toBe(true);
  });

  it('polls the part while it NACKs during a real-time Sign (timing on)', () => {
    const { driver, model } = rig({ timing: true });
    const xy = withKey(driver);
    const polls = driver.stats.busyPolls;
    const signature = driver.sign(0, sha256('timed'));
    expect(verifies(xy, 'timed', signature)).toBe(true);
    expect(driver.stats.busyPolls).toBeGreaterThan(polls);
    expect(model.stats.nacks).toBeGreaterThan(0);
  });

  describe('watchdog (fake clock: the driver sleeps by advancing it)', () => {
    function clocked(driver: Partial<Atecc608DriverOptions> = {}) {
      let now = 0;
      const clock = () => now;
      const advance = (ms: number) => {
        now += ms;
      };
      const model = new Atecc608Model({ timing: true, clock });
      const parts = rig({ model, driver: { clock, sleep: advance, idleAfterOperation: false, ...driver } });
      return { ...parts, advance };
    }

    it('re-wakes the part before a command once it has been awake for more than a second', () => {
      const { driver, model, advance } = clocked();
      driver.info();
      advance(1_200);
      driver.info();
      expect(driver.stats.wakes).toBe(2);
      expect(model.stats.watchdogRefusals).toBe(0);
      expect(model.stats.watchdogSleeps).toBe(0);
    });

    it('without that guard, retries a command the part refuses with 0xEE (watchdog about to expire)', () => {
      const { driver, model, advance } = clocked({ watchdogGuardMs: Number.POSITIVE_INFINITY });
      const xy = withKey(driver);
      driver.idle();
      driver.wake();
      // Nonce still fits before the watchdog; Sign (up to 115 ms) no longer does.
      advance(1_200);
      const signature = driver.sign(0, sha256('late'));
      expect(model.stats.watchdogRefusals).toBeGreaterThan(0);
      expect(verifies(xy, 'late', signature)).toBe(true);
    });

    it('wakes a part the watchdog put to sleep', () => {
      const { driver, model, advance } = clocked({ watchdogGuardMs: Number.POSITIVE_INFINITY });
      driver.info();
      advance(2_000);
      expect(model.power).toBe('asleep');
      expect(model.stats.watchdogSleeps).toBe(1);
      expect(Buffer.from(driver.info()).toString('hex')).toBe('00006002');
    });
  });

  it('keeps keys, slots and locks in the state file: a new model on it is the same part', () => {
    const statePath = join(tempDir(), 'atecc608.json');
    const first = rig({ statePath });
    const xy = withKey(first.driver);
    first.driver.writeSlot(9, Uint8Array.of(7, 7, 7, 7));
    const serial = first.driver.serialNumber();
    expect(JSON.parse(readFileSync(statePath, 'utf8')).format).toBe('edge-gatewayd/atecc608-sim');
    const second = rig({ statePath });
    expect(second.driver.serialNumber()).toBe(serial);
    expect(second.driver.publicKey(0)).toEqual(xy);
    expect(second.driver.lockState()).toEqual({ config: true, data: false });
    expect([...second.driver.readSlot(9, 4)]).toEqual([7, 7, 7, 7]);
    expect(verifies(xy, 'persisted', second.driver.sign(0, sha256('persisted')))).toBe(true);
  });
});

describe('Atecc608KeyDevice on the simulator', () => {
  let certificates: { device: Uint8Array; signer: Uint8Array };

  beforeAll(() => {
    // A factory CA and a device certificate like the seeds', made by openssl (P-256 keys).
    const dir = tempDir();
    const run = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ca.key');
    run(
      'req',
      '-x509',
      '-new',
      '-key',
      'ca.key',
      '-sha256',
      '-days',
      '3650',
      '-subj',
      '/C=DE/O=Example Devices GmbH/OU=Manufacturing/CN=Example Devices Factory CA 2025',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
      '-addext',
      'keyUsage=critical,keyCertSign,cRLSign',
      '-outform',
      'der',
      '-out',
      'ca.der',
    );
    run('ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'device.key');
    run(
      'req',
      '-new',
      '-key',
      'device.key',
      '-subj',
      '/C=DE/O=Example Devices GmbH/OU=Gateways/serialNumber=0123A1B2C3D4E5F6EE/CN=gw-0123a1b2c3d4e5f6ee',
      '-out',
      'device.csr',
    );
    writeFileSync(
      join(dir, 'device.ext'),
      [
        'basicConstraints=critical,CA:FALSE',
        'keyUsage=critical,digitalSignature',
        'extendedKeyUsage=clientAuth',
        'subjectKeyIdentifier=hash',
        'authorityKeyIdentifier=keyid',
        'subjectAltName=URI:urn:example:gateway:0123a1b2c3d4e5f6ee',
        '1.3.6.1.4.1.12345.1.1=ASN1:UTF8String:edge-gateway',
      ].join('\n'),
    );
    run(
      'x509',
      '-req',
      '-in',
      'device.csr',
      '-CA',
      'ca.der',
      '-CAform',
      'der',
      '-CAkey',
      'ca.key',
      '-sha256',
      '-days',
      '7300',
      '-set_serial',
      '0x5a17c0ffee0123456789',
      '-extfile',
      'device.ext',
      '-outform',
      'der',
      '-out',
      'device.der',
    );
    certificates = {
      device: new Uint8Array(readFileSync(join(dir, 'device.der'))),
      signer: new Uint8Array(readFileSync(join(dir, 'ca.der'))),
    };
  });

  function device(statePath = join(tempDir(), 'atecc608.json')) {
    const d = new Atecc608KeyDevice(
      {
        bus: 1,
        address: 0x60,
        keySlot: 0,
        i2cBus: simulatedAtecc608Bus({ statePath, timing: false }),
      },
      onThisThread,
    );
    open.push(d);
    return d;
  }

  it('says what the part is', () => {
    const info = device().connect();
    expect(info).toMatchObject({
      backend: 'atecc608',
      hardwareBacked: false,
      model: 'ATECC608A rev 0x6002 (hw-sim simulator)',
      keyLocation: 'slot 0',
    });
    expect(info.serial).toMatch(/^0123[0-9A-F]{12}EE$/);
  });

  it('refuses to open without a key, then generates one (locking the config zone) and signs', () => {
    const d = device();
    expect(thrown(() => d.open()).code).toBe('EGW_KEY_NOT_FOUND');
    expect(d.hasKey()).toBe(false);
    const spki = d.generateKey({ overwrite: false });
    expect(d.lockState()).toEqual({ config: true, data: false });
    expect(d.open().keyLocation).toBe('slot 0');
    expect(d.publicKey()).toEqual(spki);
    const digest = sha256('signed by the secure element');
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    const signature = d.signDigest(digest);
    expect(
      verify(
        'sha256',
        Buffer.from('signed by the secure element'),
        { key, dsaEncoding: 'ieee-p1363' },
        signature,
      ),
    ).toBe(true);
  });

  it('refuses to replace a key unless asked to', () => {
    const d = device();
    const first = d.generateKey({ overwrite: false });
    const exists = thrown(() => d.generateKey({ overwrite: false }));
    expect(exists.code).toBe('EGW_KEY_EXISTS');
    expect(exists.message).toMatch(/slot 0 already holds a key/);
    expect(d.generateKey({ overwrite: true })).not.toEqual(first);
  });

  it('stores both certificates and reads them back byte for byte', () => {
    expect(certificates.device.length).toBeGreaterThan(400);
    const d = device();
    expect(d.readCertificates()).toEqual({});
    d.generateKey({ overwrite: false });
    d.storeCertificates(certificates);
    expect(d.readCertificates()).toEqual(certificates);
  });

  it('fits two ~540-byte certificates that do not compress at all, and refuses more than the slots hold', () => {
    const d = device();
    const incompressible = (n: number) => Uint8Array.of(0x30, ...randomBytes(n - 1));
    const pair = { device: incompressible(540), signer: incompressible(540) };
    d.storeCertificates(pair);
    expect(d.readCertificates()).toEqual(pair);
    // 416 + 7 × 72 + 5 × 36: every slot but the key slot and its two spare key slots.
    expect(certificateCapacity(0)).toBe(1100);
    expect(certificateSlots(0)).toEqual([8, 9, 10, 11, 12, 13, 14, 15, 3, 4, 5, 6, 7]);
    expect(spareKeySlots(0)).toEqual([1, 2]);
    expect(spareKeySlots(2)).toEqual([0, 1]);
    const error = thrown(() =>
      d.storeCertificates({ device: incompressible(600), signer: incompressible(600) }),
    );
    expect(error.code).toBe('EGW_KEY_DEVICE_ERROR');
    expect(error.message).toMatch(/need 1216 bytes .* hold 1100 B/);
  });

  it('creates rotated keys in the spare slots after the data lock; the factory key and certificates stay', () => {
    const statePath = join(tempDir(), 'atecc608.json');
    const factory = device(statePath);
    const factoryKey = factory.generateKey({ overwrite: false });
    factory.storeCertificates(certificates);
    factory.lock();
    const spare = (signingSlot: number) => {
      const d = new Atecc608KeyDevice(
        {
          bus: 1,
          address: 0x60,
          keySlot: 0,
          signingSlot,
          i2cBus: simulatedAtecc608Bus({ statePath, timing: false }),
        },
        onThisThread,
      );
      open.push(d);
      return d;
    };
    const a = spare(1);
    expect(thrown(() => a.open()).message).toMatch(/no identity key in slot 1/);
    const keyA = a.generateKey({ overwrite: true });
    expect(a.open().keyLocation).toBe('slot 1');
    const signature = a.signDigest(sha256('renewal proof'));
    const spkiA = createPublicKey({ key: Buffer.from(keyA), format: 'der', type: 'spki' });
    expect(
      verify('sha256', Buffer.from('renewal proof'), { key: spkiA, dsaEncoding: 'ieee-p1363' }, signature),
    ).toBe(true);
    const keyB = spare(2).generateKey({ overwrite: true });
    expect(keyB).not.toEqual(keyA);
    expect(keyA).not.toEqual(factoryKey);
    const after = device(statePath);
    expect(after.publicKey()).toEqual(factoryKey);
    expect(after.readCertificates()).toEqual(certificates);
  });

  it('refuses a signing slot that is neither the key slot nor a spare one', () => {
    const error = thrown(() => new Atecc608KeyDevice({ bus: 1, address: 0x60, keySlot: 0, signingSlot: 3 }));
    expect(error.message).toMatch(/signingSlot must be the key slot or a spare key slot \(0, 1, 2\), got 3/);
  });

  it('reads a part provisioned before spare key slots (record version 1), and refuses to rotate on it', () => {
    const statePath = join(tempDir(), 'atecc608.json');
    const d = device(statePath);
    d.generateKey({ overwrite: false });
    d.storeCertificates(certificates);
    d.lock();
    d.close();
    // Rewrite it as the old layout: slots 1 and 2 data slots, the record across all of 8–15, 1–7.
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    const config = Buffer.from(state.config, 'hex');
    for (const slot of [1, 2]) {
      config.writeUInt16LE(0x2000, 20 + slot * 2);
      config.writeUInt16LE(0x003c, 96 + slot * 2);
    }
    const record = encodeCertificates(certificates, certificateCapacity(0, 1), 'old part', 1);
    const slots: string[] = state.slots;
    let position = 0;
    for (const slot of certificateSlots(0, 1)) {
      const size = slot < 8 ? 36 : slot === 8 ? 416 : 72;
      const chunk = Buffer.alloc(size);
      Buffer.from(record.subarray(position, position + size)).copy(chunk);
      slots[slot] = chunk.toString('hex');
      position += size;
    }
    writeFileSync(statePath, JSON.stringify({ ...state, config: config.toString('hex'), slots }));
    expect(device(statePath).readCertificates()).toEqual(certificates);
    const rotate = new Atecc608KeyDevice(
      {
        bus: 1,
        address: 0x60,
        keySlot: 0,
        signingSlot: 1,
        i2cBus: simulatedAtecc608Bus({ statePath, timing: false }),
      },
      onThisThread,
    );
    open.push(rotate);
    const error = thrown(() => rotate.generateKey({ overwrite: true }));
    expect(error.code).toBe('EGW_KEY_LOCKED');
    expect(error.message).toMatch(/slot 1 not set up as a P-256 signing key/);
    expect(error.hint).toMatch(/provisioned without spare key slots.*rotate_key = false/);
  });

  it('locks after the key and certificates are in; then refuses locking again and writing certificates', () => {
    const d = device();
    expect(thrown(() => d.lock()).code).toBe('EGW_KEY_NOT_FOUND');
    d.generateKey({ overwrite: false });
    expect(thrown(() => d.lock()).message).toMatch(/no certificates stored yet/);
    d.storeCertificates(certificates);
    d.lock();
    expect(d.lockState()).toEqual({ config: true, data: true });
    expect(thrown(() => d.lock()).code).toBe('EGW_KEY_LOCKED');
    const frozen = thrown(() => d.storeCertificates(certificates));
    expect(frozen.code).toBe('EGW_KEY_LOCKED');
    expect(frozen.message).toMatch(/data zone is locked/);
    expect(d.readCertificates()).toEqual(certificates);
    expect(d.healthChecks().every((check) => check.ok)).toBe(true);
  });

  it('refuses GenKey once the data zone is locked when the slot does not allow it', () => {
    const statePath = join(tempDir(), 'atecc608.json');
    const d = device(statePath);
    d.generateKey({ overwrite: false });
    d.storeCertificates(certificates);
    d.lock();
    d.close();
    // The same part as if its key slot had been configured without the GenKey bit (WriteConfig 0).
    const state = JSON.parse(readFileSync(statePath, 'utf8'));
    const config = Buffer.from(state.config, 'hex');
    config[21] = 0x00;
    writeFileSync(statePath, JSON.stringify({ ...state, config: config.toString('hex') }));
    const error = thrown(() => device(statePath).generateKey({ overwrite: true }));
    expect(error.code).toBe('EGW_KEY_LOCKED');
    expect(error.message).toMatch(/the data zone is locked and slot 0 does not allow GenKey/);
  });

  it('is the same part after a restart: same key, same certificates', () => {
    const statePath = join(tempDir(), 'atecc608.json');
    const d = device(statePath);
    const spki = d.generateKey({ overwrite: false });
    d.storeCertificates(certificates);
    d.close();
    const again = device(statePath);
    expect(again.open().keyLocation).toBe('slot 0');
    expect(again.publicKey()).toEqual(spki);
    expect(again.readCertificates()).toEqual(certificates);
  });

  it('rejects parameters it cannot use', () => {
    for (const params of [
      { bus: -1, address: 0x60, keySlot: 0 },
      { bus: 1, address: 0xc0, keySlot: 0 },
      { bus: 1, address: 0x60, keySlot: 9 },
    ]) {
      expect(thrown(() => new Atecc608KeyDevice(params)).message).toMatch(/^invalid ATECC608A parameters/);
    }
  });

  it('says the bus is missing when /dev/i2c-N cannot be opened', () => {
    const missing = Object.assign(new Error("ENOENT: no such file or directory, open '/dev/i2c-7'"), {
      code: 'ENOENT',
    });
    const bus = {
      i2cWriteSync: () => {
        throw missing;
      },
      i2cReadSync: () => {
        throw missing;
      },
      closeSync: () => undefined,
    };
    const driver = new Atecc608Driver({ bus, busName: '/dev/i2c-7' });
    const error = thrown(() => driver.wake());
    expect(error.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(error.message).toMatch(/^ATECC608A on \/dev\/i2c-7 address 0x60: the I2C bus does not exist/);
    expect(error.hint).toMatch(/modprobe i2c-dev/);
  });

  it('names the bus and address when the simulated part is elsewhere', () => {
    const d = new Atecc608KeyDevice(
      {
        bus: 3,
        address: 0x35,
        keySlot: 0,
        i2cBus: simulatedAtecc608Bus({ statePath: join(tempDir(), 's.json'), timing: false }),
      },
      onThisThread,
    );
    const error = thrown(() => d.connect());
    expect(error.code).toBe('EGW_KEY_DEVICE_MISSING');
    expect(error.message).toMatch(/\/dev\/i2c-3 \(simulated: .*\) at address 0x35/);
  });

  it('opens the simulated bus with the helper the demo uses', () => {
    const bus = openSimulatedBus({ timing: false });
    expect(bus.address).toBe(0x60);
    bus.closeSync();
  });
});
