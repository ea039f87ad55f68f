/**
 * One connector per `STATE_DIR`: two processes sharing the local store would each take the
 * other's call records for orphans of a crash and end live calls. The lock is an SQLite database
 * (`instance.lock`) held in exclusive locking mode: the operating system releases it when the
 * process dies, `kill -9` included, so a crash never leaves a stale lock behind. The state
 * database itself stays shared-readable, so `whatsapp-connector queues` works while the
 * connector runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { StateDirLockedError } from '../store-errors.js';

export const LOCK_FILE = 'instance.lock';
/** Plain-text pid of the holder, only to name it in the error (the lock is the database). */
const HOLDER_FILE = 'instance.pid';

/** The held lock; `release()` is idempotent. */
export interface StateDirLock {
  release(): void;
}

/**
 * Take the lock of `dir` (which must exist).
 * @throws StateDirLockedError when another live process holds it.
 */
export function lockStateDir(dir: string): StateDirLock {
  const db = new Database(join(dir, LOCK_FILE), { timeout: 0 });
  try {
    db.pragma('locking_mode = EXCLUSIVE');
    db.pragma('journal_mode = DELETE');
    // The first write takes the exclusive lock, kept until the connection closes.
    db.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER); DELETE FROM holder;');
    db.prepare('INSERT INTO holder (pid) VALUES (?)').run(process.pid);
  } catch (err) {
    db.close();
    const code = (err as { code?: unknown }).code;
    if (code === 'SQLITE_BUSY' || code === 'SQLITE_LOCKED') {
      throw new StateDirLockedError(dir, readHolder(dir));
    }
    throw err;
  }
  try {
    writeFileSync(join(dir, HOLDER_FILE), `${process.pid}\n`, { mode: 0o600 });
  } catch {
    // Only used to name the holder in an error message.
  }
  return {
    release() {
      if (db.open) db.close();
    },
  };
}

function readHolder(dir: string): number | undefined {
  try {
    const pid = Number(readFileSync(join(dir, HOLDER_FILE), 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}
