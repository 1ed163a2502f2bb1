import { spawnSync } from 'node:child_process';
import { AnchorIndex, PathValidator } from '../../src/trust/validation/index.js';
import { type TestCertificate, TestPki } from '../helpers/test-pki.js';

const SENSORS = 1000;
const CACHED_ROUNDS = 100_000;
const COLD_ROUNDS = 200;

/**
 * Sensor chain validations per second (sensor ← intermediate ← root, P-256), three ways, beside
 * `openssl verify` on the same certificate files in the same run:
 * - cached: the same chain again (a sensor reconnecting): no parsing, no signature;
 * - new sensor: a sensor never seen, under a known intermediate (one parse, one signature);
 * - cold: a fresh validator each time (two parses, two signatures).
 * openssl verify checks the same 1,000 sensor certificates in one process (its start-up, measured
 * with one certificate, is subtracted).
 */
export async function chainValidationFigures(): Promise<Record<string, unknown>> {
  const pki = await TestPki.create();
  try {
    const root = await pki.root();
    const intermediate = await pki.intermediate(root);
    const sensors: TestCertificate[] = [];
    for (let i = 0; i < SENSORS; i++) {
      sensors.push(await pki.sensor(intermediate, { name: `bench-sensor-${i}`, commonName: `sensor-${i}` }));
    }
    const anchors = new AnchorIndex([root.der], [intermediate.der]);
    const options = {
      policy: { allowedCurves: ['P-256', 'P-384'] as const, allowEd25519: false, minRsaBits: 2048 },
      maxChainDepth: 4,
      deviceTypeOid: '1.3.6.1.4.1.12345.1.1',
    };
    const at = new Date();
    const chainOf = (index: number) => [(sensors[index] as TestCertificate).der, intermediate.der];
    const check = (validator: PathValidator, chain: Uint8Array[]) => {
      const verdict = validator.validate(chain, anchors, at);
      if (!verdict.ok)
        throw new Error(`bench chain refused: ${verdict.refusal.reason} ${verdict.refusal.detail}`);
    };

    const shared = new PathValidator(options);
    let started = performance.now();
    for (let i = 0; i < SENSORS; i++) check(shared, chainOf(i));
    const newSensorMs = performance.now() - started;

    const hot = chainOf(0);
    started = performance.now();
    for (let i = 0; i < CACHED_ROUNDS; i++) check(shared, hot);
    const cachedMs = performance.now() - started;

    started = performance.now();
    for (let i = 0; i < COLD_ROUNDS; i++) check(new PathValidator(options), chainOf(i));
    const coldMs = performance.now() - started;

    const roots = pki.writePem('bench-roots', [root.der]);
    const untrusted = pki.writePem('bench-untrusted', [intermediate.der]);
    const opensslRun = (files: string[]) => {
      const t0 = performance.now();
      const result = spawnSync(
        'openssl',
        [
          'verify',
          '-x509_strict',
          '-purpose',
          'sslclient',
          '-CAfile',
          roots,
          '-untrusted',
          untrusted,
          ...files,
        ],
        { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
      );
      if (result.status !== 0) throw new Error(`openssl verify failed: ${result.stderr}`);
      return performance.now() - t0;
    };
    const startupMs = opensslRun([sensors[0]?.path as string]);
    const opensslMs = opensslRun(sensors.map((sensor) => sensor.path)) - startupMs;

    const perSecond = (count: number, ms: number) => Math.round((count / ms) * 1000);
    const microseconds = (count: number, ms: number) => Math.round(((ms * 1000) / count) * 100) / 100;
    return {
      chain: 'sensor <- intermediate <- root, ECDSA P-256 / SHA-256',
      ours: {
        cached_same_chain: {
          validations: CACHED_ROUNDS,
          per_s: perSecond(CACHED_ROUNDS, cachedMs),
          us_each: microseconds(CACHED_ROUNDS, cachedMs),
        },
        new_sensor_known_intermediate: {
          validations: SENSORS,
          per_s: perSecond(SENSORS, newSensorMs),
          us_each: microseconds(SENSORS, newSensorMs),
        },
        cold_fresh_validator: {
          validations: COLD_ROUNDS,
          per_s: perSecond(COLD_ROUNDS, coldMs),
          us_each: microseconds(COLD_ROUNDS, coldMs),
        },
        stats: shared.stats(),
      },
      openssl_verify_reference: {
        certificates: SENSORS,
        per_s: perSecond(SENSORS, opensslMs),
        us_each: microseconds(SENSORS, opensslMs),
        process_startup_ms: Math.round(startupMs),
      },
    };
  } finally {
    pki.remove();
  }
}
