import { IdentityRecords } from '../identity/index.js';
import type { Verdict } from '../verdicts/index.js';
import type { CheckContext } from './check-context.js';

const NAME = 'operational certificate';
const DAY_MS = 86_400_000;

/** The certificate the gateway presents upstream: valid now, and the days it has left. */
export function certificateCheck(context: CheckContext): Verdict {
  if (context.config.identity.est.url === '') {
    return {
      name: NAME,
      status: 'n/a',
      detail: 'no operational certificate',
      reason:
        'identity.est.url is empty: the gateway presents its factory certificate (gatewayctl provision verify checks it)',
    };
  }
  const found = context.daemon ? fromDaemon(context) : fromDatabase(context);
  if ('missing' in found) {
    return {
      name: NAME,
      status: 'fail',
      detail: found.missing,
      fix: 'the gateway has not enrolled: see gatewayctl identity status for the last error, then gatewayctl identity enroll',
    };
  }
  const daysLeft = (found.notAfter.getTime() - context.now.getTime()) / DAY_MS;
  const what = `${found.subject}, issued by ${found.issuer}, expires ${found.notAfter.toISOString()}`;
  if (daysLeft <= 0) {
    return {
      name: NAME,
      status: 'fail',
      detail: `EXPIRED: ${what}`,
      fix: 'renew it: gatewayctl identity renew --now (an expired certificate cannot re-enrol: then gatewayctl identity enroll with the factory identity)',
    };
  }
  const days = `${Math.floor(daysLeft)} day(s) left`;
  if (daysLeft < context.expiryWarnDays) {
    return {
      name: NAME,
      status: 'warn',
      detail: `${days} (under ${context.expiryWarnDays}): ${what}${found.renewAt ? `; renewal due ${found.renewAt}` : ''}`,
      fix: 'renewal should have happened: see gatewayctl identity status (last error, next attempt) and the EST check below, or renew now: gatewayctl identity renew --now',
    };
  }
  return { name: NAME, status: 'pass', detail: `${days}: ${what}` };
}

interface Found {
  subject: string;
  issuer: string;
  notAfter: Date;
  renewAt?: string | undefined;
}

function fromDaemon(context: CheckContext): Found | { missing: string } {
  const identity = context.daemon?.identity;
  if (identity?.presenting !== 'operational' || !identity.notAfter) {
    return {
      missing: `none yet (identity state ${identity?.state ?? 'unknown'}${identity?.lastError ? `, last error: ${identity.lastError}` : ''})`,
    };
  }
  return {
    subject: identity.subject ?? '?',
    issuer: identity.issuer ?? '?',
    notAfter: new Date(identity.notAfter),
    renewAt: identity.renewAt ?? undefined,
  };
}

function fromDatabase(context: CheckContext): Found | { missing: string } {
  if (!context.store) return { missing: `unknown: ${context.stateUnreadable}` };
  const active = new IdentityRecords(context.store).active();
  if (!active) return { missing: 'none in the state database' };
  return { subject: active.subject, issuer: active.issuer, notAfter: active.notAfter };
}
