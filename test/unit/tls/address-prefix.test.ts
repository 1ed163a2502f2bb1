import { describe, expect, it } from 'vitest';
import { addressPrefix } from '../../../src/tls/dtls/address-prefix.js';
import { HalfOpenHandshakes } from '../../../src/tls/dtls/half-open-handshakes.js';

describe('addressPrefix', () => {
  it('keeps IPv4 addresses and aggregates IPv6 per prefix', () => {
    expect(addressPrefix('192.0.2.7', 64)).toBe('192.0.2.7');
    expect(addressPrefix('2001:db8:1:2:aaaa::1', 64)).toBe('2001:db8:1:2::/64');
    expect(addressPrefix('2001:db8:1:2:bbbb:cccc:dddd:eeee', 64)).toBe('2001:db8:1:2::/64');
    expect(addressPrefix('2001:db8:1:3::1', 64)).not.toBe(addressPrefix('2001:db8:1:2::1', 64));
    expect(addressPrefix('2001:db8:1:2ff::1', 56)).toBe(addressPrefix('2001:db8:1:200::1', 56));
    expect(addressPrefix('fe80::1%eth0', 64)).toBe('fe80:0:0:0::/64');
    expect(addressPrefix('::1', 128)).toBe('0:0:0:0:0:0:0:1::/128');
  });

  it('counts an IPv4-mapped address (dual-stack socket) as its IPv4 address', () => {
    expect(addressPrefix('::ffff:192.0.2.7', 64)).toBe('192.0.2.7');
  });
});

describe('HalfOpenHandshakes', () => {
  it('caps per source and in all', () => {
    const caps = new HalfOpenHandshakes(2, 3);
    caps.add('a');
    caps.add('a');
    expect(caps.refusal('a')).toBe('perAddress');
    expect(caps.refusal('b')).toBeUndefined();
    caps.add('b');
    expect(caps.refusal('c')).toBe('global');
    caps.remove('a');
    expect(caps.refusal('a')).toBeUndefined();
    caps.remove('zzz'); // never added: no effect
    expect(caps.total).toBe(2);
  });
});
