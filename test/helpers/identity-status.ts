import { expect } from 'vitest';
import type { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import type { IdentityStatus } from '../../src/identity/index.js';
import { type GatewayFixture, gatewayctl, startDaemon } from './daemon-harness.js';

/** `gatewayctl identity status --json` against the fixture's daemon, as an operator runs it. */
export async function identityStatus(fixture: GatewayFixture): Promise<IdentityStatus> {
  const result = await gatewayctl('identity', 'status', '--json', '--socket', fixture.socketPath);
  expect(result.code, result.stderr).toBe(0);
  return JSON.parse(result.stdout) as IdentityStatus;
}

/** Polls the identity status until `accept` holds, and returns that status. */
export async function waitForIdentity(
  fixture: GatewayFixture,
  accept: (status: IdentityStatus) => boolean,
): Promise<IdentityStatus> {
  // A ceiling against hangs (not a timing assertion): fail with what the gateway says instead.
  const giveUpAt = Date.now() + 45_000;
  for (;;) {
    const status = await identityStatus(fixture);
    if (accept(status)) return status;
    if (Date.now() > giveUpAt)
      throw new Error(`identity never got there; last status: ${JSON.stringify(status)}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Starts the built daemon on the fixture, adds it to `services` (the test file stops them), waits for READY=1. */
export async function readyDaemon(
  fixture: GatewayFixture,
  services: ServiceSupervisor[],
): Promise<ServiceSupervisor> {
  const service = startDaemon(fixture.configPath);
  services.push(service);
  await service.waitReady();
  return service;
}
