import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../../src/config/index.js';
import { AuthorizationPolicy } from '../../../../src/trust/authorization/index.js';
import { sensorIdentity } from '../../../helpers/sensor-identity-fixture.js';

/** The policy a gateway.toml with these [trust] lines yields. */
function policyFrom(toml: string): AuthorizationPolicy {
  return new AuthorizationPolicy(parseConfigText(`[trust]\n${toml}`, 'test.toml').trust.authorization);
}

const individually = { kind: 'individual' as const, sha256: 'a'.repeat(64), label: '' };
const byGroup = { kind: 'group' as const, sha256: 'c'.repeat(64), label: '' };

describe('AuthorizationPolicy', () => {
  it('with the default rule, lets any enrolled sensor GET/POST the four standard resources only', () => {
    const policy = new AuthorizationPolicy(parseConfigText('', 'empty.toml').trust.authorization);
    const sensor = sensorIdentity({ enrollment: byGroup });
    expect(policy.authorize(sensor, 'POST', '/telemetry')).toEqual({ allowed: true, rule: 'sensors' });
    expect(policy.authorize(sensor, 'GET', '/.well-known/core')).toEqual({ allowed: true, rule: 'sensors' });
    expect(policy.authorize(sensor, 'DELETE', '/telemetry')).toEqual({
      allowed: false,
      reason: 'no rule allows DELETE /telemetry for CN=sensor-1 (device type thermo)',
    });
    expect(policy.authorize(sensor, 'POST', '/admin')).toEqual({
      allowed: false,
      reason: 'no rule allows POST /admin for CN=sensor-1 (device type thermo)',
    });
  });

  it('takes the first rule matching both the sensor and the request', () => {
    const policy = policyFrom(`authorization = [
      { name = "thermo-config", device_types = ["thermo"], resources = ["/config/*"], methods = ["PUT", "iPATCH"] },
      { name = "line-2", cn_pattern = "line2-[0-9]+", resources = ["/telemetry", "/line2/*"], methods = ["POST"] },
      { name = "individuals", enrollment = "individual", resources = ["/commands"], methods = ["GET"] },
      { name = "everyone", resources = ["/time"], methods = ["GET"] },
    ]`);
    const thermo = sensorIdentity({ deviceType: 'thermo', commonName: 'line2-7', enrollment: byGroup });
    expect(policy.authorize(thermo, 'iPATCH', '/config/interval')).toEqual({
      allowed: true,
      rule: 'thermo-config',
    });
    expect(policy.authorize(thermo, 'POST', '/line2/a/b')).toEqual({ allowed: true, rule: 'line-2' });
    expect(policy.authorize(thermo, 'GET', '/time')).toEqual({ allowed: true, rule: 'everyone' });
    // Method names are CoAP's, compared exactly.
    expect(policy.authorize(thermo, 'ipatch', '/config/interval').allowed).toBe(false);
    // A prefix rule covers what is below it, not the prefix itself.
    expect(policy.authorize(thermo, 'PUT', '/config').allowed).toBe(false);
    expect(policy.authorize(thermo, 'PUT', '/configuration').allowed).toBe(false);
    expect(policy.authorize(thermo, 'PUT', '/config/').allowed).toBe(false);

    const hygro = sensorIdentity({ deviceType: 'hygro', commonName: 'line2-7x', enrollment: byGroup });
    expect(policy.authorize(hygro, 'PUT', '/config/interval')).toEqual({
      allowed: false,
      reason: 'no rule allows PUT /config/interval for CN=line2-7x (device type hygro)',
    });
    // The CN pattern matches the whole CN.
    expect(policy.authorize(hygro, 'POST', '/telemetry').allowed).toBe(false);

    expect(policy.authorize(hygro, 'GET', '/commands').allowed).toBe(false);
    expect(policy.authorize({ ...hygro, enrollment: individually }, 'GET', '/commands')).toEqual({
      allowed: true,
      rule: 'individuals',
    });
  });

  it('needs the attribute a filtering rule looks at', () => {
    const policy = policyFrom(
      'authorization = [{ name = "typed", device_types = ["thermo"], cn_pattern = ".*", resources = ["/t"], methods = ["GET"] }]',
    );
    expect(policy.authorize(sensorIdentity({ deviceType: undefined }), 'GET', '/t')).toEqual({
      allowed: false,
      reason: 'no rule allows GET /t for CN=sensor-1 (no device type)',
    });
    expect(policy.authorize(sensorIdentity({ commonName: undefined }), 'GET', '/t')).toEqual({
      allowed: false,
      reason: `no rule allows GET /t for sensor ${'a'.repeat(64)} (device type thermo)`,
    });
  });

  it('refuses dot segments instead of letting them climb out of a prefix rule', () => {
    const policy = policyFrom(
      'authorization = [{ name = "data", resources = ["/data/*"], methods = ["GET"] }]',
    );
    const sensor = sensorIdentity();
    expect(policy.authorize(sensor, 'GET', '/data/x').allowed).toBe(true);
    for (const path of ['/data/../admin', '/data/./x', 'data/x']) {
      expect(policy.authorize(sensor, 'GET', path)).toEqual({
        allowed: false,
        reason: `GET ${path}: the path must be absolute, without "." or ".." segments`,
      });
    }
  });
});
