import type { EstServerOptions } from './est-server-options.js';
import { independentEstServer } from './interop-behaviours.js';

/** main.ts flags for the interop behaviours (interop-behaviours.ts), one flag per behaviour. */
export const INTEROP_FLAGS = {
  'like-independent': { type: 'boolean' },
  'csrattrs-nul': { type: 'boolean' },
  crlf: { type: 'boolean' },
  'no-cte': { type: 'boolean' },
  'cacerts-root': { type: 'boolean' },
  'enroll-chain': { type: 'boolean' },
  'issue-from-root': { type: 'boolean' },
  tls12: { type: 'boolean' },
  'bare-certificates': { type: 'boolean' },
} as const;

export const INTEROP_HELP = `  --like-independent  all of the below, and --basic estuser:estpwd unless --basic is given
  --csrattrs-nul      /csrattrs base64 followed by one NUL byte
  --crlf              base64 in 64-column lines with CRLF
  --no-cte            no Content-Transfer-Encoding header
  --cacerts-root      /cacerts holds only the root
  --enroll-chain      enroll answers hold the issuing CA too (default: the new certificate alone)
  --issue-from-root   the root signs device certificates (a one-level CA)
  --tls12             TLS 1.2 only
  --bare-certificates issued certificates without extendedKeyUsage and subjectAltName
`;

type Flags = { [name in keyof typeof INTEROP_FLAGS]?: boolean };

export function interopOptions(flags: Flags): Partial<EstServerOptions> {
  return {
    ...(flags['like-independent'] ? independentEstServer() : {}),
    ...(flags['csrattrs-nul'] ? { csrattrsTrailingNul: true } : {}),
    ...(flags.crlf ? { wrapBase64: true } : {}),
    ...(flags['no-cte'] ? { contentTransferEncoding: false } : {}),
    ...(flags['cacerts-root'] ? { cacerts: 'root' as const } : {}),
    ...(flags['enroll-chain'] ? { enrollResponse: 'chain' as const } : {}),
    ...(flags['issue-from-root'] ? { issueFromRoot: true } : {}),
    ...(flags.tls12 ? { maxTlsVersion: 'TLSv1.2' as const } : {}),
    ...(flags['bare-certificates'] ? { bareCertificates: true } : {}),
  };
}
