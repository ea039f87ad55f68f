import type { CallRecord, CallRecordUpdate } from './call-record.js';

/**
 * Call records, persisted: written when a call starts (`put`), changed with its state (`update`),
 * removed once it has ended at Meta (`remove`). After a crash, the restarted process lists what it
 * owned (`listByOwner`) and ends those calls; in a cluster, survivors find the records of an
 * instance that stopped heartbeating (`owners`, `listByOwner`) and take them over one at a time
 * (`transfer`, which only one of them wins).
 *
 * Every method may throw `StoreUnavailableError` (retryable) when the store cannot be reached.
 */
export interface CallStore {
  /** Create or replace the record of `record.callId`. */
  put(record: CallRecord): Promise<void>;
  /** Change some fields (and `updatedAt`); false when there is no such record. */
  update(callId: string, changes: CallRecordUpdate): Promise<boolean>;
  /** Forget a call. Idempotent. */
  remove(callId: string): Promise<void>;
  get(callId: string): Promise<CallRecord | undefined>;
  /** The records owned by one instance, oldest first. */
  listByOwner(owner: string): Promise<CallRecord[]>;
  /** The instance ids that own at least one record. */
  owners(): Promise<string[]>;
  /**
   * Move a record from owner `from` to owner `to`, only if `from` still owns it: of several
   * instances racing to take over a dead one's call, exactly one gets true.
   */
  transfer(callId: string, from: string, to: string): Promise<boolean>;
}
