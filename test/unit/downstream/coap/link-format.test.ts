import { describe, expect, it } from 'vitest';
import { type Link, linkFormat, linksMatching } from '../../../../src/downstream/coap/index.js';

const links: Link[] = [
  { href: '/telemetry', resourceTypes: ['gateway.telemetry'], contentFormats: [50, 60] },
  {
    href: '/commands',
    resourceTypes: ['gateway.commands'],
    contentFormats: [0, 42, 50, 60],
    observable: true,
  },
  { href: '/time', resourceTypes: ['gateway.time', 'clock'], contentFormats: [50] },
];

describe('linkFormat (RFC 6690)', () => {
  it('writes link-values separated by commas, attributes by semicolons', () => {
    expect(linkFormat(links)).toBe(
      '</telemetry>;rt="gateway.telemetry";ct="50 60",' +
        '</commands>;rt="gateway.commands";ct="0 42 50 60";obs,' +
        '</time>;rt="gateway.time clock";ct=50',
    );
  });

  it('writes nothing for no links, and only the target for a bare link', () => {
    expect(linkFormat([])).toBe('');
    expect(linkFormat([{ href: '/x' }])).toBe('</x>');
  });

  it('quotes rt, if and title, escaping quotes and backslashes', () => {
    expect(linkFormat([{ href: '/a', interfaces: ['core.s'], title: 'say "hi" \\ bye' }])).toBe(
      '</a>;if="core.s";title="say \\"hi\\" \\\\ bye"',
    );
  });

  it('refuses a target that would break out of <…>', () => {
    expect(() => linkFormat([{ href: '/a>;rt=x' }])).toThrow(RangeError);
  });
});

describe('linksMatching (RFC 6690 §4.1 query filtering)', () => {
  const hrefs = (query: string | undefined) => linksMatching(links, query).map((link) => link.href);

  it('selects every link without a query', () => {
    expect(hrefs(undefined)).toEqual(['/telemetry', '/commands', '/time']);
    expect(hrefs('')).toEqual(['/telemetry', '/commands', '/time']);
  });

  it('matches rt, ct and href exactly or by a trailing "*", any value of a list', () => {
    expect(hrefs('rt=gateway.time')).toEqual(['/time']);
    expect(hrefs('rt=clock')).toEqual(['/time']);
    expect(hrefs('rt=gateway.*')).toEqual(['/telemetry', '/commands', '/time']);
    expect(hrefs('ct=60')).toEqual(['/telemetry', '/commands']);
    expect(hrefs('ct=4*')).toEqual(['/commands']);
    expect(hrefs('href=/t*')).toEqual(['/telemetry', '/time']);
    expect(hrefs('href=/time')).toEqual(['/time']);
  });

  it('selects observable resources with obs, and nothing for attributes it does not use', () => {
    expect(hrefs('obs')).toEqual(['/commands']);
    expect(hrefs('sz=10')).toEqual([]);
    expect(hrefs('rt=nothing')).toEqual([]);
  });
});
