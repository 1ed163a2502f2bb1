/** What `npm run fuzz` prints on stdout: one JSON object, the figures the acceptance is judged on. */
export interface FuzzResult {
  inputs: number;
  /** Daemon exits nobody asked for. */
  crashes: number;
  /** Uncaught exceptions and unhandled rejections the daemon logged, and datagrams whose processing threw. */
  exceptions: number;
  /** Witness sessions that lost their session or got a failed or timed-out answer. */
  sessionsDisturbed: number;
  /** Daemon RSS at the end minus after warm-up, bytes. */
  rssGrowthBytes: number;
}

/** Everything else a run learned, for stderr and for a failing test's message. */
export interface FuzzDetails {
  seed: number;
  seconds: number;
  inputsPerSecond: number;
  byFamily: Record<string, number>;
  rssAfterWarmupBytes: number;
  rssEndBytes: number;
  uncaughtLogged: number;
  processingErrors: number;
  witnessRequests: number;
  disturbances: { witness: string; what: string; at: string }[];
  faults: { kind: string; detail: string; atInput: number; recentInputs: string[] }[];
  fuzzSession: { connects: number; connectFailures: number; received: number; sendRefused: number };
  cookieExchanges: { tried: number; cookies: number };
  mqttRefused: number;
}

export interface FuzzReport {
  result: FuzzResult;
  details: FuzzDetails;
}

export function resultLine(result: FuzzResult): string {
  const { inputs, crashes, exceptions, sessionsDisturbed, rssGrowthBytes } = result;
  return JSON.stringify({ inputs, crashes, exceptions, sessionsDisturbed, rssGrowthBytes });
}

export function detailsText(details: FuzzDetails): string {
  const mb = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;
  const lines = [
    `seed ${details.seed}: ${details.seconds.toFixed(1)} s, ${details.inputsPerSecond.toFixed(0)} inputs/s`,
    `inputs by family: ${JSON.stringify(details.byFamily)}`,
    `daemon RSS: ${mb(details.rssAfterWarmupBytes)} after warm-up, ${mb(details.rssEndBytes)} at the end`,
    `exceptions: ${details.uncaughtLogged} uncaught/unhandled logged, ${details.processingErrors} caught by the DTLS server (processingErrors)`,
    `witnesses: ${details.witnessRequests} requests answered, ${details.disturbances.length} sessions disturbed`,
    `fuzz session: ${JSON.stringify(details.fuzzSession)}; cookie exchanges ${JSON.stringify(details.cookieExchanges)}; MQTT publishes refused ${details.mqttRefused}`,
  ];
  for (const disturbance of details.disturbances.slice(0, 10))
    lines.push(`  disturbed: ${disturbance.witness} at ${disturbance.at}: ${disturbance.what}`);
  for (const fault of details.faults.slice(0, 10)) {
    const [first, ...stack] = fault.detail.split('\n');
    lines.push(`  ${fault.kind} near input ${fault.atInput}: ${first}`);
    for (const frame of stack.slice(0, 8)) lines.push(`    ${frame.trim()}`);
    for (const input of fault.recentInputs.slice(-12)) lines.push(`    ${input}`);
  }
  return lines.join('\n');
}
