import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { verifyProvisioning } from '../../../src/identity/index.js';
import { type KeyStoreInfo, SoftwareKeyDevice } from '../../../src/keys/index.js';
import { isSimulatorTcti } from '../../../src/keys/tpm/tpm-device.js';

/** A software key that reports itself as `info` says: what a part configured as hardware could claim. */
class ClaimingDevice extends SoftwareKeyDevice {
  constructor(readonly claim: (info: KeyStoreInfo) => KeyStoreInfo) {
    const dir = mkdtempSync(join(tmpdir(), 'egw-claim-'));
    super({ path: join(dir, 'identity-key.pem'), certificateDir: join(dir, 'identity') });
    this.generateKey({ overwrite: false });
  }
  override connect(): KeyStoreInfo {
    return this.claim(super.connect());
  }
}

const exportability = async (device: SoftwareKeyDevice) =>
  (await verifyProvisioning(device)).items.find((item) => item.name === 'key not exportable');

describe('verifyProvisioning: key not exportable', () => {
  it('is n/a (simulated), with the reason, for a stand-in the configuration names', async () => {
    expect(await exportability(new ClaimingDevice((info) => info))).toMatchObject({
      status: 'n/a',
      ok: null,
      simulated: true,
      reason: expect.stringMatching(/^the software key store keeps the key in a PKCS#8 file/),
    });
  });

  it('FAILs for a key kept outside hardware when nothing says the part is simulated', async () => {
    // e.g. a software TPM behind device:/dev/tpmrm0: hardware was configured, the key is in a file.
    const { simulated: _, ...claimsHardware } = new ClaimingDevice((info) => info).connect();
    const device = new ClaimingDevice(() => ({ ...claimsHardware, model: 'TPM 2.0 IBM (SW TPM)' }));
    const report = await verifyProvisioning(device);
    expect(report.items.find((item) => item.name === 'key not exportable')).toEqual({
      name: 'key not exportable',
      status: 'fail',
      ok: false,
      detail:
        'TPM 2.0 IBM (SW TPM) keeps the key outside hardware, yet the configuration names a hardware part',
    });
    expect(report).toMatchObject({ ok: false, status: 'fail', simulated: null });
  });
});

describe('isSimulatorTcti', () => {
  it('names the simulators by their own TCTIs; a device node is hardware configured', () => {
    expect(isSimulatorTcti('swtpm:host=127.0.0.1,port=2321')).toBe(true);
    expect(isSimulatorTcti('mssim:host=localhost,port=2321')).toBe(true);
    expect(isSimulatorTcti('swtpm')).toBe(true);
    expect(isSimulatorTcti('device:/dev/tpmrm0')).toBe(false);
    expect(isSimulatorTcti('tabrmd:bus_name=com.intel.tss2.Tabrmd')).toBe(false);
  });
});
