import { pemBlocks } from '../../src/pki/index.js';
import {
  AnchorIndex,
  CertificateFacts,
  PathValidator,
  type PathValidatorOptions,
  ValidationFailure,
} from '../../src/trust/validation/index.js';
import type { ValidationReason } from '../../src/trust/validation-reason.js';
import { caseRevocation } from './case-revocation.js';
import { groupOf, isCore, type LimboCase } from './limbo-suite.js';
import { ServerPurposeAnchors } from './purpose-mapping.js';
import { skipReason } from './skip-rules.js';

export type LimboResult = 'SUCCESS' | 'FAILURE';

/** One case judged: right or wrong against expected_result, or skipped with the reason. */
export interface CaseOutcome {
  id: string;
  core: boolean;
  /** The id without its last part ("rfc5280::nc"), for tables. */
  group: string;
  expected: LimboResult;
  verdict: 'right' | 'wrong' | 'skipped';
  /** Our result (not when skipped). */
  ours?: LimboResult;
  /** Our refusal: its reason code and detail. A FAILURE case counts right whatever the reason (limbo's convention). */
  reason?: ValidationReason;
  detail?: string;
  skip?: string;
  /** What else happened: CRLs the CRL cache refused, trusted certificates the anchor index could not use. */
  notes: string[];
}

/**
 * The validator as the DTLS endpoint runs it (SensorTrust → PathValidator.validate), configured as
 * permissively as [trust] allows: every curve, Ed25519, RSA from 2048 bits, max_chain_depth 8 unless
 * the case sets one (the validator takes any depth, 0 included).
 */
const OPTIONS: Omit<PathValidatorOptions, 'maxChainDepth'> = {
  policy: { allowedCurves: ['P-256', 'P-384', 'P-521'], allowEd25519: true, minRsaBits: 2048 },
  deviceTypeOid: '1.3.6.1.4.1.12345.1.1',
};
const MOST_CONFIGURABLE_CHAIN_DEPTH = 8;

/** All cases, in suite order. */
export function runLimbo(cases: readonly LimboCase[], now = new Date()): CaseOutcome[] {
  return cases.map((testcase) => runCase(testcase, now));
}

/**
 * One case through a fresh validator: trusted_certs are the anchors; the peer presents its certificate
 * then untrusted_intermediates, as a sensor sends its chain; validation_time (or `now`) is the time;
 * max_chain_depth the depth; the CRLs, when given, are checked (see caseRevocation).
 */
export function runCase(testcase: LimboCase, now = new Date()): CaseOutcome {
  const base = {
    id: testcase.id,
    core: isCore(testcase.id),
    group: groupOf(testcase.id),
    expected: testcase.expected_result,
  };
  const leafDer = onlyCertificate(testcase.peer_certificate, `${testcase.id} peer_certificate`);
  const skip = skipReason(testcase, parsedOrUndefined(leafDer));
  if (skip !== undefined) return { ...base, verdict: 'skipped', skip, notes: [] };

  const at = testcase.validation_time === null ? now : new Date(testcase.validation_time);
  const anchorDers = testcase.trusted_certs.map((pem, i) =>
    onlyCertificate(pem, `${testcase.id} trusted #${i}`),
  );
  const presented = [
    leafDer,
    ...testcase.untrusted_intermediates.map((pem, i) =>
      onlyCertificate(pem, `${testcase.id} intermediate #${i}`),
    ),
  ];
  const anchors =
    testcase.validation_kind === 'SERVER'
      ? new ServerPurposeAnchors(anchorDers, presented)
      : new AnchorIndex(anchorDers);
  const notes = anchors.skipped.map((skipped) => `trusted certificate unusable: ${skipped.reason}`);
  const validator = new PathValidator({
    ...OPTIONS,
    maxChainDepth: testcase.max_chain_depth ?? MOST_CONFIGURABLE_CHAIN_DEPTH,
  });
  const revocation = testcase.crls.length > 0 ? caseRevocation(testcase.crls, anchorDers, at) : undefined;
  try {
    notes.push(...(revocation?.refusedCrls ?? []));
    const verdict = validator.validate(presented, anchors, at, revocation?.check);
    const ours: LimboResult = verdict.ok ? 'SUCCESS' : 'FAILURE';
    const outcome: CaseOutcome = {
      ...base,
      verdict: ours === testcase.expected_result ? 'right' : 'wrong',
      ours,
      notes,
    };
    if (!verdict.ok) {
      outcome.reason = verdict.refusal.reason;
      outcome.detail = verdict.refusal.detail;
    }
    return outcome;
  } finally {
    revocation?.close();
  }
}

/** The DER of a PEM field that must hold exactly one certificate (a broken suite is an error, not a case). */
function onlyCertificate(pem: string, what: string): Uint8Array {
  const blocks = pemBlocks(pem);
  if (blocks.length !== 1) throw new Error(`${what}: expected one PEM certificate, found ${blocks.length}`);
  return blocks[0] as Uint8Array;
}

function parsedOrUndefined(der: Uint8Array): CertificateFacts | undefined {
  try {
    return CertificateFacts.parse(der);
  } catch (error) {
    if (error instanceof ValidationFailure) return undefined;
    throw error;
  }
}
