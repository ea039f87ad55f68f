import { join } from 'node:path';
import type Database from 'better-sqlite3';
import { queuePolicy, type QueuePolicy } from '../durable-queue.js';
import { systemClock, type StateStore, type StateStoreClock } from '../state-store.js';
import { SqliteCallStore } from './sqlite-call-store.js';
import { DATABASE_FILE, guard, openDatabase } from './sqlite-database.js';
import { SqliteQueue } from './sqlite-queue.js';
import { lockStateDir, type StateDirLock } from './state-dir-lock.js';

/** The local state store: one SQLite database in `STATE_DIR`. */
export class SqliteStateStore implements StateStore {
  readonly kind = 'sqlite';
  readonly location: string;
  readonly calls: SqliteCallStore;
  readonly #db: Database.Database;
  readonly #clock: StateStoreClock;
  readonly #queues = new Map<string, SqliteQueue>();
  readonly #lock: StateDirLock | undefined;

  private constructor(
    db: Database.Database,
    location: string,
    clock: StateStoreClock,
    lock: StateDirLock | undefined,
  ) {
    this.#db = db;
    this.#lock = lock;
    this.#clock = clock;
    this.location = location;
    this.calls = new SqliteCallStore(db, clock);
  }

  /**
   * Open the store in `dir`, creating it if needed. `exclusive` (the connector itself, not the
   * CLI's readers) also takes the directory's lock for as long as the store is open.
   * @throws StoreUnavailableError when it cannot be opened; StateDirLockedError when `exclusive`
   * and another process holds the directory.
   */
  static open(
    dir: string,
    clock: StateStoreClock = systemClock,
    options: { exclusive?: boolean } = {},
  ): SqliteStateStore {
    const db = openDatabase(dir);
    let lock: StateDirLock | undefined;
    try {
      if (options.exclusive) {
        lock = lockStateDir(dir);
        // Only this process uses the directory now: whatever was claimed was claimed by a process
        // that is gone, so it is due again at once instead of after its lease.
        guard(() =>
          db
            .prepare(
              'UPDATE queue_entries SET claimed_by = NULL, lease_until = NULL WHERE lease_until IS NOT NULL',
            )
            .run(),
        );
      }
    } catch (err) {
      lock?.release();
      db.close();
      throw err;
    }
    return new SqliteStateStore(db, join(dir, DATABASE_FILE), clock, lock);
  }

  queue(name: string, policy: Partial<QueuePolicy> = {}): SqliteQueue {
    let queue = this.#queues.get(name);
    if (!queue) {
      queue = new SqliteQueue(this.#db, name, queuePolicy(policy), this.#clock);
      this.#queues.set(name, queue);
    }
    return queue;
  }

  async close(): Promise<void> {
    if (this.#db.open) this.#db.close();
    this.#lock?.release();
  }
}
