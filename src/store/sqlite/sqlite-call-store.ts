import type Database from 'better-sqlite3';
import type { CallRecord, CallRecordUpdate, TokenReference } from '../call-record.js';
import type { CallStore } from '../call-store.js';
import type { StateStoreClock } from '../state-store.js';
import { guard } from './sqlite-database.js';

interface CallRow {
  call_id: string;
  phone_number_id: string;
  direction: string;
  api_version: string;
  token: string;
  owner: string;
  room_name: string;
  participant_identity: string;
  state: string;
  created_at: number;
  updated_at: number;
}

function toRecord(row: CallRow): CallRecord {
  return {
    callId: row.call_id,
    phoneNumberId: row.phone_number_id,
    direction: row.direction === 'outbound' ? 'outbound' : 'inbound',
    apiVersion: row.api_version,
    token: JSON.parse(row.token) as TokenReference,
    owner: row.owner,
    roomName: row.room_name,
    participantIdentity: row.participant_identity,
    state: row.state,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  };
}

/** Columns `update` may change, by record field. */
const UPDATABLE: Record<keyof CallRecordUpdate, string> = {
  state: 'state',
  roomName: 'room_name',
  participantIdentity: 'participant_identity',
  token: 'token',
  apiVersion: 'api_version',
};

/** Call records in the local SQLite database. Each method is one committed statement. */
export class SqliteCallStore implements CallStore {
  readonly #db: Database.Database;
  readonly #clock: StateStoreClock;
  readonly #put: Database.Statement;
  readonly #get: Database.Statement<[string], CallRow>;
  readonly #remove: Database.Statement;
  readonly #byOwner: Database.Statement<[string], CallRow>;
  readonly #owners: Database.Statement<[], { owner: string }>;
  readonly #transfer: Database.Statement;

  constructor(db: Database.Database, clock: StateStoreClock) {
    this.#db = db;
    this.#clock = clock;
    this.#put = db.prepare(
      `INSERT OR REPLACE INTO calls (call_id, phone_number_id, direction, api_version, token, owner,
         room_name, participant_identity, state, created_at, updated_at)
       VALUES (@callId, @phoneNumberId, @direction, @apiVersion, @token, @owner, @roomName,
         @participantIdentity, @state, @createdAt, @updatedAt)`,
    );
    this.#get = db.prepare('SELECT * FROM calls WHERE call_id = ?');
    this.#remove = db.prepare('DELETE FROM calls WHERE call_id = ?');
    this.#byOwner = db.prepare('SELECT * FROM calls WHERE owner = ? ORDER BY created_at, call_id');
    this.#owners = db.prepare('SELECT DISTINCT owner FROM calls ORDER BY owner');
    this.#transfer = db.prepare(
      'UPDATE calls SET owner = ?, updated_at = ? WHERE call_id = ? AND owner = ?',
    );
  }

  async put(record: CallRecord): Promise<void> {
    guard(() => this.#put.run({ ...record, token: JSON.stringify(record.token) }));
  }

  async update(callId: string, changes: CallRecordUpdate): Promise<boolean> {
    const sets: string[] = ['updated_at = @updatedAt'];
    const params: Record<string, unknown> = { callId, updatedAt: this.#clock.now() };
    for (const [field, column] of Object.entries(UPDATABLE)) {
      const value = changes[field as keyof CallRecordUpdate];
      if (value === undefined) continue;
      sets.push(`${column} = @${field}`);
      params[field] = field === 'token' ? JSON.stringify(value) : value;
    }
    const sql = `UPDATE calls SET ${sets.join(', ')} WHERE call_id = @callId`;
    return guard(() => this.#db.prepare(sql).run(params).changes > 0);
  }

  async remove(callId: string): Promise<void> {
    guard(() => this.#remove.run(callId));
  }

  async get(callId: string): Promise<CallRecord | undefined> {
    const row = guard(() => this.#get.get(callId));
    return row ? toRecord(row) : undefined;
  }

  async listByOwner(owner: string): Promise<CallRecord[]> {
    return guard(() => this.#byOwner.all(owner)).map(toRecord);
  }

  async owners(): Promise<string[]> {
    return guard(() => this.#owners.all()).map((r) => r.owner);
  }

  async transfer(callId: string, from: string, to: string): Promise<boolean> {
    return guard(() => this.#transfer.run(to, this.#clock.now(), callId, from).changes === 1);
  }
}
