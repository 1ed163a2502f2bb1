import { X509Certificate } from 'node:crypto';
import {
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TelemetryReading } from '../../hw-sim/sensors/index.js';
import { gatewayctl, repositoryRoot } from '../helpers/daemon-harness.js';
import { gatewayRuntime } from '../helpers/gateway-runtime.js';
import { ProxyRig } from '../hil/proxy-rig.js';

/**
 * arm64 smoke test (`npm run test:arm64`): the daemon and gatewayctl run as arm64 code under QEMU
 * user-mode emulation (scripts/setup-arm64.sh), with the simulated ATECC608A; the EST server,
 * mosquitto, the backend subscriber and the DTLS sensor are the HIL rig's, native on this machine.
 */
/** Ceiling on each wait (inside the hook's, so a hang fails with the daemon's log). */
const CEILING_MS = 300_000;
const HOOK_CEILING_MS = 600_000;
const EM_AARCH64 = 183;

let rig: ProxyRig;
let simulatorDir: string;

beforeAll(async () => {
  simulatorDir = mkdtempSync(join(tmpdir(), 'egw-arm64-atecc-'));
  rig = await ProxyRig.start('arm64', {
    keySection:
      '[identity.key]\nbackend = "atecc608"\n[identity.key.atecc608]\n' +
      `simulator_state = "${join(simulatorDir, 'atecc608.json')}"\n`,
    ceilingMs: CEILING_MS,
  });
}, HOOK_CEILING_MS);

afterAll(async () => {
  await rig?.dispose();
  if (simulatorDir) rmSync(simulatorDir, { recursive: true, force: true });
});

describe('arm64 under QEMU: daemon and gatewayctl', () => {
  it('the daemon is arm64 code run by qemu-aarch64', () => {
    const runtime = gatewayRuntime(repositoryRoot);
    expect(runtime.root, 'EDGE_GATEWAYD_TEST_RUNTIME is not set: run npm run test:arm64').not.toBe(
      repositoryRoot,
    );
    const pid = rig.service.child.pid as number;
    // The kernel runs QEMU; the program QEMU runs (its first argument that is a file) is an AArch64 ELF.
    expect(readlinkSync(`/proc/${pid}/exe`)).toMatch(/qemu-aarch64/);
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const guest = argv.find((arg) => arg.endsWith('/bin/node')) as string;
    expect(guest, argv.join(' ')).toBeDefined();
    expect(elfMachine(guest)).toBe(EM_AARCH64);
    expect(argv).toContain(join(runtime.root, 'dist/src/daemon/main.js'));
  });

  it('enrolled over EST with its key in the simulated ATECC608A', async () => {
    const status = await rig.status();
    expect(status.identity.state).toBe('operational');
    expect(status.identity.presenting).toBe('operational');
    expect(status.identity.keyBackend).toBe('atecc608');
    expect(status.identity.keyLocation).toBe('slot 0');
    // Issued by the EST server's CA, not the factory's.
    const estIssuer = new X509Certificate(rig.est.issuingPem).subject
      .split('\n')
      .find((rdn) => rdn.startsWith('CN='));
    expect(status.identity.issuer).toContain(estIssuer);
    expect(status.upstream?.connected).toBe(true);
  });

  it('gatewayctl runs on arm64: --version, and status --json seen running under qemu-aarch64', async () => {
    const version = await gatewayctl('--version');
    expect(version.code, version.stderr).toBe(0);
    const { version: expected } = JSON.parse(readFileSync(join(repositoryRoot, 'package.json'), 'utf8'));
    expect(version.stdout.trim()).toBe(expected);

    // Caught while it runs: the gatewayctl process whose arguments name this rig's socket. Its last
    // executable counts: it starts as the shell of build/arm64/bin/node, which then execs QEMU.
    const socket = rig.fixture.socketPath;
    const seen = new Map<string, string>();
    const running = gatewayctl('status', '--json', '--socket', socket);
    let finished = false;
    void running.finally(() => {
      finished = true;
    });
    while (!finished) {
      for (const [pid, exe] of processesWithArgument(socket)) seen.set(pid, exe);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const status = await running;
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout).identity.state).toBe('operational');
    expect([...seen.values()]).not.toEqual([]);
    for (const exe of seen.values()) expect(exe).toMatch(/qemu-aarch64/);
  });

  it('accepts a DTLS sensor and forwards its message to mosquitto', async () => {
    const arrivals: { reading: TelemetryReading; topic: string }[] = [];
    rig.subscriber.on('telemetry', (reading, _at, packet) => arrivals.push({ reading, topic: packet.topic }));
    const { sensor } = rig.sensor('arm64-sensor-1');
    await sensor.start();
    expect(sensor.state, JSON.stringify(sensor.result().refusal)).toBe('connected');
    sensor.enqueueTelemetry();
    await rig.until('the sensor message acknowledged', () => sensor.acknowledged >= 1, CEILING_MS);
    await rig.until('the message at the backend', () => arrivals.length >= 1, CEILING_MS);
    const [arrival] = arrivals;
    expect(arrival?.topic).toBe('devices/arm64-sensor-1/telemetry');
    expect(arrival?.reading.sensor).toBe('arm64-sensor-1');
    expect(arrival?.reading.seq).toBe(rig.subscriber.stream('arm64-sensor-1')?.seqs[0]);
    const properties = rig.subscriber.stream('arm64-sensor-1')?.userProperties ?? {};
    expect(properties['sensor-id']).toBe('arm64-sensor-1');
    const status = await rig.status();
    expect(`CN=${properties['gateway-id']}`).toBe(status.identity.subject?.split(',')[0]);
  });
});

/** Pid → executable (/proc/<pid>/exe) of this machine's processes with `argument` on their command line. */
function processesWithArgument(argument: string): [string, string][] {
  const found: [string, string][] = [];
  for (const pid of readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').includes(argument))
        found.push([pid, readlinkSync(`/proc/${pid}/exe`)]);
    } catch {
      // Gone meanwhile, or not ours to read.
    }
  }
  return found;
}

/** e_machine of an ELF file (little-endian, at offset 18). */
function elfMachine(path: string): number {
  const header = Buffer.alloc(20);
  const fd = openSync(path, 'r');
  try {
    readSync(fd, header, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  expect(header.subarray(0, 4).toString('latin1')).toBe('\x7fELF');
  return header.readUInt16LE(18);
}
