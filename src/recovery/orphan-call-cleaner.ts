/**
 * Ends the calls a dead process left behind: live at Meta (and billed) and with a connector
 * participant in their room, but with nobody to carry their media. Their records (see
 * `call-journal.ts`) say which call, on which number, with which token and in which room.
 *
 * - Local store (SQLite, one process per `STATE_DIR`): every record found at start belongs to a
 *   process that is gone (the directory lock guarantees it), so all of them are orphans.
 * - Redis: records of instances whose heartbeats lapsed, found at start and then every
 *   `intervalMs` by every live instance; each record is taken over atomically (`transfer`), so
 *   exactly one survivor ends each call.
 *
 * Ending one call: `terminate` at Meta (a call that may have been pre-accepted or accepted can
 * only be terminated); if Meta refuses because the call was never answered, `reject`; a refusal
 * of both means Meta has ended it already. Then the participant is removed from the room and the
 * record dropped. A Meta that cannot be reached (timeout, 5xx, 429) keeps the record for the next
 * round.
 */
import { RoomServiceClient } from 'livekit-server-sdk';
import type { GraphCallsPort } from '../calls/call-ports.js';
import type { Logger } from '../log/index.js';
import type { CallRecord, CallStore, TokenSealer } from '../store/index.js';
import { GraphApiError } from '../whatsapp/graph-api-error.js';

/** Default period of the orphan scan, ms: well within the 35 s an orphan may live. */
export const DEFAULT_ORPHAN_SCAN_INTERVAL_MS = 5000;
/** Longest one Meta request of the cleaner may take, ms. */
const META_REQUEST_TIMEOUT_MS = 10_000;
/** Longest the participant removal may take, ms. */
const ROOM_REQUEST_TIMEOUT_MS = 5000;
/**
 * A record under this instance's own id that no call here holds (left by a predecessor with the
 * same `INSTANCE_ID`, or kept because Meta never confirmed an end) counts as orphaned once it has
 * not changed for this long, ms: shorter-lived ones may be a call whose record is being removed.
 */
const OWN_RECORD_QUIET_MS = 10_000;

/** Removes a participant from a LiveKit room (RoomService). */
export interface RoomParticipantRemover {
  removeParticipant(roomName: string, identity: string): Promise<void>;
}

/** The RoomService of `livekit` as a {@link RoomParticipantRemover}. */
export function roomServiceRemover(livekit: {
  url: string;
  apiKey: string;
  apiSecret: string;
}): RoomParticipantRemover {
  const rooms = new RoomServiceClient(
    livekit.url.replace(/^ws/, 'http'),
    livekit.apiKey,
    livekit.apiSecret,
  );
  return {
    async removeParticipant(roomName, identity) {
      await rooms.removeParticipant(roomName, identity);
    },
  };
}

export interface OrphanCallCleanerOptions {
  /** Required - the call records. */
  store: CallStore;
  /** Required - `local`: every record is an orphan; `cluster`: those of dead instances. */
  mode: 'local' | 'cluster';
  /** Required - this instance's id (`INSTANCE_ID`). */
  self: string;
  /** Cluster mode: the ids of the live instances (heartbeating); throws when unknown. */
  liveInstances?: () => Promise<Set<string>>;
  /**
   * Required - whether this process holds the call now: such a record is its own, never an
   * orphan (a call may start between listening and the first scan).
   */
  holds(callId: string): boolean;
  /** Required - Graph API (terminate, reject). */
  graph: Pick<GraphCallsPort, 'terminateCall' | 'rejectCall'>;
  /** Required - opens sealed tokens. */
  sealer: TokenSealer;
  /** Required - the token configured for a business number, if any. Secret. */
  configuredToken(phoneNumberId: string): string | undefined;
  /** Required - removes the connector participant from the call's room. */
  rooms: RoomParticipantRemover;
  /** Optional - period of the scan, ms. Default {@link DEFAULT_ORPHAN_SCAN_INTERVAL_MS}. */
  intervalMs?: number;
  /** Optional - told of every call ended (tests, metrics). */
  onCleaned?(record: CallRecord, outcome: OrphanOutcome): void;
  logger: Logger;
}

/** How an orphan was ended at Meta. */
export type OrphanOutcome = 'terminated' | 'rejected' | 'already_ended' | 'no_token';

/** Ends calls of dead processes; see the module comment. */
export class OrphanCallCleaner {
  readonly #options: OrphanCallCleanerOptions;
  readonly #log: Logger;
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = false;
  /** The last scan failed (store down): the next failures are logged at debug. */
  #scanFailing = false;
  /** Local mode: the records found at start, the only ones that are orphans. */
  #pendingLocal: Set<string> | undefined;

  constructor(options: OrphanCallCleanerOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'orphan-call-cleaner' });
    this.#intervalMs = options.intervalMs ?? DEFAULT_ORPHAN_SCAN_INTERVAL_MS;
  }

  /**
   * Start: a first scan now (not awaited: Meta may be slow, and the instance must serve), then
   * one every `intervalMs` while there is anything to do.
   */
  start(): void {
    this.#stopped = false;
    void this.scan();
  }

  /** One round; resolves when it is over. Concurrent calls share the round. */
  scan(): Promise<void> {
    this.#running ??= this.#round().finally(() => {
      this.#running = undefined;
      this.#schedule();
    });
    return this.#running;
  }

  async stop(timeoutMs = 5000): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    if (!this.#running) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      this.#running,
      new Promise<void>((resolve) => {
        timer = setTimeout(resolve, timeoutMs);
        timer.unref();
      }),
    ]);
    clearTimeout(timer);
  }

  #schedule(): void {
    if (this.#stopped) return;
    if (this.#options.mode === 'local' && this.#pendingLocal?.size === 0) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => void this.scan(), this.#intervalMs);
    this.#timer.unref();
  }

  async #round(): Promise<void> {
    let orphans: CallRecord[];
    try {
      orphans = await this.#findOrphans();
    } catch (err) {
      const fields = { reason: (err as Error).message };
      if (this.#scanFailing) this.#log.debug(fields, 'orphan scan failed; retrying');
      else this.#log.warn(fields, 'orphan scan failed; retrying until the store answers');
      this.#scanFailing = true;
      return;
    }
    this.#scanFailing = false;
    if (orphans.length > 0) {
      this.#log.warn(
        { calls: orphans.length, owners: [...new Set(orphans.map((o) => o.owner))] },
        'calls left behind by a stopped instance: ending them at Meta',
      );
    }
    await Promise.all(orphans.map((record) => this.#clean(record)));
  }

  async #findOrphans(): Promise<CallRecord[]> {
    const { store, self } = this.#options;
    if (this.#options.mode === 'local') {
      if (!this.#pendingLocal) {
        // Every record there now was written by a process that is gone.
        const records: CallRecord[] = [];
        for (const owner of await store.owners()) {
          for (const r of await store.listByOwner(owner)) {
            if (!this.#options.holds(r.callId)) records.push(r);
          }
        }
        this.#pendingLocal = new Set(records.map((r) => r.callId));
        return records;
      }
      const out: CallRecord[] = [];
      for (const id of this.#pendingLocal) {
        const record = await store.get(id);
        if (record) out.push(record);
        else this.#pendingLocal.delete(id);
      }
      return out;
    }
    const live = await this.#options.liveInstances!();
    const out: CallRecord[] = [];
    const now = Date.now();
    for (const owner of await store.owners()) {
      if (owner !== self && live.has(owner)) continue;
      for (const r of await store.listByOwner(owner)) {
        if (owner !== self) out.push(r);
        else if (!this.#options.holds(r.callId) && now - r.updatedAt > OWN_RECORD_QUIET_MS) {
          out.push(r);
        }
      }
    }
    return out;
  }

  async #clean(record: CallRecord): Promise<void> {
    const { store, self } = this.#options;
    const log = this.#log.child({ callId: record.callId, owner: record.owner });
    try {
      if (record.owner !== self && !(await store.transfer(record.callId, record.owner, self))) {
        return; // Another survivor took it.
      }
      const outcome = await this.#endAtMeta(record, log);
      await this.#leaveRoom(record, log);
      await store.remove(record.callId);
      this.#pendingLocal?.delete(record.callId);
      log.info({ outcome, room: record.roomName }, 'orphaned call ended');
      this.#options.onCleaned?.(record, outcome);
    } catch (err) {
      log.warn({ reason: (err as Error).message }, 'could not end an orphaned call yet; retrying');
    }
  }

  /** @throws when Meta could not be reached (the record stays for the next round). */
  async #endAtMeta(record: CallRecord, log: Logger): Promise<OrphanOutcome> {
    let accessToken: string | undefined;
    try {
      accessToken = this.#options.sealer.resolve(
        record.callId,
        record.token,
        this.#options.configuredToken,
      );
    } catch (err) {
      log.error(
        { reason: (err as Error).message },
        'cannot open the sealed token of an orphaned call',
      );
    }
    if (!accessToken) {
      log.error(
        { phoneNumberId: record.phoneNumberId },
        'no access token for an orphaned call (configuration or API secret changed); Meta ends it once media stops',
      );
      return 'no_token';
    }
    const request = {
      phoneNumberId: record.phoneNumberId,
      accessToken,
      apiVersion: record.apiVersion,
      callId: record.callId,
    };
    try {
      await this.#options.graph.terminateCall({
        ...request,
        signal: AbortSignal.timeout(META_REQUEST_TIMEOUT_MS),
      });
      return 'terminated';
    } catch (err) {
      if (!isFinalRefusal(err)) throw err;
      if ((err as GraphApiError).afterUncertainAttempt) return 'terminated';
    }
    try {
      // Never answered at Meta (an inbound call still ringing): declining is what ends it.
      await this.#options.graph.rejectCall({
        ...request,
        signal: AbortSignal.timeout(META_REQUEST_TIMEOUT_MS),
      });
      return 'rejected';
    } catch (err) {
      if (!isFinalRefusal(err)) throw err;
      return 'already_ended';
    }
  }

  async #leaveRoom(record: CallRecord, log: Logger): Promise<void> {
    if (!record.roomName || !record.participantIdentity) return;
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        this.#options.rooms.removeParticipant(record.roomName, record.participantIdentity),
        new Promise((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), ROOM_REQUEST_TIMEOUT_MS);
        }),
      ]);
    } catch (err) {
      // Usually: the participant is gone already (its process died with the room leg).
      log.debug({ reason: (err as Error).message }, 'participant not removed from the room');
    } finally {
      clearTimeout(timer);
    }
  }
}

/** Meta refused for good (a 4xx that is neither throttling nor marked transient). */
function isFinalRefusal(err: unknown): boolean {
  return (
    err instanceof GraphApiError &&
    err.graphStatus < 500 &&
    err.graphStatus !== 429 &&
    err.graph.is_transient !== true
  );
}
