import { type Config, parseMetricsListen } from '../config/index.js';
import { MetricsServer } from './metrics-server.js';
import type { MetricsSnapshot } from './metrics-snapshot.js';

interface Log {
  info(fields: object, message: string): void;
  warn(fields: object, message: string): void;
}

/** Starts the metrics endpoint when metrics.listen names an address; undefined when it is off (""). */
export async function startMetrics(
  settings: Config['metrics'],
  snapshot: () => Promise<MetricsSnapshot>,
  log: Log,
): Promise<MetricsServer | undefined> {
  const address = parseMetricsListen(settings.listen);
  if (!address) return undefined;
  const server = new MetricsServer(address, snapshot, log);
  await server.listen();
  log.info({ metrics: server.where }, `Prometheus metrics on ${server.where}/metrics`);
  return server;
}
