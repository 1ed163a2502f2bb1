import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { SwtpmProcess } from '../../hw-sim/tpm/index.js';
import { gatewayFixture, provisionFactory, startDaemon } from '../helpers/daemon-harness.js';
import { sensorGatewayWorkspace } from '../helpers/sensor-gateway-workspace.js';

/**
 * `systemctl stop` (SIGTERM) while the daemon is still starting: the stop wins. The start is slow for
 * a real reason the test controls: the identity key's TPM (swtpm) is frozen (SIGSTOP) while the daemon
 * opens it, so that step waits; SIGTERM arrives then, and only after the daemon said it is stopping
 * does the TPM answer (SIGCONT). The start must not carry on past that step (no control socket or
 * metrics listener opened after the stop, no READY=1 after STOPPING=1), what had started (the state
 * database, the key's device worker) is closed, and the process exits 0 as after any stop.
 */

let work: string;
let factoryDir: string;
const services: ServiceSupervisor[] = [];
const swtpms: SwtpmProcess[] = [];

beforeAll(() => {
  const workspace = sensorGatewayWorkspace('egw-stop-during-start-');
  work = workspace.work;
  factoryDir = workspace.factoryDir;
});

afterEach(async () => {
  for (const service of services.splice(0)) await service.dispose();
  for (const swtpm of swtpms.splice(0)) {
    if (swtpm.pid !== undefined) process.kill(swtpm.pid, 'SIGCONT');
    await swtpm.stop();
  }
});

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

/** Resolves once the daemon logged `message` (its JSON log on stdout). */
async function logged(service: ServiceSupervisor, message: string): Promise<void> {
  while (!service.logRecords().some((record) => record.msg === message)) {
    if (service.child.exitCode !== null || service.child.signalCode !== null) {
      throw new Error(`the daemon exited before logging "${message}"\n${service.stderr}${service.stdout}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe('SIGTERM while the daemon is starting', () => {
  it('during a slow step (the TPM holding the identity key does not answer yet): the start gives up, what had started is stopped, exit 0', async () => {
    const swtpm = await SwtpmProcess.start();
    swtpms.push(swtpm);
    const fixture = gatewayFixture(
      `[metrics]\nlisten = "unix:${join(work, 'metrics.sock')}"\n`,
      `[identity.key]\nbackend = "tpm"\n[identity.key.tpm]\ntcti = "${swtpm.tcti}"\npersistent_handle = 0x81000300\n`,
    );
    await provisionFactory(fixture.configPath, factoryDir, '--yes');

    // The TPM stops answering: its socket still accepts (the kernel's backlog), no command completes.
    process.kill(swtpm.pid as number, 'SIGSTOP');
    const service = startDaemon(fixture.configPath);
    services.push(service);
    await service.notify.waitFor((m) => m.includes('STATUS=opening identity key (tpm)'));
    service.child.kill('SIGTERM');
    await logged(service, 'edge-gatewayd stopping');
    // Now the slow step ends, after the stop was asked for.
    process.kill(swtpm.pid as number, 'SIGCONT');

    expect(await service.exited).toEqual({ code: 0, signal: null });
    const records = service.logRecords();
    const messages = records.map((record) => String(record.msg));
    expect(records.filter((record) => Number(record.level) >= 50)).toEqual([]);
    expect(records.find((record) => record.code === 'EGW_START_INTERRUPTED')).toMatchObject({ level: 30 });
    // Nothing that serves was opened after the stop, and the stop ran to its end.
    expect(messages).not.toContain('control socket listening');
    expect(messages).not.toContain('edge-gatewayd ready');
    expect(messages.at(-1)).toBe('edge-gatewayd stopped');
    const notified = service.notify.messages.flat();
    const stopping = notified.indexOf('STOPPING=1');
    expect(stopping).toBeGreaterThanOrEqual(0);
    expect(notified.slice(stopping)).not.toContain('READY=1');
    // The state database was closed (SQLite removes the WAL file when its last connection closes).
    expect(existsSync(`${fixture.dbPath}-wal`)).toBe(false);
  });
});
