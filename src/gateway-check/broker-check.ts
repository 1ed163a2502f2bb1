import type { Verdict } from '../verdicts/index.js';
import type { CheckContext } from './check-context.js';
import { anchorPem, probeError, tlsHandshake } from './tls-probe.js';

const NAME = 'broker reachable (mutual TLS)';

/**
 * With the daemon running: its own MQTT connection, which is mutual TLS under the identity key.
 * Without: a TLS handshake verifying the broker against upstream.trust_anchor_file only; proving the
 * client side needs the identity key in a handshake, which is the daemon's job.
 */
export async function brokerCheck(context: CheckContext): Promise<Verdict> {
  const upstream = context.config.upstream;
  if (!upstream.enabled || upstream.broker_url === '') {
    return {
      name: NAME,
      status: 'n/a',
      detail: 'upstream off',
      reason: 'upstream.enabled is false or upstream.broker_url is empty',
    };
  }
  const fix =
    "check that the broker runs and is reachable from here (network, firewall, DNS), that upstream.trust_anchor_file is its CA, and that it accepts the gateway certificate's issuer";
  if (context.daemon) {
    const live = context.daemon.upstream;
    if (live?.connected) {
      return {
        name: NAME,
        status: 'pass',
        detail: `the daemon is connected to ${live.broker} with mutual TLS${live.connectedSince ? ` since ${live.connectedSince}` : ''}; outbox ${live.outbox.rows} message(s)`,
      };
    }
    const why = live?.lastError ? `: ${live.lastError.code} ${live.lastError.message}` : '';
    return {
      name: NAME,
      status: 'fail',
      detail: `the daemon is NOT connected to ${live?.broker ?? upstream.broker_url}${why}; outbox ${live?.outbox.rows ?? '?'} message(s) waiting`,
      fix: live?.lastError?.hint ?? fix,
    };
  }
  const url = new URL(upstream.broker_url);
  const port = Number(url.port || 8883);
  const anchor = upstream.trust_anchor_file || 'the upstream trust bundle';
  try {
    if (upstream.trust_anchor_file === '') {
      return {
        name: NAME,
        status: 'n/a',
        detail: `${url.host}: not probed`,
        reason:
          'the daemon is not running and the broker is verified against the upstream bundle from EST: start the daemon to prove the connection',
      };
    }
    await tlsHandshake(url.hostname, port, anchorPem(upstream.trust_anchor_file));
    return {
      name: NAME,
      status: 'pass',
      detail: `${url.host}: TLS verified against ${anchor} (daemon not running: the gateway's own certificate was not presented; start the daemon to prove mutual TLS)`,
    };
  } catch (error) {
    return { name: NAME, status: 'fail', detail: `${url.host}: ${probeError(error)}`, fix };
  }
}
