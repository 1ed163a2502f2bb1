import { isIPv4 } from 'node:net';

/**
 * The key the handshake budgets count a source under: an IPv4 address as is, an IPv6 address by its
 * first `ipv6PrefixLength` bits (default /64).
 *
 * Why: one IPv6 host usually owns a whole /64 (SLAAC, privacy addresses), so per-/128 budgets would
 * give it 2^64 of them. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, a dual-stack socket) count as the
 * IPv4 address they carry.
 */
export function addressPrefix(address: string, ipv6PrefixLength: number): string {
  if (!address.includes(':')) return address;
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped && isIPv4(mapped[1] as string)) return mapped[1] as string;
  const groups = expandIpv6(address);
  if (!groups) return address;
  let bits = ipv6PrefixLength;
  const kept: string[] = [];
  for (const group of groups) {
    if (bits <= 0) break;
    const value = bits >= 16 ? group : group & (0xffff << (16 - bits)) & 0xffff;
    kept.push(value.toString(16));
    bits -= 16;
  }
  return `${kept.join(':')}::/${ipv6PrefixLength}`;
}

/** The eight 16-bit groups of an IPv6 text address (zone id dropped), or undefined. */
function expandIpv6(address: string): number[] | undefined {
  let text = address.split('%')[0] as string;
  // A trailing dotted quad (::ffff:1.2.3.4 other than the mapped form, ::1.2.3.4) becomes two groups.
  const quad = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (quad) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const parse = (part: string) =>
    part === '' ? [] : part.split(':').map((group) => Number.parseInt(group, 16));
  const head = parse(halves[0] as string);
  const tail = halves.length === 2 ? parse(halves[1] as string) : [];
  const missing = 8 - head.length - tail.length;
  if (missing < 0 || (halves.length === 1 && missing !== 0)) return undefined;
  const groups = [...head, ...Array<number>(missing).fill(0), ...tail];
  return groups.every((group) => Number.isInteger(group) && group >= 0 && group <= 0xffff)
    ? groups
    : undefined;
}
