import type { CertificateFacts } from '../../src/trust/validation/index.js';
import type { LimboCase } from './limbo-suite.js';
import { presentsPeerName } from './peer-name.js';

/** The reasons a case is skipped, one per rule (tables group by them, the test counts them). */
export const SKIP = {
  otherPurpose: 'purpose: the case requires another purpose than its validation kind implies',
  // The sensor profile: deliberate refusals of the validator (README "Sensors"), not RFC 5280 gaps.
  caLeaf: 'sensor profile: the leaf is a CA (never a sensor)',
  noEku: 'sensor profile: leaf without extendedKeyUsage (clientAuth is required)',
  noDigitalSignature: 'sensor profile: leaf keyUsage without digitalSignature',
  peerName: 'peer name: the leaf does not present the expected name (sensors are not matched against one)',
  // As pyca/cryptography skips it: the suite itself calls it ambiguous.
  pedanticAnchorAki:
    "pedantic-rfc5280: an anchor's own authorityKeyIdentifier names its issuer, which is not on the path (RFC 5280 6.1.1 d: the anchor is input)",
} as const;

/**
 * Why a case is not run, decided from the case alone (never from our verdict, so a skip cannot hide
 * a wrong answer, and applies whether the case expects SUCCESS or FAILURE); undefined to run it.
 * `leaf` is the peer certificate as the validator parses it (undefined when it does not parse: the
 * case runs, and the validator says why it refuses).
 */
export function skipReason(testcase: LimboCase, leaf: CertificateFacts | undefined): string | undefined {
  const purpose = testcase.validation_kind === 'CLIENT' ? 'clientAuth' : 'serverAuth';
  if (testcase.extended_key_usage.some((name) => name !== purpose)) return SKIP.otherPurpose;
  if (testcase.features.includes('pedantic-rfc5280')) return SKIP.pedanticAnchorAki;
  if (leaf === undefined) return undefined;
  if (leaf.basicConstraints?.ca === true) return SKIP.caLeaf;
  if (leaf.extendedKeyUsage === undefined) return SKIP.noEku;
  if (leaf.keyUsage !== undefined && !leaf.keyUsage.has('digitalSignature')) return SKIP.noDigitalSignature;
  const peers = [
    ...(testcase.expected_peer_name === null ? [] : [testcase.expected_peer_name]),
    ...testcase.expected_peer_names,
  ];
  if (peers.some((peer) => !presentsPeerName(leaf.subjectAltNames, peer))) return SKIP.peerName;
  return undefined;
}
