/** What the sensor endpoint's CoAP routes did since start, for `gatewayctl status`. */
export interface CoapRouterStatus {
  /** Requests routed (duplicates not included). */
  requests: number;
  /** Retransmitted or duplicated requests that were not processed again. */
  duplicatesIgnored: number;
  /** Telemetry messages the sink made durable (answered 2.04). */
  telemetryAccepted: number;
  /** Payload bytes of those messages. */
  telemetryBytes: number;
  /** Telemetry retransmitted over a new session after it was stored: answered 2.04 again, not stored twice. */
  telemetryAlreadyStored: number;
  /** Error responses by code, e.g. { "4.03": 2, "5.03": 1 }. */
  refused: Record<string, number>;
  /** Success responses by code, e.g. { "2.04": 24, "2.05": 6, "2.31": 3 } (cached answers to duplicates not included). */
  answered: Record<string, number>;
  /** Block-wise request bodies being reassembled now. */
  blockwiseInProgress: number;
  /** Sensors observing /commands now. */
  observers: number;
  /** Command notifications sent (retransmissions not counted) and acknowledged by the sensor. */
  commandsSent: number;
  commandsDelivered: number;
  /** Of those sent, commands larger than one block, sent block-wise (Block2). */
  commandsSentBlockwise: number;
  /** Commands passed over so that the ones behind them go: over MAX_COMMAND_PAYLOAD_BYTES, or their blocks not fetched. */
  commandsSkipped: number;
  /** Answers that could not be encoded (a gateway bug: each is logged and answered 5.00). */
  answersFailed: number;
  /** Messages dropped before routing: a token longer than 8 bytes (RFC 7252 §3). */
  requestsDropped: number;
}

/** The counters behind CoapRouterStatus that only grow. */
export class CoapCounters {
  requests = 0;
  duplicatesIgnored = 0;
  telemetryAccepted = 0;
  telemetryBytes = 0;
  telemetryAlreadyStored = 0;
  commandsSent = 0;
  commandsDelivered = 0;
  commandsSentBlockwise = 0;
  commandsSkipped = 0;
  answersFailed = 0;
  requestsDropped = 0;
  readonly #refused: Record<string, number> = {};
  readonly #answered: Record<string, number> = {};

  refused(code: string): void {
    this.#refused[code] = (this.#refused[code] ?? 0) + 1;
  }

  answered(code: string): void {
    this.#answered[code] = (this.#answered[code] ?? 0) + 1;
  }

  status(now: { blockwiseInProgress: number; observers: number }): CoapRouterStatus {
    return {
      requests: this.requests,
      duplicatesIgnored: this.duplicatesIgnored,
      telemetryAccepted: this.telemetryAccepted,
      telemetryBytes: this.telemetryBytes,
      telemetryAlreadyStored: this.telemetryAlreadyStored,
      refused: { ...this.#refused },
      answered: { ...this.#answered },
      blockwiseInProgress: now.blockwiseInProgress,
      observers: now.observers,
      commandsSent: this.commandsSent,
      commandsDelivered: this.commandsDelivered,
      commandsSentBlockwise: this.commandsSentBlockwise,
      commandsSkipped: this.commandsSkipped,
      answersFailed: this.answersFailed,
      requestsDropped: this.requestsDropped,
    };
  }
}
