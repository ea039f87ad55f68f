import type Database from 'better-sqlite3';
import {
  backoffMs,
  type DeadLetter,
  type DurableQueue,
  type QueueEntry,
  type QueuePolicy,
  type QueueSizes,
  type RetryOutcome,
} from '../durable-queue.js';
import type { StateStoreClock } from '../state-store.js';
import { QueueFullError } from '../store-errors.js';
import { guard } from './sqlite-database.js';

interface EntryRow {
  id: number;
  payload: Buffer;
  attempts: number;
  enqueued_at: number;
  last_error: string | null;
  lease_until: number | null;
}

interface DeadRow {
  id: number;
  payload: Buffer;
  attempts: number;
  enqueued_at: number;
  failed_at: number;
  reason: string;
}

/**
 * A durable queue in the local SQLite database (table `queue_entries`, dead letters in
 * `dead_letters`). Claims, retries and dead-lettering are single transactions.
 */
export class SqliteQueue implements DurableQueue {
  readonly name: string;
  readonly policy: QueuePolicy;
  readonly #clock: StateStoreClock;
  readonly #count: Database.Statement<[string], { n: number }>;
  readonly #insert: Database.Statement;
  readonly #due: Database.Statement<[string, number, number, number], EntryRow>;
  readonly #lease: Database.Statement;
  readonly #delete: Database.Statement;
  readonly #reschedule: Database.Statement;
  readonly #bury: Database.Statement;
  readonly #trimDead: Database.Statement;
  readonly #sizes: Database.Statement<[{ now: number; queue: string }], Omit<QueueSizes, 'dead'>>;
  readonly #deadCount: Database.Statement<[string], { n: number }>;
  readonly #deadList: Database.Statement<[string, number], DeadRow>;
  readonly #enqueue: (payload: Buffer) => string;
  readonly #claim: (consumer: string, max: number) => QueueEntry[];
  readonly #toDead: (id: number, consumer: string | undefined, reason: string) => boolean;
  readonly #db: Database.Database;

  constructor(db: Database.Database, name: string, policy: QueuePolicy, clock: StateStoreClock) {
    this.name = name;
    this.policy = policy;
    this.#clock = clock;
    this.#db = db;
    this.#count = db.prepare('SELECT COUNT(*) AS n FROM queue_entries WHERE queue = ?');
    this.#insert = db.prepare(
      `INSERT INTO queue_entries (queue, payload, attempts, enqueued_at, visible_at)
       VALUES (?, ?, 0, ?, ?)`,
    );
    this.#due = db.prepare(
      `SELECT id, payload, attempts, enqueued_at, last_error, lease_until FROM queue_entries
       WHERE queue = ? AND visible_at <= ? AND (lease_until IS NULL OR lease_until <= ?)
       ORDER BY id LIMIT ?`,
    );
    this.#lease = db.prepare(
      `UPDATE queue_entries SET attempts = attempts + 1, claimed_by = ?, lease_until = ?
       WHERE id = ?`,
    );
    this.#delete = db.prepare('DELETE FROM queue_entries WHERE id = ? AND queue = ?');
    this.#reschedule = db.prepare(
      `UPDATE queue_entries SET visible_at = ?, claimed_by = NULL, lease_until = NULL,
         last_error = ?
       WHERE id = ? AND queue = ? AND claimed_by = ?`,
    );
    this.#bury = db.prepare(
      `INSERT INTO dead_letters (queue, payload, attempts, enqueued_at, failed_at, reason)
       SELECT queue, payload, attempts, enqueued_at, ?, ? FROM queue_entries
       WHERE id = ? AND queue = ? AND (? IS NULL OR claimed_by = ?)`,
    );
    this.#trimDead = db.prepare(
      `DELETE FROM dead_letters WHERE queue = ? AND id NOT IN
         (SELECT id FROM dead_letters WHERE queue = ? ORDER BY id DESC LIMIT ?)`,
    );
    this.#sizes = db.prepare(
      `SELECT
         COALESCE(SUM(CASE WHEN lease_until > @now THEN 1 ELSE 0 END), 0) AS inFlight,
         COALESCE(SUM(CASE WHEN (lease_until IS NULL OR lease_until <= @now) AND visible_at > @now
           THEN 1 ELSE 0 END), 0) AS delayed,
         COALESCE(SUM(CASE WHEN (lease_until IS NULL OR lease_until <= @now) AND visible_at <= @now
           THEN 1 ELSE 0 END), 0) AS ready
       FROM queue_entries WHERE queue = @queue`,
    );
    this.#deadCount = db.prepare('SELECT COUNT(*) AS n FROM dead_letters WHERE queue = ?');
    this.#deadList = db.prepare(
      `SELECT id, payload, attempts, enqueued_at, failed_at, reason FROM dead_letters
       WHERE queue = ? ORDER BY id DESC LIMIT ?`,
    );

    this.#enqueue = db.transaction((payload: Buffer) => {
      if (this.#count.get(name)!.n >= policy.capacity) {
        throw new QueueFullError(name, policy.capacity);
      }
      const now = this.#clock.now();
      return String(this.#insert.run(name, payload, now, now).lastInsertRowid);
    });
    this.#toDead = db.transaction((id: number, consumer: string | undefined, reason: string) => {
      const owner = consumer ?? null;
      if (this.#bury.run(this.#clock.now(), reason, id, name, owner, owner).changes === 0) {
        return false;
      }
      this.#delete.run(id, name);
      this.#trimDead.run(name, name, policy.deadLetterCapacity);
      return true;
    });
    this.#claim = db.transaction((consumer: string, max: number) => {
      const now = this.#clock.now();
      const out: QueueEntry[] = [];
      for (const row of this.#due.all(name, now, now, max)) {
        if (row.attempts >= policy.maxAttempts) {
          // Its consumer stopped during the last attempt allowed (a crash, or an entry that
          // crashes the process every time): no further delivery.
          this.#toDead(
            row.id,
            undefined,
            `abandoned after ${row.attempts} attempts: lease ran out`,
          );
          continue;
        }
        this.#lease.run(consumer, now + policy.leaseMs, row.id);
        out.push({
          id: String(row.id),
          payload: row.payload,
          attempts: row.attempts + 1,
          enqueuedAt: row.enqueued_at,
          lastError: row.last_error ?? undefined,
          consumer,
        });
      }
      return out;
    });
  }

  async enqueue(payload: Buffer | string): Promise<string> {
    const bytes = typeof payload === 'string' ? Buffer.from(payload, 'utf8') : payload;
    return guard(() => this.#enqueue(bytes));
  }

  async claim(consumer: string, max = 16): Promise<QueueEntry[]> {
    return guard(() => this.#claim(consumer, max));
  }

  async ack(entry: QueueEntry): Promise<void> {
    guard(() => this.#delete.run(Number(entry.id), this.name));
  }

  async retry(entry: QueueEntry, reason: string): Promise<RetryOutcome> {
    if (entry.attempts >= this.policy.maxAttempts) {
      await this.deadLetter(entry, `gave up after ${entry.attempts} attempts: ${reason}`);
      return 'dead';
    }
    const due = this.#clock.now() + backoffMs(this.policy, entry.attempts);
    guard(() => this.#reschedule.run(due, reason, Number(entry.id), this.name, entry.consumer));
    return 'scheduled';
  }

  async deadLetter(entry: QueueEntry, reason: string): Promise<void> {
    guard(() => this.#toDead(Number(entry.id), entry.consumer, reason));
  }

  async sizes(): Promise<QueueSizes> {
    const now = this.#clock.now();
    return guard(() => ({
      ...this.#sizes.get({ now, queue: this.name })!,
      dead: this.#deadCount.get(this.name)!.n,
    }));
  }

  async requeueDead(ids?: readonly string[]): Promise<number> {
    const where = deadSelection(ids);
    const move = this.#db.transaction(() => {
      const now = this.#clock.now();
      const moved = this.#db
        .prepare(
          `INSERT INTO queue_entries (queue, payload, attempts, enqueued_at, visible_at, last_error)
           SELECT queue, payload, 0, enqueued_at, ?, 'requeued from dead letters: ' || reason
           FROM dead_letters WHERE queue = ? ${where.sql} ORDER BY id`,
        )
        .run(now, this.name, ...where.params).changes;
      this.#db
        .prepare(`DELETE FROM dead_letters WHERE queue = ? ${where.sql}`)
        .run(this.name, ...where.params);
      return moved;
    });
    return guard(() => move());
  }

  async dropDead(ids?: readonly string[]): Promise<number> {
    const where = deadSelection(ids);
    return guard(
      () =>
        this.#db
          .prepare(`DELETE FROM dead_letters WHERE queue = ? ${where.sql}`)
          .run(this.name, ...where.params).changes,
    );
  }

  async deadLetters(limit = 50): Promise<DeadLetter[]> {
    return guard(() => this.#deadList.all(this.name, limit)).map((row) => ({
      id: String(row.id),
      payload: row.payload,
      attempts: row.attempts,
      enqueuedAt: row.enqueued_at,
      failedAt: row.failed_at,
      reason: row.reason,
    }));
  }
}

/** The SQL condition (after `queue = ?`) selecting dead letters by id; all when `ids` is undefined. */
function deadSelection(ids: readonly string[] | undefined): { sql: string; params: number[] } {
  if (ids === undefined) return { sql: '', params: [] };
  const numbers = ids.map(Number).filter((n) => Number.isInteger(n) && n > 0);
  if (numbers.length === 0) return { sql: 'AND 0', params: [] };
  return { sql: `AND id IN (${numbers.map(() => '?').join(', ')})`, params: numbers };
}
