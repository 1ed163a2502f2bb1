export { Outbox } from './outbox.js';
export { OutboxError, type OutboxErrorCode } from './outbox-error.js';
export { outboxOldestCreatedAt } from './outbox-oldest.js';
export type {
  OutboxAccepted,
  OutboxMessage,
  OutboxRefusal,
  OutboxRow,
  OutboxSettings,
  OutboxStats,
} from './outbox-types.js';
