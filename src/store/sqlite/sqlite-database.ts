/**
 * The local state database: one SQLite file (`state.sqlite` in `STATE_DIR`) in WAL mode with
 * synchronous (FULL) commits, so a transaction that returned survives a crash of the process and
 * of the machine. better-sqlite3 is synchronous: each statement blocks the event loop for its
 * fsync (about a millisecond on an SSD), which is the price of answering Meta only once an event
 * is on disk.
 */
import { chmodSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StoreUnavailableError } from '../store-errors.js';

export const DATABASE_FILE = 'state.sqlite';

/** Schema version in `PRAGMA user_version`; a newer file than this code is refused. */
const SCHEMA_VERSION = 1;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS calls (
  call_id TEXT PRIMARY KEY,
  phone_number_id TEXT NOT NULL,
  direction TEXT NOT NULL,
  api_version TEXT NOT NULL,
  token TEXT NOT NULL,
  owner TEXT NOT NULL,
  room_name TEXT NOT NULL,
  participant_identity TEXT NOT NULL,
  state TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS calls_by_owner ON calls (owner, created_at);

CREATE TABLE IF NOT EXISTS queue_entries (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  payload BLOB NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  enqueued_at INTEGER NOT NULL,
  visible_at INTEGER NOT NULL,
  claimed_by TEXT,
  lease_until INTEGER,
  last_error TEXT
);
CREATE INDEX IF NOT EXISTS queue_entries_due ON queue_entries (queue, visible_at, id);

CREATE TABLE IF NOT EXISTS dead_letters (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  queue TEXT NOT NULL,
  payload BLOB NOT NULL,
  attempts INTEGER NOT NULL,
  enqueued_at INTEGER NOT NULL,
  failed_at INTEGER NOT NULL,
  reason TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS dead_letters_by_queue ON dead_letters (queue, id);
`;

/** SQLite result codes that mean "not now" rather than a bug: locked, full, I/O. */
const UNAVAILABLE = /^SQLITE_(BUSY|LOCKED|FULL|IOERR|CANTOPEN|READONLY|PROTOCOL)/;

/** Run `fn`, turning SQLite's transient failures into {@link StoreUnavailableError}. */
export function guard<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === 'string' && UNAVAILABLE.test(code)) {
      throw new StoreUnavailableError(`local state store unavailable (${code})`, { cause: err });
    }
    throw err;
  }
}

/**
 * Open (creating it if needed) the database in `dir`. The directory is private to the user
 * (0700): it holds sealed tokens and phone-number-bearing room names.
 * @throws StoreUnavailableError when the directory or file cannot be opened.
 */
export function openDatabase(dir: string): Database.Database {
  return guard(() => {
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (err) {
      throw new StoreUnavailableError(`cannot create STATE_DIR ${dir}: ${(err as Error).message}`, {
        cause: err,
      });
    }
    const path = join(dir, DATABASE_FILE);
    const db = new Database(path);
    try {
      chmodSync(path, 0o600);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      // Another process holding the write lock (an old instance still shutting down) is waited
      // for, not failed on.
      db.pragma('busy_timeout = 5000');
      const version = db.pragma('user_version', { simple: true }) as number;
      if (version > SCHEMA_VERSION) {
        throw new StoreUnavailableError(
          `${path} was written by a newer whatsapp-connector (schema ${version}); use that version or another STATE_DIR`,
        );
      }
      db.exec(SCHEMA);
      db.pragma(`user_version = ${SCHEMA_VERSION}`);
      return db;
    } catch (err) {
      db.close();
      throw err;
    }
  });
}
