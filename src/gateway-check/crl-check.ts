import { CrlStore } from '../trust/index.js';
import type { Verdict } from '../verdicts/index.js';
import type { CheckContext } from './check-context.js';

const NAME = 'sensor CRLs fresh';

interface Crl {
  issuer: string;
  nextUpdate: string | null;
  stale: boolean;
}

/** Each stored CRL before its nextUpdate: a stale one means sensors are judged on old revocation news. */
export function crlCheck(context: CheckContext): Verdict {
  let crls: Crl[];
  if (context.daemon) {
    const trust = context.daemon.sensorTrust;
    if (!trust)
      return {
        name: NAME,
        status: 'n/a',
        detail: 'sensor trust not loaded',
        reason: 'the sensor endpoint is off',
      };
    crls = trust.crls;
  } else if (context.store) {
    const at = context.now;
    crls = new CrlStore(context.store).list().map((crl) => ({
      issuer: crl.issuer,
      nextUpdate: crl.nextUpdate?.toISOString() ?? null,
      stale: crl.nextUpdate !== undefined && crl.nextUpdate < at,
    }));
  } else {
    return {
      name: NAME,
      status: 'n/a',
      detail: 'not checked',
      reason: context.stateUnreadable,
    };
  }
  if (crls.length === 0) {
    return {
      name: NAME,
      status: 'pass',
      detail: 'no CRLs stored (gatewayctl trust list shows the sensor CAs)',
    };
  }
  const stale = crls.filter((crl) => crl.stale);
  if (stale.length > 0) {
    return {
      name: NAME,
      status: 'warn',
      detail: `${stale.length} of ${crls.length} STALE: ${stale.map((crl) => `${crl.issuer} (next update was ${crl.nextUpdate})`).join('; ')}`,
      fix: "import the CA's current CRL: gatewayctl trust crl import <file> (or check the CRL distribution point the gateway fetches from)",
    };
  }
  return { name: NAME, status: 'pass', detail: `${crls.length} CRL(s), all before their next update` };
}
