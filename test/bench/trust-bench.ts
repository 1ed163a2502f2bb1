/**
 * `npm run bench -- trust`: the offline revocation cache with a 1,000,000-entry CRL signed by a
 * P-256 CA (the CA from openssl, the CRL written with the DER writer and signed with node:crypto).
 * Figures: our ingest (parse + signature + SQLite, in a temporary database) against `openssl crl`
 * parsing and verifying the same file; lookup latency for hits and misses; memory of the in-memory
 * index; reopening (index rebuilt from SQLite). Sections are keyed by topic: `chainValidation`
 * (sensor chain validations per second, from trust-chain-bench.ts) sits beside them. Figures only:
 * nothing fails on them.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Store } from '../../src/store/index.js';
import { Crl, CrlStore } from '../../src/trust/revocation/index.js';
import type { CertificateFacts } from '../../src/trust/validation/index.js';
import { buildTestCrl, type TestCa, type TestCrlEntry, TestPkiDir } from '../helpers/test-crl.js';
import { round } from './measure.js';
import { chainValidationFigures } from './trust-chain-bench.js';

const ENTRIES = 1_000_000;
const SERIAL_OCTETS = 16;
const LOOKUPS = 200_000;
const BATCH = 1_000;

export async function benchTrust(): Promise<Record<string, unknown>> {
  const pki = new TestPkiDir('egw-trust-bench-');
  try {
    const ca = pki.ca('ca', { key: 'P-256' });
    const now = new Date();
    const serials = randomSerials(ENTRIES);
    const started = performance.now();
    const der = buildTestCrl({
      issuer: ca,
      thisUpdate: new Date(now.getTime() - 3_600_000),
      nextUpdate: new Date(now.getTime() + 7 * 86_400_000),
      crlNumber: 1000n,
      entries: testEntries(serials, 0, ENTRIES, now),
    });
    const generateMs = performance.now() - started;
    const crlFile = pki.write('big.crl', der);
    process.stderr.write(`  CRL of ${ENTRIES} entries, ${(der.length / 1e6).toFixed(1)} MB\n`);
    const dbFile = pki.file('state.db');
    const hits = Array.from({ length: LOOKUPS }, (_, i) => {
      const at = ((i * 7919) % ENTRIES) * SERIAL_OCTETS;
      return serials.subarray(at, at + SERIAL_OCTETS);
    });
    const misses = randomSerials(LOOKUPS);
    const missSerials = Array.from({ length: LOOKUPS }, (_, i) =>
      misses.subarray(i * SERIAL_OCTETS, (i + 1) * SERIAL_OCTETS),
    );
    // Each phase in its own function, so that nothing of one (an index) is kept alive in the next.
    const ingest = ingestPhase(der, crlFile, dbFile, ca, serials, now);
    const openssl = opensslPhase(crlFile, ca.certFile);
    const lookup = lookupPhase(dbFile, ca.facts, hits, missSerials);
    const reopen = reopenPhase(dbFile, ca.facts, hits[0] as Uint8Array);
    return {
      crl: {
        entries: ENTRIES,
        serial_octets: SERIAL_OCTETS,
        der_mb: round(der.length / 1e6, 1),
        generate_ms: round(generateMs, 0),
      },
      ingest,
      openssl_reference: openssl,
      lookup,
      memory: reopen.memory,
      reopen: reopen.reopen,
      chainValidation: await chainValidationFigures(),
    };
  } finally {
    pki.remove();
  }
}

function ingestPhase(
  der: Uint8Array,
  crlFile: string,
  dbFile: string,
  ca: TestCa,
  serials: Uint8Array,
  now: Date,
): Record<string, unknown> {
  const parse = timed(() => Crl.parse(der, crlFile));
  const signature = timed(() => parse.value.isSignedBy(ca.certDer));
  // The next CRL: 1% of the entries gone, 1% new ones (the first CRL's serials shifted by 1%).
  const churn = ENTRIES / 100;
  const moreSerials = new Uint8Array(serials.length + churn * SERIAL_OCTETS);
  moreSerials.set(serials);
  moreSerials.set(randomSerials(churn), serials.length);
  const next = buildTestCrl({
    issuer: ca,
    thisUpdate: now,
    nextUpdate: new Date(now.getTime() + 7 * 86_400_000),
    crlNumber: 1001n,
    entries: testEntries(moreSerials, churn, ENTRIES + churn, now),
  });
  const store = Store.open(dbFile);
  try {
    const crlStore = new CrlStore(store);
    const imported = timed(() => crlStore.import(der, [ca.certDer], crlFile, now));
    const replaced = timed(() => crlStore.import(next, [ca.certDer], `${crlFile}.next`, now));
    // Back to the first CRL's content, as a newer one, for the phases that follow.
    const again = buildTestCrl({
      issuer: ca,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 7 * 86_400_000),
      crlNumber: 1002n,
      entries: testEntries(serials, 0, ENTRIES, now),
    });
    crlStore.import(again, [ca.certDer], crlFile, now);
    return {
      parse_ms: round(parse.ms, 0),
      signature_ms: round(signature.ms, 0),
      signature_ok: signature.value,
      import_ms: round(imported.ms, 0),
      import_entries_per_s: round(ENTRIES / (imported.ms / 1000), 0),
      replace_ms: round(replaced.ms, 0),
      replace_revoked_serials_added: replaced.value.revokedSerialsAdded,
      note: 'import = parse + signature + one SQLite transaction (WAL, synchronous=FULL) into an empty database; replace = a newer CRL (1% of entries gone, 1% new) replacing it, same steps',
    };
  } finally {
    store.close();
  }
}

function opensslPhase(crlFile: string, caFile: string): Record<string, unknown> {
  return {
    version: spawnSync('openssl', ['version'], { encoding: 'utf8' }).stdout.trim(),
    crl_parse_ms: round(timedProcess(['crl', '-inform', 'DER', '-in', crlFile, '-noout']), 0),
    crl_parse_and_verify_ms: round(
      timedProcess(['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', caFile, '-noout']),
      0,
    ),
    process_start_ms: round(timedProcess(['version']), 0),
    note: 'openssl crl -inform DER -in file -noout [-CAfile ca.pem]: wall time of the process on the same file',
  };
}

function lookupPhase(
  dbFile: string,
  issuer: CertificateFacts,
  hits: readonly Uint8Array[],
  misses: readonly Uint8Array[],
): Record<string, unknown> {
  const store = Store.open(dbFile);
  try {
    const crlStore = new CrlStore(store);
    return {
      lookups_each: LOOKUPS,
      batch: BATCH,
      hit: lookupLatency(crlStore, issuer, hits, true),
      miss: lookupLatency(crlStore, issuer, misses, false),
      note: 'per-lookup µs from batches timed with process.hrtime.bigint (percentiles over batches); a hit is confirmed by one SQLite primary-key read, a miss never touches SQLite',
    };
  } finally {
    store.close();
  }
}

function reopenPhase(
  dbFile: string,
  issuer: CertificateFacts,
  revokedSerial: Uint8Array,
): { memory: Record<string, unknown>; reopen: Record<string, unknown> } {
  collectGarbage();
  const before = process.memoryUsage();
  const started = performance.now();
  const store = Store.open(dbFile);
  try {
    const crlStore = new CrlStore(store);
    const reopenMs = performance.now() - started;
    collectGarbage();
    const after = process.memoryUsage();
    return {
      memory: {
        index_bytes_per_entry: round(crlStore.indexBytes / ENTRIES, 1),
        index_mb: round(crlStore.indexBytes / 1e6, 1),
        rss_increase_mb: round((after.rss - before.rss) / 1e6, 1),
        heap_increase_mb: round((after.heapUsed - before.heapUsed) / 1e6, 1),
        array_buffers_increase_mb: round((after.arrayBuffers - before.arrayBuffers) / 1e6, 1),
        note: 'increase from opening the store and rebuilding the index, after a full GC (rss also holds the SQLite page cache and freed-but-kept heap)',
      },
      reopen: {
        reopen_ms: round(reopenMs, 0),
        lookup_after_reopen_ok: crlStore.isRevoked(issuer, revokedSerial) !== undefined,
        note: 'Store.open + new CrlStore: the hash index rebuilt from SQLite',
      },
    };
  } finally {
    store.close();
  }
}

function randomSerials(count: number): Uint8Array {
  const bytes = new Uint8Array(randomBytes(count * SERIAL_OCTETS));
  for (let at = 0; at < bytes.length; at += SERIAL_OCTETS) {
    bytes[at] = ((bytes[at] as number) & 0x7f) | 0x01; // positive and minimal, as CAs issue them
  }
  return bytes;
}

/** Entries for serials first..end: revocation dates on 10,000 distinct seconds, a reason on one in four. */
function* testEntries(serials: Uint8Array, first: number, end: number, now: Date): Generator<TestCrlEntry> {
  const dates = Array.from(
    { length: 10_000 },
    (_, i) => new Date(now.getTime() - 86_400_000 - i * 3_000_000),
  );
  for (let i = first; i < end; i++) {
    const serial = serials.subarray(i * SERIAL_OCTETS, (i + 1) * SERIAL_OCTETS);
    const revokedAt = dates[i % dates.length] as Date;
    yield i % 4 === 0 ? { serial, revokedAt, reason: 1 + (i % 6) } : { serial, revokedAt };
  }
}

function timed<T>(work: () => T): { value: T; ms: number } {
  const started = performance.now();
  const value = work();
  return { value, ms: performance.now() - started };
}

function timedProcess(args: string[]): number {
  const started = performance.now();
  const result = spawnSync('openssl', args, { encoding: 'utf8', maxBuffer: 1 << 20 });
  const ms = performance.now() - started;
  if (result.status !== 0) throw new Error(`openssl ${args.join(' ')} failed: ${result.stderr}`);
  return ms;
}

function lookupLatency(
  crlStore: CrlStore,
  issuer: CertificateFacts,
  serials: readonly Uint8Array[],
  expectRevoked: boolean,
): { p50_us: number; p99_us: number; mean_us: number } {
  for (let i = 0; i < 10_000; i++) crlStore.isRevoked(issuer, serials[i % serials.length] as Uint8Array);
  const perLookup: number[] = [];
  let total = 0n;
  let wrong = 0;
  for (let start = 0; start + BATCH <= serials.length; start += BATCH) {
    const t0 = process.hrtime.bigint();
    for (let i = start; i < start + BATCH; i++) {
      if ((crlStore.isRevoked(issuer, serials[i] as Uint8Array) !== undefined) !== expectRevoked) wrong++;
    }
    const elapsed = process.hrtime.bigint() - t0;
    total += elapsed;
    perLookup.push(Number(elapsed) / BATCH / 1000);
  }
  if (wrong > 0) throw new Error(`${wrong} lookups answered wrongly`);
  perLookup.sort((a, b) => a - b);
  const at = (q: number) =>
    round(perLookup[Math.min(perLookup.length - 1, Math.floor(q * perLookup.length))] ?? 0);
  return { p50_us: at(0.5), p99_us: at(0.99), mean_us: round(Number(total) / serials.length / 1000) };
}

/** A full GC when one can be had, so memory figures are not noise from earlier phases. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as (() => void) | undefined;
  gc?.();
  gc?.();
}
