/**
 * The upstream side: the gateway's MQTT 5 client to the broker (TelemetrySink and CommandSource of
 * the CoAP proxy), its SQLite outbox and its command inbox.
 */
export { CommandInbox, type CommandInboxStats } from './command-inbox.js';
export type { CommandIngressStats } from './command-ingress.js';
export type { CommandRefusal, CommandRefusalReason } from './command-refusals.js';
export { contentFormatOf, contentTypeOf } from './content-format.js';
export {
  Outbox,
  type OutboxAccepted,
  OutboxError,
  type OutboxErrorCode,
  type OutboxMessage,
  type OutboxRefusal,
  type OutboxRow,
  type OutboxSettings,
  type OutboxStats,
  outboxOldestCreatedAt,
} from './outbox/index.js';
export { ReconnectBackoff } from './reconnect-backoff.js';
export { UpstreamClient } from './upstream-client.js';
export type {
  UpstreamClientEvents,
  UpstreamClientOptions,
  UpstreamCredentials,
  UpstreamLog,
  UpstreamStatus,
} from './upstream-client-options.js';
export { UpstreamError, type UpstreamErrorCode } from './upstream-error.js';
