export { GatewayMetrics, METRICS_PREFIX } from './gateway-metrics.js';
export { MetricsError, type MetricsErrorCode } from './metrics-error.js';
export { MetricsServer } from './metrics-server.js';
export type { MetricsSnapshot } from './metrics-snapshot.js';
export { startMetrics } from './start-metrics.js';
