import type { LatencySummary } from './latency-recorder.js';
import type { SensorRole } from './sensor-credentials.js';

/**
 * Where a sensor is: 'connected' has a DTLS session; 'backoff' waits to (re)connect; 'refused' was
 * turned away by the gateway (handshake alert, or 4.03) and stays away; 'unreachable' gave up after
 * its connection attempts failed without an answer; 'stopped' was stopped.
 */
export type SensorState =
  | 'new'
  | 'connecting'
  | 'connected'
  | 'backoff'
  | 'refused'
  | 'unreachable'
  | 'stopped';

/** Why the gateway turned a sensor away. */
export interface SensorRefusal {
  /** 'handshake': DTLS refused (alert); 'request': a CoAP 4.xx to a request the sensor depends on. */
  stage: 'handshake' | 'request';
  /** The alert ("certificate revoked", …) or the diagnostic payload of the CoAP response. */
  reason: string;
  /** CoAP response code of a 'request' refusal ("4.03"); the TLS error code of a 'handshake' one. */
  code: string;
  /** The request's method and path, for a 'request' refusal. */
  request?: string;
}

/** One Observe notification of /commands with a payload. */
export interface SensorCommand {
  receivedAt: string;
  /** Content-Format as node-coap names it ("application/json"), when the notification had one. */
  contentFormat: string | null;
  /** The payload as UTF-8 text. */
  payload: string;
}

/**
 * Telemetry counters of one sensor. They add up:
 *   generated = sent + unsent + dropped
 *   sent      = acknowledged + rejected + lost + unanswered
 */
export interface SensorMessageCounts {
  /** Messages made (each with its own sequence number). */
  generated: number;
  /** Messages transmitted at least once. */
  sent: number;
  /** Answered 2.xx. */
  acknowledged: number;
  /** Answered with a final error code (4.xx, 5.xx other than 5.03): see rejectedByCode. */
  rejected: number;
  /** Given up after their attempts went unanswered. */
  lost: number;
  /** In flight (or waiting out a Max-Age) when the sensor stopped. */
  unanswered: number;
  /** Still queued, never sent, when the sensor stopped. */
  unsent: number;
  /** Discarded unsent: the queue overflowed, or the sensor was refused or gave up. */
  dropped: number;
  /** 5.03 answers: each made the sensor wait Max-Age and send the same message again. */
  serviceUnavailable: number;
}

/** Absent values are null, not undefined: the summary's JSON keeps every key. */
export interface SensorResult {
  name: string;
  role: SensorRole;
  state: SensorState;
  /** Had a DTLS session at least once. */
  admitted: boolean;
  refusal: SensorRefusal | null;
  /** For the unauthorized bad actor: the forbidden request was answered 2.xx (the gateway let it through). */
  forbiddenRequestAllowed: boolean;
  sessions: number;
  resumedSessions: number;
  /** Sessions that ended without the sensor closing them. */
  sessionsLost: number;
  messages: SensorMessageCounts;
  rejectedByCode: Record<string, number>;
  /** From sending the attempt that was acknowledged to its 2.xx (after any Max-Age wait). */
  latencyMs: LatencySummary;
  /**
   * Every notification with a payload, in arrival order. A command the gateway sends again (its
   * ACK got lost) is listed again: node-coap 1.5 hands the ETag over as UTF-8 text, which loses
   * the bytes of a binary tag, so repeats cannot be told apart reliably here.
   */
  commands: SensorCommand[];
  /** Gateway clock minus sensor clock, from GET /time (null when it did not answer usefully). */
  clockOffsetMs: number | null;
  /** Paths listed by GET /.well-known/core (null when it did not answer 2.05). */
  discoveredResources: string[] | null;
  /** Local UDP port of the current or last session (null before the first). */
  localPort: number | null;
  /**
   * The last connection attempt that failed without a verdict (timeout, or a local error such as
   * EMFILE: each sensor holds one UDP socket): why an 'unreachable' sensor gave up.
   */
  lastConnectError: string | null;
}
