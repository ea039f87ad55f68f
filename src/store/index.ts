export type {
  CallRecord,
  CallRecordDirection,
  CallRecordUpdate,
  TokenReference,
} from './call-record.js';
export type { CallStore } from './call-store.js';
export {
  DEFAULT_QUEUE_POLICY,
  backoffMs,
  queuePolicy,
  type DeadLetter,
  type DurableQueue,
  type QueueEntry,
  type QueuePolicy,
  type QueueSizes,
  type RetryOutcome,
} from './durable-queue.js';
export { openStateStore, type OpenStateStoreOptions } from './open-state-store.js';
export {
  QueueConsumer,
  type DeliveryOutcome,
  type QueueConsumerOptions,
} from './queue-consumer.js';
export {
  FORWARD_QUEUE,
  WEBHOOK_QUEUE,
  systemClock,
  type StateStore,
  type StateStoreClock,
} from './state-store.js';
export {
  QueueFullError,
  StateDirLockedError,
  StoreError,
  StoreUnavailableError,
  TokenSealError,
} from './store-errors.js';
export { TokenSealer } from './token-sealer.js';
