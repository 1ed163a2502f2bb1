import type { Config } from '../config/index.js';
import type { Verdict } from '../verdicts/index.js';
import { anchorPem, httpsStatus, probeError } from './tls-probe.js';

const NAME = 'EST server reachable';

/**
 * GET /cacerts over HTTPS verified against identity.est.trust_anchor_file: the server answers and is
 * the one the anchor names. Needs no client certificate, so it runs beside the daemon without
 * touching the identity key.
 */
export async function estCheck(config: Config): Promise<Verdict> {
  const est = config.identity.est;
  if (est.url === '') {
    return {
      name: NAME,
      status: 'n/a',
      detail: 'no EST server configured',
      reason: 'identity.est.url is empty: the gateway keeps its factory identity',
    };
  }
  const label = est.label ? `${encodeURIComponent(est.label)}/` : '';
  const url = new URL(`/.well-known/est/${label}cacerts`, est.url);
  const anchor = est.trust_anchor_file || 'the system CAs';
  try {
    const status = await httpsStatus(url, anchorPem(est.trust_anchor_file));
    if (status === 200) {
      return {
        name: NAME,
        status: 'pass',
        detail: `${url.origin} answered /cacerts, TLS verified against ${anchor}`,
      };
    }
    return {
      name: NAME,
      status: 'fail',
      detail: `${url.href} answered HTTP ${status}`,
      fix: 'check identity.est.url and identity.est.label against the EST server',
    };
  } catch (error) {
    return {
      name: NAME,
      status: 'fail',
      detail: `${url.origin}: ${probeError(error)}`,
      fix: `check that the EST server runs and is reachable from here (network, firewall, DNS), and that identity.est.trust_anchor_file (${anchor}) is its CA`,
    };
  }
}
