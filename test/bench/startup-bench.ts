/**
 * `npm run bench -- startup`: the daemon's cold start to READY=1 and its RSS once ready, on every
 * supported Node.js runtime found on this machine (the one running the bench, and those scripts/setup.sh
 * installs under /opt/edge-gatewayd/node-v*), side by side in one run. The daemon is started as systemd
 * starts it (hw-sim/systemd's notify-socket supervisor) with a fresh state directory each time: software
 * key store, state database, control socket, nothing downstream or upstream — the fixed cost of the
 * process and its runtime. (Under a real systemd, see test/system.)
 */

import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { ServiceSupervisor } from '../../hw-sim/systemd/index.js';
import { builtEntry, gatewayFixture, startDaemon } from '../helpers/daemon-harness.js';

const RUNS = Number(process.env.BENCH_STARTUP_RUNS ?? 5);
const RUNTIME_ROOT = '/opt/edge-gatewayd';

interface RuntimeFigures {
  node: string;
  openssl: string;
  runs: number;
  ready_median_ms: number;
  ready_max_ms: number;
  rss_after_ready_median_kb: number;
}

/** This process's runtime first, then any other installed one (by version, so a link is not counted twice). */
function runtimes(): string[] {
  const found = [process.execPath];
  if (existsSync(RUNTIME_ROOT)) {
    for (const entry of readdirSync(RUNTIME_ROOT).sort()) {
      const node = `${RUNTIME_ROOT}/${entry}/bin/node`;
      if (entry.startsWith('node-v') && existsSync(node)) found.push(node);
    }
  }
  const byVersion = new Map<string, string>();
  for (const node of found) {
    const version = versionOf(node).node;
    if (!byVersion.has(version)) byVersion.set(version, node);
  }
  return [...byVersion.values()];
}

function versionOf(node: string): { node: string; openssl: string } {
  const result = spawnSync(node, ['-p', 'process.version + " " + process.versions.openssl'], {
    encoding: 'utf8',
  });
  const [version = '?', openssl = '?'] = result.stdout.trim().split(' ');
  return { node: version, openssl };
}

function rssKb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('VmRSS:'));
  return Number(line?.match(/\d+/)?.[0] ?? Number.NaN);
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
};

async function startOnce(node: string): Promise<{ readyMs: number; rssKb: number }> {
  const fixture = gatewayFixture();
  const started = performance.now();
  const service =
    node === process.execPath
      ? startDaemon(fixture.configPath)
      : ServiceSupervisor.start({ command: [node, builtEntry('daemon'), '--config', fixture.configPath] });
  try {
    await service.waitReady();
    const readyMs = performance.now() - started;
    // Once the start-up work has settled: what an idle daemon holds.
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    return { readyMs, rssKb: rssKb(service.child.pid ?? 0) };
  } finally {
    await service.stop();
    await service.dispose();
    rmSync(fixture.dir, { recursive: true, force: true });
  }
}

export async function benchStartup(): Promise<RuntimeFigures[]> {
  const figures: RuntimeFigures[] = [];
  for (const node of runtimes()) {
    const { node: version, openssl } = versionOf(node);
    process.stderr.write(`  startup on Node ${version} (${node})…\n`);
    const samples: { readyMs: number; rssKb: number }[] = [];
    await startOnce(node); // warm the page cache, not counted
    for (let i = 0; i < RUNS; i++) samples.push(await startOnce(node));
    figures.push({
      node: version,
      openssl,
      runs: RUNS,
      ready_median_ms: Math.round(median(samples.map((s) => s.readyMs))),
      ready_max_ms: Math.round(Math.max(...samples.map((s) => s.readyMs))),
      rss_after_ready_median_kb: median(samples.map((s) => s.rssKb)),
    });
  }
  return figures;
}
