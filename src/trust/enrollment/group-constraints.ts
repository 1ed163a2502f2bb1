import { TrustError } from '../trust-error.js';
import { compileCnPattern } from './cn-pattern.js';

/** What a group enrollment additionally requires of its sensors (absent = anything goes). */
export interface GroupConstraints {
  /** Device types (trust.device_type_oid extension) allowed; the sensor must carry one of them. */
  deviceTypes?: string[];
  /** Regular expression the whole subject CN must match. */
  cnPattern?: string;
}

/**
 * Checks constraints as given (by an operator, or read back from JSON) and returns them in stored
 * form: no empty lists or patterns, device types trimmed and unique. EGW_TRUST_INVALID_ARGUMENT
 * names what is wrong.
 */
export function normalizeConstraints(input: unknown): GroupConstraints {
  if (input === undefined || input === null) return {};
  if (typeof input !== 'object' || Array.isArray(input)) invalid('constraints must be an object');
  const { deviceTypes, cnPattern, ...unknown } = input as Record<string, unknown>;
  const extra = Object.keys(unknown);
  if (extra.length > 0) invalid(`unknown constraint ${extra.map((key) => JSON.stringify(key)).join(', ')}`);
  const constraints: GroupConstraints = {};
  if (deviceTypes !== undefined) {
    if (!Array.isArray(deviceTypes)) invalid('deviceTypes must be a list of device type names');
    const types = deviceTypes.map((type) => {
      if (typeof type !== 'string' || type.trim() === '') {
        invalid(`device type ${JSON.stringify(type)} is not a non-empty string`);
      }
      return type.trim();
    });
    if (types.length > 0) constraints.deviceTypes = [...new Set(types)];
  }
  if (cnPattern !== undefined) {
    if (typeof cnPattern !== 'string') invalid('cnPattern must be a regular expression (a string)');
    if (cnPattern !== '') {
      compileCnPattern(cnPattern);
      constraints.cnPattern = cnPattern;
    }
  }
  return constraints;
}

function invalid(message: string): never {
  throw new TrustError('EGW_TRUST_INVALID_ARGUMENT', `group enrollment constraints: ${message}`, {
    hint: 'device types are non-empty names; the CN pattern is a JavaScript regular expression',
  });
}
