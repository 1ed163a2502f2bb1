import { compileCnPattern } from '../enrollment/cn-pattern.js';
import type { SensorIdentity } from '../sensor-identity.js';
import { hasDotSegment, resourceMatcher } from './resource-pattern.js';

/** One rule as written under [trust] authorization in the config file. */
export interface AuthorizationRuleSettings {
  name: string;
  /** Device types the rule applies to; empty: any. */
  device_types: readonly string[];
  /** Regular expression the whole CN must match; "": any. */
  cn_pattern: string;
  enrollment: 'any' | 'individual' | 'group';
  /** Exact paths, or prefixes written "/sensors/*". */
  resources: readonly string[];
  /** CoAP method names: GET, POST, PUT, DELETE, FETCH, PATCH, iPATCH. */
  methods: readonly string[];
}

export type AuthorizationDecision = { allowed: true; rule: string } | { allowed: false; reason: string };

interface CompiledRule {
  name: string;
  deviceTypes: ReadonlySet<string>;
  commonName: RegExp | undefined;
  enrollment: AuthorizationRuleSettings['enrollment'];
  resources: ((path: string) => boolean)[];
  methods: ReadonlySet<string>;
}

/**
 * Who may do what over CoAP, from the trust.authorization rules: the first rule that matches both
 * the sensor (device type, CN, enrollment kind) and the request (method, resource) allows it;
 * nothing matching is a refusal whose reason becomes the 4.03 diagnostic payload.
 */
export class AuthorizationPolicy {
  readonly #rules: CompiledRule[];

  constructor(rules: readonly AuthorizationRuleSettings[]) {
    this.#rules = rules.map((rule) => ({
      name: rule.name,
      deviceTypes: new Set(rule.device_types),
      commonName: rule.cn_pattern
        ? compileCnPattern(rule.cn_pattern, `rule ${rule.name}: cn_pattern`)
        : undefined,
      enrollment: rule.enrollment,
      resources: rule.resources.map(resourceMatcher),
      methods: new Set(rule.methods),
    }));
  }

  authorize(identity: SensorIdentity, method: string, path: string): AuthorizationDecision {
    if (!path.startsWith('/') || hasDotSegment(path)) {
      return {
        allowed: false,
        reason: `${method} ${path}: the path must be absolute, without "." or ".." segments`,
      };
    }
    const rule = this.#rules.find(
      (candidate) =>
        appliesTo(candidate, identity) &&
        candidate.methods.has(method) &&
        candidate.resources.some((matches) => matches(path)),
    );
    if (rule) return { allowed: true, rule: rule.name };
    // Which rule came closest stays in the gateway's policy: the sensor only learns it was refused.
    return { allowed: false, reason: `no rule allows ${method} ${path} for ${describe(identity)}` };
  }
}

function appliesTo(rule: CompiledRule, identity: SensorIdentity): boolean {
  if (
    rule.deviceTypes.size > 0 &&
    (identity.deviceType === undefined || !rule.deviceTypes.has(identity.deviceType))
  )
    return false;
  if (rule.commonName && (identity.commonName === undefined || !rule.commonName.test(identity.commonName)))
    return false;
  return rule.enrollment === 'any' || identity.enrollment?.kind === rule.enrollment;
}

/** "CN=sensor-1 (device type thermo)": enough for the sensor's owner to find the rule to change. */
function describe(identity: SensorIdentity): string {
  const who = identity.commonName !== undefined ? `CN=${identity.commonName}` : `sensor ${identity.sha256}`;
  return `${who} (${identity.deviceType !== undefined ? `device type ${identity.deviceType}` : 'no device type'})`;
}
