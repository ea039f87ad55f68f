/**
 * The one way to a call: this instance, or the peer of a Redis cluster that holds it. Used by
 * the Connector API edge, the webhook gateway and the cluster's internal endpoint alike.
 */
import { ServiceError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import {
  CallMovedError,
  CallNotFoundError,
  CallOwnerGoneError,
  CapacityError,
  DialInProgressError,
  DirectoryUnavailableError,
  DrainingError,
} from './call-errors.js';
import type {
  AcceptParams,
  AcceptResult,
  CallOperations,
  CallStatusParams,
  ConnectParams,
  DialParams,
  DialResult,
  DisconnectParams,
  HangupParams,
  OperationContext,
  TransferParams,
  TransferResult,
} from './call-params.js';
import type { CallPlacements } from './call-placement.js';
import { InMemoryDialRecords, type DialRecords } from './dial-records.js';

/** The operations one instance can ask another to run, with their parameters and results. */
export interface CallOperationTypes {
  dial: { params: DialParams; result: DialResult };
  accept: { params: AcceptParams; result: AcceptResult };
  connect: { params: ConnectParams; result: void };
  disconnect: { params: DisconnectParams; result: void };
  'user-hangup': { params: HangupParams; result: boolean };
  'call-status': { params: CallStatusParams; result: boolean };
  transfer: { params: TransferParams; result: TransferResult };
}
export type CallOperationName = keyof CallOperationTypes;
export const CALL_OPERATION_NAMES: readonly CallOperationName[] = [
  'dial',
  'accept',
  'connect',
  'disconnect',
  'user-hangup',
  'call-status',
  'transfer',
];

/** Another instance of the cluster. */
export interface PeerRef {
  id: string;
  /** Base URL of its internal endpoint. */
  url: string;
  /** Its region (`REGION`), when it has one. */
  region?: string | undefined;
  /** Its load when last heard of: calls held / call limit (0..1). */
  load?: number | undefined;
}

/** Regional placement of new calls (see `src/config/region-map.ts`). */
export interface RegionPolicy {
  /** This instance's region; undefined: none. */
  readonly region: string | undefined;
  /** The region a call to `country` should run in; undefined: no preference. */
  regionOf(country: string | undefined): string | undefined;
  /** This instance's load: calls held / call limit (0..1). */
  load(): number;
}

/** Where a call is held, as the directory says. */
export type CallLocation =
  | { kind: 'here' }
  | { kind: 'peer'; peer: PeerRef }
  | { kind: 'nowhere' }
  /** The directory named an instance that stopped heartbeating (its entry was dropped). */
  | { kind: 'gone'; instanceId: string };

/**
 * The other instances of a cluster and the directory of who holds which call (Redis, in
 * `src/cluster/`). Directory lookups reject with `DirectoryUnavailableError` when it cannot be
 * asked; `send` rejects with the peer's own typed error, or `PeerUnreachableError`.
 */
export interface CallPeers {
  locate(callId: string): Promise<CallLocation>;
  /** Claim `callId` for this instance unless a live peer holds it. */
  claim(callId: string): Promise<CallLocation>;
  /** Drop this instance's claim (best effort). */
  release(callId: string): Promise<void>;
  /** Publish that this instance holds `callId` (best effort; heartbeats repeat it). */
  publish(callId: string): Promise<void>;
  /** Live peers with room for a call, least loaded first. */
  withCapacity(): Promise<PeerRef[]>;
  send<Op extends CallOperationName>(
    peer: PeerRef,
    op: Op,
    params: CallOperationTypes[Op]['params'],
    ctx: OperationContext,
  ): Promise<CallOperationTypes[Op]['result']>;
  /** Dial records shared by the cluster. */
  readonly dialRecords: DialRecords;
}

/** The calls of this instance, as the router needs them (`CallManager`). */
export interface LocalCalls extends CallOperations {
  /** Whether this instance holds `callId` in any state. */
  holds(callId: string): boolean;
  /** Whether this instance can take one more call. */
  hasCapacity(): boolean;
  /** Whether this instance is shutting down (new calls it cannot place elsewhere: `DrainingError`). */
  readonly isDraining?: boolean;
}

/** Default time a webhook event for an unknown call waits for its holder to be published, ms. */
export const DEFAULT_WEBHOOK_OWNER_GRACE_MS = 2000;
/** Poll period while waiting for a holder to be published, ms. */
const OWNER_POLL_MS = 100;

export interface CallRouterOptions {
  local: LocalCalls;
  /** The cluster; none: every call is local. */
  peers?: CallPeers | undefined;
  /** Dial records when there is no cluster. Default: in memory. */
  dialRecords?: DialRecords;
  logger: Logger;
  /**
   * How long a webhook event for a call nobody holds yet waits for its holder to be published,
   * ms: Meta may deliver a dialled call's `connect` to one instance before the dialling instance
   * has published the call. Default {@link DEFAULT_WEBHOOK_OWNER_GRACE_MS}.
   */
  webhookOwnerGraceMs?: number;
  /**
   * Optional - regional placement of new calls: a dial whose destination country maps to a region
   * runs on a live instance of that region with room, else on the least loaded instance; an accept
   * goes to an instance of its region with room, else is answered as any other. Default none: new
   * calls run here, or on the least loaded peer when this instance is full.
   */
  regions?: RegionPolicy | undefined;
  /** Optional - where the placements of the calls placed here are kept (for the call listing). */
  placements?: CallPlacements | undefined;
}

/**
 * The one way to reach a call: each operation runs on this instance or is sent to the peer that
 * holds the call; new calls run here unless this instance is full (or busy), then on the least
 * loaded peer — except calls with a region (see {@link RegionPolicy}), which run on an instance of
 * their region when one has room. The Connector API, the webhook gateway and the cluster's internal endpoint all go through it.
 *
 * A dial is placed on another instance only after a refusal that had no effect (no capacity,
 * shutting down, a peer that never got the request); a failure that may have reached Meta is
 * final, and with an idempotency key a retried Dial answers the first one's outcome. Requests a
 * peer forwarded are served here and never forwarded again, so a directory that changes under a
 * request cannot make it loop.
 */
export class CallRouter implements CallOperations {
  private readonly local: LocalCalls;
  private readonly peers: CallPeers | undefined;
  private readonly dialRecords: DialRecords;
  private readonly logger: Logger;
  private readonly graceMs: number;
  private readonly regions: RegionPolicy | undefined;
  private readonly placements: CallPlacements | undefined;

  constructor(options: CallRouterOptions) {
    this.local = options.local;
    this.peers = options.peers;
    this.dialRecords =
      options.peers?.dialRecords ?? options.dialRecords ?? new InMemoryDialRecords();
    this.logger = options.logger.child({ component: 'call-router' });
    this.graceMs = options.webhookOwnerGraceMs ?? DEFAULT_WEBHOOK_OWNER_GRACE_MS;
    this.regions = options.regions;
    this.placements = options.placements;
  }

  // ---- new calls -------------------------------------------------------------------------------

  async dial(params: DialParams, ctx: OperationContext): Promise<DialResult> {
    const key = params.idempotencyKey;
    // A forwarded dial was deduplicated by the instance that forwarded it.
    if (key === undefined || ctx.origin === 'peer') return this.placeDial(params, ctx);
    let claim;
    try {
      claim = await this.dialRecords.claim(key);
    } catch (err) {
      ctx.logger.warn({ err }, 'dial records unavailable; dialling without deduplication');
      return this.placeDial(params, ctx);
    }
    if (!claim.claimed) {
      ctx.logger.info('a Dial with this request id was seen before: answering its outcome');
      return this.earlierDial(key, claim.record, ctx);
    }
    try {
      const result = await this.placeDial(params, ctx);
      await this.dialRecords.complete(key, result).catch((err: unknown) => {
        ctx.logger.warn({ err }, 'could not record the dial result');
      });
      return result;
    } catch (err) {
      // Nothing happened anywhere: a retry may dial. Anything else: a retry gets this error.
      const record = isRefusedBeforeAnyEffect(err)
        ? this.dialRecords.forget(key)
        : this.dialRecords.fail(key, err as Error);
      await record.catch((e: unknown) => ctx.logger.warn({ err: e }, 'could not record the dial'));
      throw err;
    }
  }

  async accept(params: AcceptParams, ctx: OperationContext): Promise<AcceptResult> {
    const { callId } = params;
    const peers = this.peers;
    // Held here (or being accepted here): the call joins the accept already under way.
    if (!peers || this.local.holds(callId)) return this.local.accept(params, ctx);
    let where: CallLocation;
    try {
      where = await peers.locate(callId);
    } catch (err) {
      if (!(err instanceof DirectoryUnavailableError)) throw err;
      where = { kind: 'nowhere' };
    }
    if (where.kind === 'peer') return this.toHolder(where.peer, 'accept', params, ctx);
    if (where.kind !== 'here' && ctx.origin !== 'peer') {
      const wanted = this.regions?.regionOf(params.destinationCountry);
      if (wanted !== undefined) {
        const here = this.regions?.region === wanted && this.local.hasCapacity();
        if (!here) {
          const placed = await this.acceptInRegion(wanted, params, ctx);
          if (placed) return placed;
        }
        const reason = here ? 'region' : this.local.hasCapacity() ? 'here' : 'overflow';
        params = { ...params, placement: { reason, wantedRegion: wanted } };
      }
      if (!this.local.hasCapacity()) return this.placeOnPeers('accept', params, ctx);
    }
    try {
      // Claimed atomically: a webhook redelivered to another instance, or an Accept retried
      // elsewhere, joins this accept instead of answering the call twice.
      where = await peers.claim(callId);
    } catch (err) {
      if (!(err instanceof DirectoryUnavailableError)) throw err;
      // Without the directory, answering here beats not answering: nobody else has the call yet.
      ctx.logger.warn({ callId }, 'call directory unreachable: accepting without a cluster claim');
      where = { kind: 'here' };
    }
    if (where.kind === 'peer') return this.toHolder(where.peer, 'accept', params, ctx);
    try {
      const result = await this.local.accept(params, ctx);
      if (params.placement) this.placements?.record(params.callId, params.placement);
      return result;
    } catch (err) {
      // A failed accept that never reached the registry leaves a claim nobody would release.
      if (!this.local.holds(callId)) await peers.release(callId);
      throw err;
    }
  }

  // ---- calls that exist --------------------------------------------------------------------------

  connect(params: ConnectParams, ctx: OperationContext): Promise<void> {
    return this.forCall(params.callId, 'connect', params, ctx, () => {
      throw new CallNotFoundError(params.callId);
    });
  }

  disconnect(params: DisconnectParams, ctx: OperationContext): Promise<void> {
    return this.forCall(params.callId, 'disconnect', params, ctx, () => {
      throw new CallNotFoundError(params.callId);
    });
  }

  userHangup(params: HangupParams, ctx: OperationContext): Promise<boolean> {
    return this.forCall(params.callId, 'user-hangup', params, ctx, () => false);
  }

  callStatus(params: CallStatusParams, ctx: OperationContext): Promise<boolean> {
    return this.forCall(params.callId, 'call-status', params, ctx, () => false);
  }

  /** Runs on the instance that holds the call: the media never moves between instances. */
  transfer(params: TransferParams, ctx: OperationContext): Promise<TransferResult> {
    return this.forCall(params.callId, 'transfer', params, ctx, () => {
      throw new CallNotFoundError(params.callId);
    });
  }

  /**
   * Serve an operation another instance forwarded here: on this instance only (an accept still
   * takes the cluster-wide claim). `ctx.origin` must be `peer`.
   */
  serve<Op extends CallOperationName>(
    op: Op,
    params: CallOperationTypes[Op]['params'],
    ctx: OperationContext,
  ): Promise<CallOperationTypes[Op]['result']> {
    const peerCtx: OperationContext = { ...ctx, origin: 'peer' };
    return this.run(this, op, params, peerCtx);
  }

  // ---- internals -------------------------------------------------------------------------------

  /** A Dial seen before: its result, its error, or — still running — wait for it a while. */
  private async earlierDial(
    key: string,
    record: Awaited<ReturnType<DialRecords['wait']>>,
    ctx: OperationContext,
  ): Promise<DialResult> {
    let settled = record;
    if (settled.state === 'pending') {
      const timeout = ctx.deadline !== undefined ? ctx.deadline - Date.now() - 500 : 30_000;
      settled = await this.dialRecords.wait(key, timeout, ctx.signal);
    }
    if (settled.state === 'done') return settled.result;
    if (settled.state === 'failed') throw settled.error;
    throw new DialInProgressError();
  }

  /**
   * Dial on the instance the call belongs on: with a wanted region (from the destination country),
   * an instance of that region, else the least loaded instance; without, here when there is room,
   * else the least loaded peers in turn.
   */
  private async placeDial(params: DialParams, ctx: OperationContext): Promise<DialResult> {
    const peers = this.peers;
    if (!peers || ctx.origin === 'peer') return this.dialHere(params, ctx);
    const wanted = this.regions?.regionOf(params.destinationCountry);
    if (wanted !== undefined) return this.placeInRegion(wanted, params, ctx);
    if (this.local.hasCapacity()) {
      try {
        return await this.dialHere({ ...params, placement: { reason: 'here' } }, ctx);
      } catch (err) {
        if (!isRefusedBeforeAnyEffect(err)) throw err;
        ctx.logger.info(
          { reason: (err as Error).name },
          'no room here: placing the dial on a peer',
        );
      }
    }
    return this.placeOnPeers('dial', { ...params, placement: { reason: 'overflow' } }, ctx);
  }

  /**
   * An accept whose destination country maps to `wanted`, a region this instance is not of (or
   * has no room in): the least loaded live instance of that region with room answers it, claiming
   * the call there, so the caller's media runs in the region. Undefined when none of them took
   * it (the accept is then placed as any other).
   */
  private async acceptInRegion(
    wanted: string,
    params: AcceptParams,
    ctx: OperationContext,
  ): Promise<AcceptResult | undefined> {
    let candidates: PeerRef[];
    try {
      candidates = await this.peers!.withCapacity();
    } catch (err) {
      ctx.logger.warn({ err }, 'no peer lookup possible; accepting without the region');
      return undefined;
    }
    const inRegion: AcceptParams = {
      ...params,
      placement: { reason: 'region', wantedRegion: wanted },
    };
    for (const peer of candidates.filter((p) => p.region === wanted)) {
      try {
        return await this.peers!.send(peer, 'accept', inRegion, ctx);
      } catch (err) {
        if (!isRefusedBeforeAnyEffect(err)) throw err;
        ctx.logger.info({ peer: peer.id, reason: (err as Error).name }, 'peer declined the call');
      }
    }
    ctx.logger.info({ region: wanted }, 'no instance of the region has room: accepting elsewhere');
    return undefined;
  }

  /** Dial on this instance; its placement is kept for the listing. */
  private async dialHere(params: DialParams, ctx: OperationContext): Promise<DialResult> {
    const result = await this.local.dial(params, ctx);
    this.placements?.record(result.callId, params.placement ?? { reason: 'here' });
    // Published before the answer, so a Connect for it at any instance finds the holder.
    await this.peers?.publish(result.callId);
    return result;
  }

  /**
   * A dial that belongs in `wanted`: this instance when it is of that region and has room, else
   * the region's live peers with room, least loaded first; when none takes it, every instance
   * (this one included) least loaded first. Instances are skipped only when they refused before
   * doing anything.
   */
  private async placeInRegion(
    wanted: string,
    params: DialParams,
    ctx: OperationContext,
  ): Promise<DialResult> {
    const peers = this.peers!;
    const inRegion: DialParams = {
      ...params,
      placement: { reason: 'region', wantedRegion: wanted },
    };
    const here = this.regions?.region === wanted;
    if (here && this.local.hasCapacity()) {
      try {
        return await this.dialHere(inRegion, ctx);
      } catch (err) {
        if (!isRefusedBeforeAnyEffect(err)) throw err;
      }
    }
    let candidates: PeerRef[] = [];
    try {
      candidates = await peers.withCapacity();
    } catch (err) {
      ctx.logger.warn({ err }, 'no peer lookup possible; placing the dial without its region');
    }
    for (const peer of candidates.filter((p) => p.region === wanted)) {
      try {
        return await peers.send(peer, 'dial', inRegion, ctx);
      } catch (err) {
        if (!isRefusedBeforeAnyEffect(err)) throw err;
        ctx.logger.info({ peer: peer.id, reason: (err as Error).name }, 'peer declined the call');
      }
    }
    ctx.logger.info(
      { region: wanted },
      'no instance of the region has room: placing the dial on the least loaded instance',
    );
    const anywhere: DialParams = {
      ...params,
      placement: { reason: 'least_loaded', wantedRegion: wanted },
    };
    const others = candidates.filter((p) => p.region !== wanted);
    const selfLoad = this.regions?.load() ?? 0;
    // This instance competes on load, unless it was tried above as an instance of the region.
    const order: (PeerRef | 'self')[] = [...others];
    if (!here && this.local.hasCapacity()) {
      // Ties go to this instance: no hop.
      const at = order.findIndex((p) => p !== 'self' && (p.load ?? 0) >= selfLoad);
      order.splice(at === -1 ? order.length : at, 0, 'self');
    }
    for (const target of order) {
      try {
        if (target === 'self') return await this.dialHere(anywhere, ctx);
        return await peers.send(target, 'dial', anywhere, ctx);
      } catch (err) {
        if (!isRefusedBeforeAnyEffect(err)) throw err;
      }
    }
    throw new CapacityError();
  }

  /**
   * A new call this instance has no room for: the least loaded peers, in turn. A peer is skipped
   * only when it refused before doing anything; any other failure is the answer.
   */
  private async placeOnPeers<Op extends 'dial' | 'accept'>(
    op: Op,
    params: CallOperationTypes[Op]['params'],
    ctx: OperationContext,
  ): Promise<CallOperationTypes[Op]['result']> {
    const peers = this.peers!;
    // Nobody took it: a draining instance says so (`unavailable`: retry, another instance
    // takes it), a full one that it is full.
    const refusal = () => (this.local.isDraining ? new DrainingError() : new CapacityError());
    let candidates: PeerRef[];
    try {
      candidates = await peers.withCapacity();
    } catch (err) {
      ctx.logger.warn({ err }, 'no peer lookup possible; refusing the call');
      throw refusal();
    }
    for (const peer of candidates) {
      try {
        return await peers.send(peer, op, params, ctx);
      } catch (err) {
        if (!isRefusedBeforeAnyEffect(err)) throw err;
        ctx.logger.info({ peer: peer.id, reason: (err as Error).name }, 'peer declined the call');
      }
    }
    throw refusal();
  }

  /** Send to the instance holding the call; a forwarded request must not travel further. */
  private toHolder<Op extends CallOperationName>(
    peer: PeerRef,
    op: Op,
    params: CallOperationTypes[Op]['params'],
    ctx: OperationContext,
  ): Promise<CallOperationTypes[Op]['result']> {
    if (ctx.origin === 'peer') throw new CallMovedError(callIdOf(params));
    return this.peers!.send(peer, op, params, ctx);
  }

  /** Run an operation on the call's holder; `absent()` when nobody holds it. */
  private async forCall<Op extends Exclude<CallOperationName, 'dial' | 'accept'>>(
    callId: string,
    op: Op,
    params: CallOperationTypes[Op]['params'],
    ctx: OperationContext,
    absent: () => CallOperationTypes[Op]['result'],
  ): Promise<CallOperationTypes[Op]['result']> {
    // Checked before the directory, so calls held here keep working while Redis is down.
    if (!this.peers || ctx.origin === 'peer' || this.local.holds(callId)) {
      return this.run(this.local, op, params, ctx);
    }
    const where =
      ctx.origin === 'webhook' ? await this.awaitHolder(callId) : await this.peers.locate(callId);
    switch (where.kind) {
      case 'here':
        return this.run(this.local, op, params, ctx);
      case 'peer':
        return this.peers.send(where.peer, op, params, ctx);
      case 'gone':
        if (op === 'connect' || op === 'disconnect' || op === 'transfer') {
          throw new CallOwnerGoneError(callId, where.instanceId);
        }
        return absent();
      case 'nowhere':
        return absent();
    }
  }

  /** Where a call is, waiting up to the grace period for a dial in flight to publish it. */
  private async awaitHolder(callId: string): Promise<CallLocation> {
    const deadline = Date.now() + this.graceMs;
    for (;;) {
      if (this.local.holds(callId)) return { kind: 'here' };
      const where = await this.peers!.locate(callId);
      if (where.kind !== 'nowhere' || Date.now() >= deadline) return where;
      await new Promise((resolve) => setTimeout(resolve, OWNER_POLL_MS));
    }
  }

  private run<Op extends CallOperationName>(
    target: CallOperations,
    op: Op,
    params: CallOperationTypes[Op]['params'],
    ctx: OperationContext,
  ): Promise<CallOperationTypes[Op]['result']> {
    type Result = Promise<CallOperationTypes[Op]['result']>;
    switch (op) {
      case 'dial':
        return target.dial(params as DialParams, ctx) as Result;
      case 'accept':
        return target.accept(params as AcceptParams, ctx) as Result;
      case 'connect':
        return target.connect(params as ConnectParams, ctx) as Result;
      case 'disconnect':
        return target.disconnect(params as DisconnectParams, ctx) as Result;
      case 'user-hangup':
        return target.userHangup(params as HangupParams, ctx) as Result;
      case 'call-status':
        return target.callStatus(params as CallStatusParams, ctx) as Result;
      case 'transfer':
        return target.transfer(params as TransferParams, ctx) as Result;
    }
    this.logger.error({ op }, 'unknown call operation');
    return Promise.reject(new Error(`unknown call operation ${String(op)}`));
  }
}

/**
 * A refusal that had no effect anywhere (no capacity, shutting down, a peer that never got the
 * request): the request may go to another instance, or be retried.
 */
export function isRefusedBeforeAnyEffect(err: unknown): boolean {
  return err instanceof ServiceError && err.retryable;
}

function callIdOf(params: unknown): string {
  const id = (params as { callId?: unknown }).callId;
  return typeof id === 'string' ? id : '';
}
