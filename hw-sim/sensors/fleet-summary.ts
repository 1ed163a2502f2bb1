import type { LatencySummary } from './latency-recorder.js';
import type { BadActorCounts } from './sensor-credentials.js';
import type { SensorMessageCounts, SensorResult } from './sensor-result.js';

/** What a fleet run did, as plain data (the CLI prints it as text or JSON). Sums are over all sensors. */
export interface FleetSummary {
  gateway: string;
  format: string;
  confirmable: boolean;
  /** Seconds from the first handshake to the last sensor settled (connected, refused or unreachable). */
  connectSeconds: number;
  /** Seconds spent generating telemetry (the run without its drain). */
  generatingSeconds: number;
  /** Seconds from the first telemetry message to the end of the drain. */
  runSeconds: number;
  sensors: {
    total: number;
    /** Honest sensors (not bad actors). */
    honest: number;
    /** Had a DTLS session at least once. */
    admitted: number;
    /** Connected when the summary was taken (0 once the fleet is stopped: see `stopped`). */
    connected: number;
    refused: number;
    unreachable: number;
    /** Stopped by the fleet while neither refused nor unreachable. */
    stopped: number;
  };
  badActors: {
    requested: BadActorCounts;
    /** Bad actors the gateway turned away (at the handshake or with 4.xx). */
    refused: number;
    /** Bad actors that got through: a handshake accepted, or the forbidden request answered 2.xx. */
    notRefused: string[];
  };
  /** Honest sensors the gateway turned away. */
  honestRefused: string[];
  /** Refusals counted by "handshake: <alert>" or "request <code> <method path>". */
  refusalsByReason: Record<string, number>;
  sessions: { established: number; resumed: number; lost: number };
  /** Telemetry counters, summed (they add up as SensorMessageCounts says). */
  messages: SensorMessageCounts;
  rejectedByCode: Record<string, number>;
  rates: {
    /** The rate asked for, messages/s for the whole fleet. */
    targetPerSecond: number;
    /** Generated over generatingSeconds: below the target when the sensors' process cannot keep up. */
    generatedPerSecond: number;
    /** Acknowledged over runSeconds (generation and drain). */
    acknowledgedPerSecond: number;
  };
  /** Acknowledgement latency over every acknowledged message of the fleet. */
  latencyMs: LatencySummary;
  commandsReceived: number;
  perSensor: SensorResult[];
}

/** The summary as a few lines of text for a person (per-sensor detail only for sensors that stand out). */
export function fleetSummaryText(summary: FleetSummary): string {
  const m = summary.messages;
  const s = summary.sensors;
  const lines = [
    `fleet against ${summary.gateway} (${summary.format}, ${summary.confirmable ? 'CON' : 'NON'})`,
    `  sensors      ${s.total} (${s.honest} honest): ${s.admitted} admitted, ${s.refused} refused, ${s.unreachable} unreachable — connect ${summary.connectSeconds.toFixed(1)} s`,
    `  sessions     ${summary.sessions.established} established, ${summary.sessions.resumed} resumed, ${summary.sessions.lost} lost`,
    `  messages     ${m.generated} generated, ${m.sent} sent, ${m.acknowledged} acknowledged, ${m.rejected} rejected, ${m.lost} lost, ${m.unanswered} unanswered, ${m.unsent} unsent, ${m.dropped} dropped`,
    `  5.03 waits   ${m.serviceUnavailable}`,
    `  rate         target ${summary.rates.targetPerSecond}/s, generated ${summary.rates.generatedPerSecond}/s over ${summary.generatingSeconds.toFixed(1)} s, acknowledged ${summary.rates.acknowledgedPerSecond}/s over ${summary.runSeconds.toFixed(1)} s (with the drain)`,
    `  latency      p50 ${ms(summary.latencyMs.p50)}, p99 ${ms(summary.latencyMs.p99)}, max ${ms(summary.latencyMs.max)} (${summary.latencyMs.count} acknowledgements)`,
    `  commands     ${summary.commandsReceived} received`,
  ];
  if (Object.keys(summary.rejectedByCode).length > 0) {
    lines.push(`  rejected     ${entries(summary.rejectedByCode)}`);
  }
  const requested = Object.values(summary.badActors.requested).reduce((sum, n) => sum + (n ?? 0), 0);
  if (requested > 0) {
    lines.push(
      `  bad actors   ${requested} (${entries(summary.badActors.requested as Record<string, number>)}): ${summary.badActors.refused} refused${
        summary.badActors.notRefused.length > 0
          ? `, NOT refused: ${summary.badActors.notRefused.join(', ')}`
          : ''
      }`,
    );
  }
  for (const [reason, count] of Object.entries(summary.refusalsByReason)) {
    lines.push(`  refused      ${count} × ${reason}`);
  }
  if (summary.honestRefused.length > 0) {
    lines.push(`  honest sensors refused: ${summary.honestRefused.join(', ')}`);
  }
  return `${lines.join('\n')}\n`;
}

function ms(value: number | null): string {
  return value === null ? '–' : `${value} ms`;
}

function entries(record: Record<string, number>): string {
  return Object.entries(record)
    .map(([key, count]) => `${key} ${count}`)
    .join(', ');
}
