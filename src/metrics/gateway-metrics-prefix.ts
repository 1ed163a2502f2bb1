/** Every metric name starts with this (Prometheus naming: the application as the namespace). */
export const METRICS_PREFIX = 'edge_gatewayd_';
