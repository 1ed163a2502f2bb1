/**
 * `npm run bench -- keys`: signatures/s and p50/p99 latency of the identity key per backend, with
 * node:crypto signing in the same run as the reference, and the main thread's event-loop delay while
 * hardware signatures are under way (they run in the device's worker, so it should stay small).
 */
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { simulatedAtecc608Bus } from '../../src/daemon/simulated-atecc608-bus.js';
import { createDevice as createAteccDevice } from '../../src/keys/atecc608/index.js';
import { InProcessKeyStore, type KeyStore, SoftwareKeyDevice, WorkerKeyStore } from '../../src/keys/index.js';
import { createDevice as createTpmDevice } from '../../src/keys/tpm/index.js';
import { eventLoopDelayDuring, type LatencyFigures, measureLatency } from './measure.js';

const digest = createHash('sha256').update('edge-gatewayd bench').digest();

interface BackendFigures extends LatencyFigures {
  sync?: LatencyFigures;
  event_loop_delay_while_signing?: { p99_ms: number; max_ms: number };
}

async function measureStore(store: KeyStore, count: number, inWorker: boolean): Promise<BackendFigures> {
  const figures: BackendFigures = await measureLatency(() => store.signDigest(digest), count);
  figures.sync = await measureLatency(() => store.signDigestSync(digest), count);
  if (inWorker) {
    // Signatures queued in the device's worker; the main loop's own delay is what sessions would feel.
    figures.event_loop_delay_while_signing = await eventLoopDelayDuring(() =>
      Promise.all(Array.from({ length: count }, () => store.signDigest(digest))),
    );
  }
  return figures;
}

export async function benchKeys(): Promise<Record<string, unknown>> {
  const results: Record<string, unknown> = {};
  const work = mkdtempSync(join(tmpdir(), 'egw-bench-keys-'));
  try {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const data = Buffer.from('edge-gatewayd bench');
    results.reference_node_crypto_sign = await measureLatency(() => sign('sha256', data, privateKey), 2000);

    const params = { path: join(work, 'software.pem'), certificateDir: work };
    new SoftwareKeyDevice(params).generateKey({ overwrite: false });
    const software = new InProcessKeyStore(new SoftwareKeyDevice(params));
    results.software = await measureStore(software, 2000, false);
    await software.close();

    for (const timing of [false, true]) {
      const ateccParams = {
        bus: 1,
        address: 0x60,
        keySlot: 0,
        i2cBus: simulatedAtecc608Bus({ statePath: join(work, `atecc-${timing}.json`), timing }),
      };
      const provisioner = createAteccDevice(ateccParams);
      provisioner.connect();
      provisioner.generateKey({ overwrite: true });
      provisioner.close();
      const atecc = await WorkerKeyStore.open('atecc608', ateccParams);
      results[timing ? 'atecc608_simulator_modelled_timing' : 'atecc608_simulator_no_timing'] =
        await measureStore(atecc, timing ? 40 : 300, true);
      await atecc.close();
    }

    const swtpm = await SwtpmProcess.start();
    try {
      const tpmParams = { tcti: swtpm.tcti, persistentHandle: 0x81000100, certificateDir: work };
      const provisioner = createTpmDevice(tpmParams);
      provisioner.connect();
      provisioner.generateKey({ overwrite: true });
      provisioner.close();
      const tpm = await WorkerKeyStore.open('tpm', tpmParams);
      results.tpm_swtpm = await measureStore(tpm, 500, true);
      await tpm.close();
    } finally {
      await swtpm.stop();
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return results;
}
