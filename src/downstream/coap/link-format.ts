/** One resource as /.well-known/core describes it (RFC 6690 target attributes, RFC 7252 §7.2, RFC 7641 §6). */
export interface Link {
  /** The resource path, e.g. "/telemetry". */
  href: string;
  /** Resource types ("rt"): what the resource is, for a sensor looking for it. */
  resourceTypes?: readonly string[];
  /** Interface descriptions ("if"). */
  interfaces?: readonly string[];
  /** Content-Formats it serves or takes ("ct"). */
  contentFormats?: readonly number[];
  /** Observable ("obs", RFC 7641). */
  observable?: boolean;
  title?: string;
}

/**
 * The links in CoRE Link Format (RFC 6690 §2, application/link-format, Content-Format 40):
 * `</telemetry>;rt="gateway.telemetry";ct="50 60",</commands>;rt="gateway.commands";obs`.
 * A single ct is written as a number, several as a quoted list (RFC 7252 §7.2.1).
 */
export function linkFormat(links: readonly Link[]): string {
  return links.map(linkValue).join(',');
}

function linkValue(link: Link): string {
  if (/[<>]/.test(link.href)) throw new RangeError(`not a URI reference for a link: ${link.href}`);
  const params = [`<${link.href}>`];
  if (link.resourceTypes?.length) params.push(`rt=${quoted(link.resourceTypes.join(' '))}`);
  if (link.interfaces?.length) params.push(`if=${quoted(link.interfaces.join(' '))}`);
  const formats = link.contentFormats ?? [];
  if (formats.length === 1) params.push(`ct=${formats[0]}`);
  else if (formats.length > 1) params.push(`ct="${formats.join(' ')}"`);
  if (link.observable) params.push('obs');
  if (link.title !== undefined) params.push(`title=${quoted(link.title)}`);
  return params.join(';');
}

/** RFC 6690 quoted-string: `"` and `\` escaped. */
function quoted(text: string): string {
  return `"${text.replace(/["\\]/g, (character) => `\\${character}`)}"`;
}

/**
 * The links a /.well-known/core query selects (RFC 6690 §4.1): `href`, `rt`, `if`, `ct`, `title` or
 * `obs`, compared with the query value, where a trailing "*" matches any suffix; rt, if and ct match
 * when any of their values does. No query selects every link; an attribute the gateway does not use
 * selects none.
 */
export function linksMatching(links: readonly Link[], query: string | undefined): Link[] {
  if (query === undefined || query === '') return [...links];
  const equals = query.indexOf('=');
  const name = equals < 0 ? query : query.slice(0, equals);
  const wanted = equals < 0 ? undefined : query.slice(equals + 1);
  const matches = (value: string) =>
    wanted === undefined || (wanted.endsWith('*') ? value.startsWith(wanted.slice(0, -1)) : value === wanted);
  return links.filter((link) => {
    switch (name) {
      case 'href':
        return matches(link.href);
      case 'rt':
        return (link.resourceTypes ?? []).some(matches);
      case 'if':
        return (link.interfaces ?? []).some(matches);
      case 'ct':
        return (link.contentFormats ?? []).map(String).some(matches);
      case 'title':
        return link.title !== undefined && matches(link.title);
      case 'obs':
        return link.observable === true && wanted === undefined;
      default:
        return false;
    }
  });
}
