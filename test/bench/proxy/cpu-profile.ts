import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { round } from '../measure.js';

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

/** V8's .cpuprofile (what `node --cpu-prof` writes). Times in µs of the monotonic clock. */
interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/**
 * Categories by the innermost frame on the stack that belongs to one (frames of node itself and of
 * src/native are transparent: their time goes to whoever called them). A koffi call has no frame of
 * its own: V8 counts the time in OpenSSL as self time of the JS function that made the call, e.g.
 * the upstream TLS stream's SSL_write under "upstream TLS stream".
 */
const CATEGORIES: [RegExp, string][] = [
  [/node_modules\/better-sqlite3\/|\/src\/store\/|\/src\/upstream\/outbox\//, 'outbox (better-sqlite3)'],
  [/node_modules\/coap\/|node_modules\/coap-packet\//, 'node-coap'],
  [/\/src\/downstream\//, 'CoAP routes (src/downstream)'],
  [/\/src\/tls\/dtls\//, 'DTLS server (src/tls/dtls; AEAD records through a kept EVP_CIPHER_CTX via koffi)'],
  [/\/src\/tls\//, 'upstream TLS stream (src/tls; SSL_read/SSL_write via koffi)'],
  [/node_modules\/(mqtt|mqtt-packet|bl|readable-stream|number-allocator|rfdc|debug)\//, 'mqtt.js'],
  [/\/src\/upstream\//, 'upstream client (src/upstream)'],
  [/\/src\/trust\/|\/src\/pki\/|node_modules\/@peculiar\/|node_modules\/asn1js\//, 'trust/validation'],
  [/node_modules\/(pino|pino-std-serializers|sonic-boom|thread-stream)\/|\/src\/daemon\/logger/, 'logging'],
  [/\/src\/daemon\/|\/src\/control\//, 'daemon, control socket'],
  // Node's socket layers count only where no project frame is below them: the sendmsg/recvmsg
  // system calls, and sends node defers to a later tick (dgram's send after its address lookup).
  [/^node:dgram/, 'UDP socket I/O (node:dgram)'],
  [/^node:net|^node:internal\/stream_base_commons/, 'TCP socket I/O (node:net)'],
];

const SPECIAL = new Map([
  ['(garbage collector)', 'GC'],
  ['(idle)', 'idle'],
  ['(program)', 'V8/native, unattributed (program)'],
]);

export interface ProfileSummary {
  profile_samples: number;
  window_samples: number;
  window_ms: number;
  /** Whether the samples were restricted to the measurement window (else: the whole profile). */
  window_applied: boolean;
  /** Share of the window's samples, by category (idle included: the rest is the daemon's busy time). */
  categories_percent: Record<string, number>;
  busy_percent: number;
  top_self_time: { function: string; where: string; percent: number }[];
}

/** The one .cpuprofile `node --cpu-prof --cpu-prof-dir DIR` wrote in `dir`. */
export function cpuProfileIn(dir: string): string {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  if (!file) throw new Error(`no .cpuprofile in ${dir}: the daemon did not exit cleanly`);
  return join(dir, file);
}

/** Summarizes the samples of a .cpuprofile taken within [fromUs, toUs] (monotonic clock). */
export function summarizeCpuProfile(file: string, fromUs: number, toUs: number): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parents = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parents.set(child, node.id);
  const categoryOf = memoized((id: number, self: (id: number) => string): string => {
    const frame = (nodes.get(id) as ProfileNode).callFrame;
    const special = SPECIAL.get(frame.functionName);
    if (special) return special;
    const match = CATEGORIES.find(([pattern]) => pattern.test(frame.url));
    if (match) return match[1];
    const parent = parents.get(id);
    return parent === undefined ? 'other (node internals, timers, dgram, net)' : self(parent);
  });

  const inWindow = windowedSamples(profile, fromUs, toUs);
  const samples = inWindow.length > 0 ? inWindow : profile.samples;
  const byCategory = new Map<string, number>();
  const bySelf = new Map<string, number>();
  for (const id of samples) {
    const category = categoryOf(id);
    byCategory.set(category, (byCategory.get(category) ?? 0) + 1);
    const frame = (nodes.get(id) as ProfileNode).callFrame;
    const key = `${frame.functionName || '(anonymous)'}\t${shortUrl(frame.url)}:${frame.lineNumber + 1}`;
    bySelf.set(key, (bySelf.get(key) ?? 0) + 1);
  }
  const percent = (count: number) => round((count / Math.max(1, samples.length)) * 100, 1);
  const sorted = (map: Map<string, number>) => [...map.entries()].sort((a, b) => b[1] - a[1]);
  return {
    profile_samples: profile.samples.length,
    window_samples: samples.length,
    window_ms: Math.round(
      inWindow.length > 0 ? (toUs - fromUs) / 1000 : (profile.endTime - profile.startTime) / 1000,
    ),
    window_applied: inWindow.length > 0,
    categories_percent: Object.fromEntries(sorted(byCategory).map(([name, count]) => [name, percent(count)])),
    busy_percent: percent(samples.length - (byCategory.get('idle') ?? 0)),
    top_self_time: sorted(bySelf)
      .slice(0, 20)
      .map(([key, count]) => {
        const [name, where] = key.split('\t') as [string, string];
        return { function: name, where, percent: percent(count) };
      }),
  };
}

/** The node ids of the samples whose timestamps fall within [fromUs, toUs]. */
function windowedSamples(profile: CpuProfile, fromUs: number, toUs: number): number[] {
  const picked: number[] = [];
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (at >= fromUs && at <= toUs) picked.push(profile.samples[i] as number);
  }
  return picked;
}

function memoized<T>(compute: (id: number, self: (id: number) => T) => T): (id: number) => T {
  const cache = new Map<number, T>();
  const self = (id: number): T => {
    const known = cache.get(id);
    if (known !== undefined) return known;
    const value = compute(id, self);
    cache.set(id, value);
    return value;
  };
  return self;
}

/** A frame's file from node_modules/ or dist/ on, or node's own module name. */
function shortUrl(url: string): string {
  if (!url) return '(native)';
  const modules = url.lastIndexOf('node_modules/');
  if (modules >= 0) return url.slice(modules + 'node_modules/'.length);
  const dist = url.indexOf('/dist/');
  if (dist >= 0) return url.slice(dist + '/dist/'.length);
  return url.replace(/^file:\/\//, '');
}
