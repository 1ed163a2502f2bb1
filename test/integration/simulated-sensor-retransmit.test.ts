import { createSocket } from 'node:dgram';
import { describe, expect, it } from 'vitest';
import { SensorCa, SimulatedSensor } from '../../hw-sim/sensors/index.js';

/**
 * The simulated sensor caps its handshake retransmissions (DtlsClient maxRetransmitMs) as the storm
 * bench's sensors do: one whose handshake began while the gateway was restarting tries again soon
 * after the gateway is back, instead of 4 or 8 s later on OpenSSL's doubling timer.
 */
describe('simulated sensor handshake retransmissions', () => {
  it('come at most maxRetransmitMs apart', async () => {
    // A gateway that hears and never answers (no ICMP either): it counts the ClientHellos.
    const silent = createSocket('udp4');
    let hellos = 0;
    silent.on('message', () => hellos++);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    const ca = SensorCa.create();
    const sensor = new SimulatedSensor({
      credentials: ca.issue({ commonName: 'retransmitting' }),
      gateway: { host: '127.0.0.1', port: silent.address().port },
      gatewayCa: [ca.certificateDer],
      handshakeTimeoutMs: 3000,
      maxRetransmitMs: 250,
      connectAttempts: 1,
    });
    try {
      await sensor.start();
      expect(sensor.state).toBe('unreachable');
      // Within 3 s OpenSSL's own timer (1, 2 s …) sends 2 or 3 ClientHellos; capped at 250 ms, about a dozen.
      expect(hellos).toBeGreaterThanOrEqual(6);
    } finally {
      await sensor.stop();
      silent.close();
    }
  });
});
