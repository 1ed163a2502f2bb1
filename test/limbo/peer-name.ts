import { isIPv6 } from 'node:net';
import type { SubjectAltName } from '../../src/trust/validation/index.js';
import type { PeerName } from './limbo-suite.js';

/**
 * Whether the leaf's subjectAltName presents `peer` (RFC 6125 §6.4: DNS names equal ignoring ASCII
 * case, or a wildcard that is the whole left-most label standing for exactly one label; IP addresses
 * equal as addresses; email addresses equal, the domain ignoring case). The gateway never matches a
 * sensor against a name it expected, so a case whose leaf does not present its expected peer name
 * is about peer-name matching, which this is only here to recognise.
 */
export function presentsPeerName(names: readonly SubjectAltName[], peer: PeerName): boolean {
  switch (peer.kind) {
    case 'DNS':
      return names.some((name) => name.type === 'dns' && dnsMatches(name.value, peer.value));
    case 'IP':
      return names.some((name) => name.type === 'ip' && name.value === canonicalIp(peer.value));
    case 'RFC822':
      return names.some((name) => name.type === 'email' && emailKey(name.value) === emailKey(peer.value));
  }
}

function dnsMatches(presented: string, reference: string): boolean {
  const pattern = presented.toLowerCase();
  const host = reference.toLowerCase();
  if (pattern === host) return true;
  if (!pattern.startsWith('*.')) return false;
  const dot = host.indexOf('.');
  return dot > 0 && host.slice(dot) === pattern.slice(1);
}

/** RFC 5952 text, as the validator prints a SAN iPAddress ("::1", "2001:db8::1"). */
function canonicalIp(text: string): string {
  return isIPv6(text) ? new URL(`http://[${text}]/`).hostname.slice(1, -1) : text;
}

function emailKey(address: string): string {
  const at = address.lastIndexOf('@');
  return at < 0 ? address : `${address.slice(0, at)}@${address.slice(at + 1).toLowerCase()}`;
}
