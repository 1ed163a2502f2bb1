import type { Config } from '../../config/index.js';

/**
 * The config a sensor worker runs with: downstream.dtls with the limits that bound one shared thing
 * divided between the workers. The identity key is one device, so its signature budget is shared
 * (each worker gets its share of the measured or configured rate); a dedicated key signs on each
 * worker's own core, so each keeps the configured rate. Sessions and half-open handshakes bound the
 * gateway's memory: each worker gets its share of the totals. Per-address limits stay per worker: the
 * kernel spreads one address's ports over the workers, so a host may hold up to N times them.
 */
export function workerSettings(
  config: Config,
  count: number,
  signerPerSecond: number,
  identityKey: boolean,
): Config {
  const dtls = config.downstream.dtls;
  const share = (total: number) => Math.max(1, Math.ceil(total / count));
  const shareAuto = (value: number | 'auto') => (value === 'auto' ? value : value / count);
  return {
    ...config,
    downstream: {
      ...config.downstream,
      dtls: {
        ...dtls,
        workers: 1,
        signatures_per_second: identityKey ? signerPerSecond / count : dtls.signatures_per_second,
        handshakes_per_second: identityKey
          ? shareAuto(dtls.handshakes_per_second)
          : dtls.handshakes_per_second,
        max_sessions: share(dtls.max_sessions),
        half_open_handshakes: share(dtls.half_open_handshakes),
        half_open_resumptions: share(dtls.half_open_resumptions),
      },
    },
  };
}
