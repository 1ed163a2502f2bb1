import { DER_TAG, type DerTlv, strictChildren } from '../../pki/index.js';
import type { Refusal } from '../validation-reason.js';
import type { CertificateExtension } from './certificate-extensions.js';
import type { CertificateFacts } from './certificate-facts.js';
import { certificateLabel } from './certificate-label.js';
import { sequenceIn, single } from './der-values.js';
import { readDistinguishedName } from './distinguished-name.js';
import { EXTENSION } from './oids.js';

/**
 * RFC 5280 §4.2.1.10 / §6.1 name constraints. A CA's nameConstraints applies to every certificate
 * below it on the path (self-issued intermediates excepted, the sensor's never): its subject (as a
 * directoryName, and its emailAddress attributes as rfc822Names) and every subjectAltName. Checking
 * each CA's constraints on their own is the §6.1 intersection of permitted subtrees and union of
 * excluded ones. Constraints on otherName, x400Address, ediPartyName or registeredID are not evaluated
 * (no sensor PKI seen uses them): such a constraint refuses, fail-closed, a certificate that carries a
 * name of that type (marker-ok: a deliberate refusal, tested, not unfinished work).
 */

type Kind = 'dns' | 'email' | 'uri' | 'ip' | 'dn' | 'unsupported';

/** A GeneralName as name constraints read it. */
interface Name {
  kind: Kind;
  /** The GeneralName's tag (unsupported kinds are told apart by it). */
  tag: number;
  /** dns/email/uri: the IA5String; ip: dotted or hex; dn: readable; unsupported: the tag. */
  text: string;
  /** ip: the octets (a constraint: address then mask). */
  octets?: Uint8Array;
  /** dn: the RDNs in §7.1 comparison form. */
  rdns?: readonly string[];
}

interface Constraints {
  permitted: readonly Name[];
  excluded: readonly Name[];
}

type Reading = { constraints: Constraints } | { problem: string };

const KIND_NAMES: Record<Kind, string> = {
  dns: 'dNSName',
  email: 'rfc822Name',
  uri: 'uniformResourceIdentifier',
  ip: 'iPAddress',
  dn: 'directoryName',
  unsupported: 'name',
};

const readings = new WeakMap<CertificateFacts, Reading | undefined>();
const constraintExtensions = new WeakMap<CertificateFacts, CertificateExtension | null>();
const certificateNames = new WeakMap<CertificateFacts, readonly Name[] | string>();

/** A certificate that is not a CA must not carry nameConstraints (RFC 5280 §4.2.1.10: CAs only). */
export function endEntityNameConstraintsRefusal(certificate: CertificateFacts): Refusal | undefined {
  if (certificate.extensionValue(EXTENSION.nameConstraints) === undefined) return undefined;
  return {
    reason: 'name-constraints',
    detail: `${certificateLabel(certificate, 0)} carries nameConstraints, which only a CA certificate may (RFC 5280 4.2.1.10); its issuer must reissue it without`,
    depth: 0,
  };
}

/**
 * `issuer` (at depth `path.length`) placed above `path`: its nameConstraints, if any, checked on
 * every certificate of `path` it constrains. The refusal names the certificate and the name.
 */
export function nameConstraintsRefusal(
  issuer: CertificateFacts,
  path: readonly CertificateFacts[],
): Refusal | undefined {
  let extension = constraintExtensions.get(issuer);
  if (extension === undefined) {
    // Asked for every issuer of every validation, cached chains included: look it up once.
    extension = issuer.extensions.find((candidate) => candidate.oid === EXTENSION.nameConstraints) ?? null;
    constraintExtensions.set(issuer, extension);
  }
  if (extension === null) return undefined;
  const issuerDepth = path.length;
  const ca = () => certificateLabel(issuer, issuerDepth);
  if (!extension.critical) {
    return {
      reason: 'name-constraints',
      detail: `${ca()} has a non-critical nameConstraints; RFC 5280 4.2.1.10 requires it critical, so the CA must be reissued with it marked critical`,
      depth: issuerDepth,
    };
  }
  let reading = readings.get(issuer);
  if (reading === undefined) {
    reading = readConstraints(extension.value);
    readings.set(issuer, reading);
  }
  if ('problem' in reading) {
    return {
      reason: 'name-constraints',
      detail: `${ca()} nameConstraints ${reading.problem}; the CA must be reissued with valid constraints`,
      depth: issuerDepth,
    };
  }
  for (let depth = path.length - 1; depth >= 0; depth--) {
    const certificate = path[depth] as CertificateFacts;
    if (depth > 0 && certificate.selfIssued) continue; // key rollover certificates are exempt
    const names = namesOf(certificate);
    const who = () => certificateLabel(certificate, depth);
    if (typeof names === 'string') {
      return { reason: 'name-constraints', detail: `${who()}: ${names}`, depth };
    }
    const problem = violation(names, reading.constraints);
    if (problem !== undefined) {
      return {
        reason: 'name-constraints',
        detail: `${who()} ${problem} of ${ca()}; the sensor's CA must issue names inside the constraints`,
        depth,
      };
    }
  }
  return undefined;
}

function violation(names: readonly Name[], constraints: Constraints): string | undefined {
  for (const name of names) {
    const excluded = constraints.excluded.filter((base) => sameKind(base, name));
    const permitted = constraints.permitted.filter((base) => sameKind(base, name));
    if (name.kind === 'unsupported') {
      if (excluded.length > 0 || permitted.length > 0)
        return `has a name of type [${name.tag & 0x1f}], which the name constraints cannot be checked for`;
      continue;
    }
    if (excluded.length === 0 && permitted.length === 0) continue;
    const invalid = invalidName(name);
    if (invalid !== undefined)
      return `has ${KIND_NAMES[name.kind]} "${name.text}", ${invalid}, under the name constraints`;
    const hit = excluded.find((base) => within(name, base, true));
    if (hit !== undefined)
      return `${describe(name)} is within the excluded ${KIND_NAMES[name.kind]} "${hit.text}"`;
    if (permitted.length > 0 && !permitted.some((base) => within(name, base, false))) {
      return `${describe(name)} is outside the permitted ${KIND_NAMES[name.kind]}s (${permitted.map((base) => `"${base.text}"`).join(', ')})`;
    }
  }
  return undefined;
}

function describe(name: Name): string {
  return `${name.kind === 'dn' ? 'name' : KIND_NAMES[name.kind]} "${name.text}"`;
}

function sameKind(base: Name, name: Name): boolean {
  if (base.kind !== name.kind) return false;
  if (base.kind === 'unsupported') return base.tag === name.tag;
  if (base.kind === 'ip') return (base.octets?.length ?? 0) === 2 * (name.octets?.length ?? 0);
  return true;
}

/** `name` (a certificate's) is inside the subtree `base`; `forExclusion`: could be (wildcards). */
function within(name: Name, base: Name, forExclusion: boolean): boolean {
  switch (name.kind) {
    case 'dns': {
      const host = name.text.toLowerCase();
      const constraint = base.text.toLowerCase();
      if (constraint === '' || host === constraint || host.endsWith(`.${constraint}`)) return true;
      // A wildcard "*.example.com" covers bar.example.com: an exclusion of it must catch the wildcard.
      return forExclusion && host.startsWith('*.') && constraint.endsWith(host.slice(1));
    }
    case 'email':
      return emailWithin(name.text, base.text);
    case 'uri': {
      const host = uriHost(name.text);
      if (host === undefined) return false;
      return hostWithin(host, base.text);
    }
    case 'ip': {
      const address = name.octets as Uint8Array;
      const subnet = base.octets as Uint8Array;
      const n = address.length;
      for (let i = 0; i < n; i++) {
        const mask = subnet[n + i] ?? 0;
        if (((address[i] ?? 0) & mask) !== ((subnet[i] ?? 0) & mask)) return false;
      }
      return true;
    }
    case 'dn': {
      const rdns = name.rdns ?? [];
      const prefix = base.rdns ?? [];
      return prefix.length <= rdns.length && prefix.every((rdn, i) => rdns[i] === rdn);
    }
    default:
      return false;
  }
}

/** RFC 5280 §4.2.1.10 rfc822Name: a mailbox (exact), a host (its mailboxes), ".domain" (below it). */
function emailWithin(mailbox: string, constraint: string): boolean {
  const at = mailbox.lastIndexOf('@');
  const domain = mailbox.slice(at + 1).toLowerCase();
  if (constraint.includes('@')) {
    const split = constraint.lastIndexOf('@');
    return (
      mailbox.slice(0, at) === constraint.slice(0, split) &&
      domain === constraint.slice(split + 1).toLowerCase()
    );
  }
  const lower = constraint.toLowerCase();
  return lower.startsWith('.') ? domain.endsWith(lower) : domain === lower;
}

/** URI constraints name a host exactly, or with a leading "." every host below a domain. */
function hostWithin(host: string, constraint: string): boolean {
  const lower = constraint.toLowerCase();
  return lower.startsWith('.') ? host.endsWith(lower) : host === lower;
}

/** The host of a URI with an authority ("scheme://[user@]host[:port]/…"), lower case; else undefined. */
function uriHost(uri: string): string | undefined {
  const match = /^[A-Za-z][A-Za-z0-9+.-]*:\/\/(?:[^@/?#]*@)?(\[[^\]]*\]|[^:/?#]*)/.exec(uri);
  const host = match?.[1];
  return host === undefined || host === '' ? undefined : host.toLowerCase();
}

const LABEL = /^(?!-)[a-z0-9-]{1,63}(?<!-)$/i;

function validDomain(text: string): boolean {
  return text.length > 0 && text.length <= 253 && text.split('.').every((label) => LABEL.test(label));
}

/** Why a certificate's name cannot be judged against constraints of its type (undefined: it can). */
function invalidName(name: Name): string | undefined {
  switch (name.kind) {
    case 'dns': {
      const host = name.text.startsWith('*.') ? name.text.slice(2) : name.text;
      return validDomain(host) ? undefined : 'not a valid DNS name';
    }
    case 'email': {
      const parts = name.text.split('@');
      return parts.length === 2 && parts[0] !== '' && validDomain(parts[1] ?? '')
        ? undefined
        : 'not a valid mailbox';
    }
    default:
      return undefined;
  }
}

/** Why a constraint's base is not a valid one of its type (undefined: valid). */
function invalidBase(base: Name): string | undefined {
  switch (base.kind) {
    case 'dns':
      // RFC 5280 4.2.1.10: a DNS name "with zero or more labels added on the left"; no wildcard, no leading dot.
      return base.text === '' || validDomain(base.text)
        ? undefined
        : `dNSName "${base.text}" is not a DNS name`;
    case 'email': {
      const parts = base.text.split('@');
      if (parts.length === 1) {
        const domain = base.text.startsWith('.') ? base.text.slice(1) : base.text;
        return validDomain(domain) ? undefined : `rfc822Name "${base.text}" is not a host or domain`;
      }
      return parts.length === 2 && parts[0] !== '' && validDomain(parts[1] ?? '')
        ? undefined
        : `rfc822Name "${base.text}" is not a mailbox`;
    }
    case 'uri': {
      const host = base.text.startsWith('.') ? base.text.slice(1) : base.text;
      return validDomain(host)
        ? undefined
        : `uniformResourceIdentifier "${base.text}" is not a host or domain`;
    }
    case 'ip': {
      const octets = base.octets as Uint8Array;
      if (octets.length !== 8 && octets.length !== 32)
        return `iPAddress of ${octets.length} octets (an address and mask are 8 or 32)`;
      const mask = octets.subarray(octets.length / 2);
      let bits = '';
      for (const byte of mask) bits += byte.toString(2).padStart(8, '0');
      return /^1*0*$/.test(bits)
        ? undefined
        : `iPAddress ${base.text} has a mask that is not a prefix (CIDR)`;
    }
    default:
      return undefined;
  }
}

/** NameConstraints ::= SEQUENCE { permittedSubtrees [0] GeneralSubtrees OPTIONAL, excludedSubtrees [1] … }. */
function readConstraints(value: Uint8Array): Reading {
  try {
    const fields = sequenceIn(value, 'nameConstraints');
    const subtrees: { permitted: Name[]; excluded: Name[] } = { permitted: [], excluded: [] };
    let last = -1;
    for (const field of fields) {
      const which = field.tag === 0xa0 ? 0 : field.tag === 0xa1 ? 1 : -1;
      if (which <= last) return { problem: 'is malformed (unexpected element)' };
      last = which;
      const list = strictChildren(field.value);
      if (list.length === 0) return { problem: 'has an empty list of subtrees (RFC 5280: SIZE (1..MAX))' };
      for (const subtree of list) {
        if (subtree.tag !== DER_TAG.sequence) return { problem: 'has a malformed GeneralSubtree' };
        const [base, ...bounds] = strictChildren(subtree.value);
        if (base === undefined) return { problem: 'has a GeneralSubtree without a base' };
        if (bounds.length > 0)
          return {
            problem: 'sets a minimum or maximum, which RFC 5280 4.2.1.10 forbids (minimum 0, no maximum)',
          };
        const name = generalName(base);
        const invalid = invalidBase(name);
        if (invalid !== undefined) return { problem: `has ${invalid}` };
        (which === 0 ? subtrees.permitted : subtrees.excluded).push(name);
      }
    }
    if (fields.length === 0) return { problem: 'is empty (neither permitted nor excluded subtrees)' };
    return { constraints: subtrees };
  } catch (error) {
    return { problem: `is malformed (${(error as Error).message})` };
  }
}

/** The names a certificate is checked by: its subject (when not empty), its emailAddress attributes, its SANs. */
function namesOf(certificate: CertificateFacts): readonly Name[] | string {
  const known = certificateNames.get(certificate);
  if (known !== undefined) return known;
  let names: readonly Name[] | string;
  try {
    const list: Name[] = [];
    const subject = readDistinguishedName(
      single(certificate.subjectDer, DER_TAG.sequence, 'subject'),
      'subject',
    );
    if (subject.rdnKeys.length > 0) {
      list.push({ kind: 'dn', tag: 0xa4, text: certificate.subject, rdns: subject.rdnKeys });
    }
    for (const attribute of subject.attributes) {
      if (attribute.oid === '1.2.840.113549.1.9.1' && attribute.text !== undefined)
        list.push({ kind: 'email', tag: 0x81, text: attribute.text });
    }
    const san = certificate.extensionValue(EXTENSION.subjectAltName);
    if (san !== undefined) for (const name of sequenceIn(san, 'subjectAltName')) list.push(generalName(name));
    names = list;
  } catch (error) {
    names = `its names cannot be read for the name constraints (${(error as Error).message})`;
  }
  certificateNames.set(certificate, names);
  return names;
}

function generalName(element: DerTlv): Name {
  const { tag, value } = element;
  switch (tag) {
    case 0x81:
      return { kind: 'email', tag, text: ia5(value) };
    case 0x82:
      return { kind: 'dns', tag, text: ia5(value) };
    case 0x86:
      return { kind: 'uri', tag, text: ia5(value) };
    case 0x87:
      return { kind: 'ip', tag, text: ipText(value), octets: value };
    case 0xa4: {
      const [inner] = strictChildren(value);
      if (inner === undefined) throw new Error('empty directoryName');
      const name = readDistinguishedName(inner, 'directoryName');
      return { kind: 'dn', tag, text: name.readable, rdns: name.rdnKeys };
    }
    default:
      return { kind: 'unsupported', tag, text: `[${tag & 0x1f}]` };
  }
}

/** "192.0.2.1", "192.0.2.0/255.255.255.0", IPv6 groups in hex. */
function ipText(octets: Uint8Array): string {
  const half = octets.length === 8 || octets.length === 32 ? octets.length / 2 : octets.length;
  const part = (bytes: Uint8Array) =>
    bytes.length === 4
      ? Array.from(bytes).join('.')
      : Array.from({ length: bytes.length / 2 }, (_, i) =>
          (((bytes[2 * i] ?? 0) << 8) | (bytes[2 * i + 1] ?? 0)).toString(16),
        ).join(':');
  if (half !== 4 && half !== 16) return Buffer.from(octets).toString('hex');
  const address = part(octets.subarray(0, half));
  return half === octets.length ? address : `${address}/${part(octets.subarray(half))}`;
}

function ia5(value: Uint8Array): string {
  if (value.some((byte) => byte > 0x7e || byte < 0x20))
    throw new Error('an IA5String with non-printable bytes');
  return Buffer.from(value).toString('latin1');
}
