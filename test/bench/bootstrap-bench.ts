/**
 * `npm run bench -- bootstrap`: time from the daemon's first start to an operational identity (zero
 * touch over EST: cacerts, csrattrs, CSR signed in the key device, simpleenroll, proof, commit), with
 * the key in swtpm and in the ATECC608A simulator (modelled execution times), against the local hw-sim
 * EST server. Each run is a freshly provisioned gateway; p50 of several runs.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EstServer } from '../../hw-sim/est-server/index.js';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { manufacturerCaPem, SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { controlRequest } from '../../src/control/index.js';
import { round } from './measure.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const daemon = join(root, 'dist/src/daemon/main.js');
const gatewayctl = join(root, 'dist/src/cli/main.js');
const RUNS = Number(process.env.BENCH_BOOTSTRAP_RUNS ?? 5);

interface Backend {
  name: string;
  keyConfig(dir: string, run: number): string;
  /** Another EST server than the shared one (the attesting one). */
  est?: EstServer;
}

async function bootstrapOnce(backend: Backend, est: EstServer, caDir: string, run: number) {
  const dir = mkdtempSync(join(tmpdir(), 'egw-bench-boot-'));
  try {
    const socket = join(dir, 'control.sock');
    const config = join(dir, 'gateway.toml');
    writeFileSync(join(dir, 'est-root.pem'), est.rootPem);
    writeFileSync(
      config,
      `[store]\npath = "${dir}/state.db"\n[control]\nsocket = "${socket}"\n` +
        `[identity]\ncertificate_dir = "${dir}/identity"\n${backend.keyConfig(dir, run)}` +
        `[identity.est]\nurl = "${est.url}"\ntrust_anchor_file = "${dir}/est-root.pem"\n`,
    );
    execFileSync(
      process.execPath,
      [gatewayctl, 'provision', 'factory', '-c', config, '--ca-dir', caDir, '--yes'],
      {
        stdio: 'pipe',
      },
    );
    const started = performance.now();
    const service = ServiceSupervisor.start({ command: [process.execPath, daemon, '--config', config] });
    try {
      await service.waitReady();
      const ready = performance.now() - started;
      for (;;) {
        const status = (await controlRequest(socket, 'identity.status')) as {
          state: string;
          lastError: string;
        };
        if (status.state === 'operational') break;
        if (performance.now() - started > 60_000)
          throw new Error(`no operational identity: ${status.lastError}`);
        await new Promise((resolveWait) => setTimeout(resolveWait, 10));
      }
      return { readyMs: ready, operationalMs: performance.now() - started };
    } finally {
      await service.stop();
      await service.dispose();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function summary(samples: number[]) {
  const sorted = [...samples].sort((a, b) => a - b);
  return {
    p50_ms: round(sorted[Math.floor(sorted.length / 2)] ?? 0),
    min_ms: round(sorted[0] ?? 0),
    max_ms: round(sorted.at(-1) ?? 0),
  };
}

export async function benchBootstrap(): Promise<Record<string, unknown>> {
  const work = mkdtempSync(join(tmpdir(), 'egw-bench-boot-ca-'));
  const caDir = join(work, 'factory');
  execFileSync(join(root, 'scripts/factory-ca.sh'), ['init', caDir], { stdio: 'pipe' });
  const est = await EstServer.start({
    stateDir: join(work, 'est'),
    factoryCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')],
  });
  const swtpm = await SwtpmProcess.start();
  // Attestation needs a TPM with an EK certificate and a server with a policy: a TPM manufactured by
  // a local vendor CA, PCRs 0–7 at their after-startup zeros.
  const vendorCa = join(work, 'tpm-vendor-ca');
  const attestingTpm = await SwtpmProcess.start({ ekCertificateCaDir: vendorCa });
  const attestingEst = await EstServer.start({
    stateDir: join(work, 'est-attesting'),
    factoryCaPem: [readFileSync(join(caDir, 'root.crt'), 'utf8')],
    attestation: {
      manufacturerCaPem: [manufacturerCaPem(vendorCa)],
      pcrSelection: 'sha256:0,1,2,3,4,5,6,7',
      pcrValues: Object.fromEntries([0, 1, 2, 3, 4, 5, 6, 7].map((pcr) => [pcr, '00'.repeat(32)])),
    },
  });
  const backends: Backend[] = [
    {
      name: 'tpm_swtpm',
      // A fresh persistent handle per run: each run is a new gateway on the same simulated TPM.
      keyConfig: (_dir, run) =>
        `[identity.key]\nbackend = "tpm"\n[identity.key.tpm]\ntcti = "${swtpm.tcti}"\npersistent_handle = ${0x81000200 + run}\n`,
    },
    {
      name: 'tpm_swtpm_attested',
      // The same as tpm_swtpm plus [identity.attestation]: attest-challenge, activation, certify, quote.
      keyConfig: (_dir, run) =>
        `[identity.key]\nbackend = "tpm"\n[identity.key.tpm]\ntcti = "${attestingTpm.tcti}"\npersistent_handle = ${0x81000200 + run}\n` +
        '[identity.attestation]\nmode = "tpm"\n',
      est: attestingEst,
    },
    {
      name: 'atecc608_simulator_timed',
      keyConfig: (dir) =>
        `[identity.key]\nbackend = "atecc608"\n[identity.key.atecc608]\nsimulator_state = "${dir}/atecc608.json"\nsimulator_timing = true\n`,
    },
  ];
  const results: Record<string, unknown> = {
    runs: RUNS,
    est_server: 'hw-sim/est-server on 127.0.0.1 (same machine)',
  };
  try {
    let run = 0;
    for (const backend of backends) {
      process.stderr.write(`  bootstrap: ${backend.name}\n`);
      const ready: number[] = [];
      const operational: number[] = [];
      for (let i = 0; i < RUNS; i++) {
        const sample = await bootstrapOnce(backend, backend.est ?? est, caDir, run++);
        ready.push(sample.readyMs);
        operational.push(sample.operationalMs);
      }
      results[backend.name] = {
        start_to_ready: summary(ready),
        start_to_operational_identity: summary(operational),
      };
    }
  } finally {
    await swtpm.stop();
    await attestingTpm.stop();
    await est.stop();
    await attestingEst.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return results;
}
