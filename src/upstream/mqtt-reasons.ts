/** MQTT 5 reason codes as the upstream client judges and names them. */

/** PUBACK reasons that will not change by sending again: the message is dropped and counted. */
export const PERMANENT_PUBLISH_FAILURES = new Set([0x87, 0x90, 0x95, 0x99]);
/** CONNACK reasons that say the broker does not accept this gateway (as opposed to being busy). */
export const IDENTITY_REFUSALS = new Set([0x85, 0x86, 0x87, 0x8a, 0x8c]);
/** Socket errors that mean the broker cannot be reached (as opposed to a protocol failure). */
export const NETWORK_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ETIMEDOUT',
  'EPIPE',
]);

const REASONS: Record<number, string> = {
  128: 'unspecified error',
  129: 'malformed packet',
  130: 'protocol error',
  131: 'implementation specific error',
  132: 'unsupported protocol version',
  133: 'client identifier not valid',
  134: 'bad user name or password',
  135: 'not authorized',
  136: 'server unavailable',
  137: 'server busy',
  138: 'banned',
  139: 'server shutting down',
  140: 'bad authentication method',
  141: 'keep alive timeout',
  142: 'session taken over',
  144: 'topic name invalid',
  147: 'receive maximum exceeded',
  149: 'packet too large',
  150: 'message rate too high',
  151: 'quota exceeded',
  152: 'administrative action',
  153: 'payload format invalid',
  156: 'use another server',
  157: 'server moved',
  159: 'connection rate exceeded',
  160: 'maximum connect time',
};

export function reasonText(code: number): string {
  return REASONS[code] ?? (code === 0 ? 'normal disconnection' : `reason 0x${code.toString(16)}`);
}
