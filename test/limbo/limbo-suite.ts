import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gunzipSync } from 'node:zlib';

/** One x509-limbo test case: the fields this runner reads (limbo-schema upstream has them all). */
export interface LimboCase {
  id: string;
  features: string[];
  description: string;
  validation_kind: 'SERVER' | 'CLIENT';
  /** PEM. */
  trusted_certs: string[];
  untrusted_intermediates: string[];
  peer_certificate: string;
  /** ISO 8601, or null for now. */
  validation_time: string | null;
  /** Purposes the validator must require of the leaf, by name ("serverAuth", "clientAuth", …). */
  extended_key_usage: string[];
  expected_result: 'SUCCESS' | 'FAILURE';
  expected_peer_name: PeerName | null;
  expected_peer_names: PeerName[];
  max_chain_depth: number | null;
  /** PEM. */
  crls: string[];
}

export interface PeerName {
  kind: 'DNS' | 'IP' | 'RFC822';
  value: string;
}

/** The families the issue calls core: RFC 5280 path validation, not the Web PKI profile or live chains. */
const CORE_PREFIXES = ['rfc5280::', 'pathlen::', 'crl::', 'pathological::', 'cve::', 'invalid::'];

export function isCore(id: string): boolean {
  return CORE_PREFIXES.some((prefix) => id.startsWith(prefix));
}

/** "rfc5280::nc::permitted-dns-match" → "rfc5280::nc"; "pathlen::max-chain-depth-0" → "pathlen". */
export function groupOf(id: string): string {
  const parts = id.split('::');
  return parts.slice(0, Math.max(1, parts.length - 1)).join('::');
}

/** The vendored suite (test/limbo/x509-limbo/limbo.json.gz), or the file LIMBO_JSON names (plain or .gz). */
export function loadLimbo(path = process.env.LIMBO_JSON ?? vendoredSuite()): LimboCase[] {
  const raw = readFileSync(path);
  const text = (path.endsWith('.gz') ? gunzipSync(raw) : raw).toString('utf8');
  const suite = JSON.parse(text) as { version?: number; testcases?: LimboCase[] };
  if (suite.version !== 1 || !Array.isArray(suite.testcases)) {
    throw new Error(`${path}: not a compiled x509-limbo suite (version 1 with testcases)`);
  }
  return suite.testcases;
}

/** Found from here whether this runs as TypeScript (vitest) or compiled (dist/test/limbo). */
function vendoredSuite(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return join(dir, 'test/limbo/x509-limbo/limbo.json.gz');
}
