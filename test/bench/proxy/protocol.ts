/**
 * Messages between the proxy bench (parent) and its load generator (a child process, so that the
 * sensors' CPU and event loop are apart from the subscriber that timestamps deliveries).
 */
import type { LatencySummary } from '../../../hw-sim/sensors/index.js';

/**
 * Messages generated and not yet answered, per sender, beyond which the generator sheds (does not
 * generate) instead: overload then shows as shed load rather than as queues that take minutes to
 * drain. A sustainable rate never comes near it (a few messages per sender per round trip).
 */
export const MAX_BACKLOG_PER_TARGET = 8;

export interface FleetCommand {
  type: 'fleet';
  sensorCaDir: string;
  gateway: { host: string; port: number };
  gatewayCaPem: string;
  sensors: number;
  namePrefix: string;
}

export interface ReferenceCommand {
  type: 'reference';
  brokerUrl: string;
  caPem: string;
  certFile: string;
  keyFile: string;
  clients: number;
  namePrefix: string;
}

export interface RunCommand {
  type: 'run';
  /** Messages per second offered, for all targets together. */
  rate: number;
  warmupMs: number;
  measureMs: number;
  /** Longest wait, after generating, for every message to be answered. */
  drainMs: number;
}

export type LoadCommand = FleetCommand | ReferenceCommand | RunCommand | { type: 'stop' };

export interface ConnectedReport {
  type: 'connected';
  targets: number;
  ready: number;
  failed: number;
  seconds: number;
  failures: Record<string, number>;
}

/** Sent when the measurement window opens and closes, so the parent can sample CPU over it. */
export interface WindowReport {
  type: 'window';
  phase: 'start' | 'end';
  /** Date.now() of the generator. */
  at: number;
}

export interface RunReport {
  type: 'ran';
  windowStart: number;
  windowEnd: number;
  /** Within the window: generated (sent to the gateway or broker), shed, answered with success. */
  window: { generated: number; shed: number; acknowledged: number };
  /** Over the whole step (warm-up, window, drain). */
  step: { generated: number; shed: number; acknowledged: number; failed: number };
  /** Sender-side answer latency (CoAP 2.04 or PUBACK) of messages answered within the window. */
  ackLatency: LatencySummary;
  /** Event-loop delay of the generator over the window: high when the generator is itself the limit. */
  generatorLoopDelayP99Ms: number;
  drained: boolean;
  drainMs: number;
}

export interface StoppedReport {
  type: 'stopped';
  summary: Record<string, unknown>;
}

export interface ErrorReport {
  type: 'error';
  message: string;
}

export type LoadReport = ConnectedReport | WindowReport | RunReport | StoppedReport | ErrorReport;
