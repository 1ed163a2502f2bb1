export { GatewayMetrics } from './gateway-metrics.js';
export { METRICS_PREFIX } from './gateway-metrics-prefix.js';
export { keyStoreCallDuration, timedKeyStore } from './key-store-timing.js';
export { MetricsError, type MetricsErrorCode } from './metrics-error.js';
export { MetricsServer } from './metrics-server.js';
export type { MetricsSnapshot } from './metrics-snapshot.js';
export { startMetrics } from './start-metrics.js';
