import { Histogram } from 'prom-client';
import type { KeyStore } from '../keys/index.js';
import { METRICS_PREFIX } from './gateway-metrics-prefix.js';

/** The calls timed: each goes to the secure element (or the software key) and waits for it. */
const TIMED = new Set(['publicKey', 'signDigest', 'signDigestSync', 'certificates', 'healthCheck', 'attest']);

/**
 * edge_gatewayd_key_store_call_duration_seconds: one process-wide histogram (the key store is opened
 * before the metrics endpoint starts); GatewayMetrics registers it. Buckets from 0.5 ms (software,
 * TPM) to 5 s (identity.key.call_timeout_ms's default): an ATECC608A ECDSA sign is ~50-100 ms.
 */
export const keyStoreCallDuration = new Histogram({
  name: `${METRICS_PREFIX}key_store_call_duration_seconds`,
  help: 'Identity key store calls by backend, operation and result: time from the call to its answer. TLS signatures a hardware backend makes through its signing channel (handshake thread) are not included.',
  labelNames: ['backend', 'operation', 'result'],
  buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  registers: [],
});

/**
 * The key store with its calls timed into keyStoreCallDuration. A Proxy: every other property (the
 * signing channel, info) is the store's own, so code that tests for them sees the same store.
 */
export function timedKeyStore(store: KeyStore): KeyStore {
  return new Proxy(store, {
    get(target, property) {
      // The store itself as receiver: its getters read private fields (#info), which the Proxy lacks.
      const value = Reflect.get(target, property, target);
      if (typeof value !== 'function' || typeof property !== 'string' || !TIMED.has(property)) {
        return typeof value === 'function' ? value.bind(target) : value;
      }
      return (...args: unknown[]) => {
        const labels = { backend: target.info.backend, operation: property };
        const start = process.hrtime.bigint();
        const done = (result: 'ok' | 'error') =>
          keyStoreCallDuration.observe({ ...labels, result }, Number(process.hrtime.bigint() - start) / 1e9);
        let answer: unknown;
        try {
          answer = value.apply(target, args);
        } catch (error) {
          done('error');
          throw error;
        }
        if (answer instanceof Promise) {
          return answer.then(
            (resolved) => {
              done('ok');
              return resolved;
            },
            (error: unknown) => {
              done('error');
              throw error;
            },
          );
        }
        done('ok');
        return answer;
      };
    },
  });
}
