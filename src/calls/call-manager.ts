/**
 * The calls of this instance: admission against the call limit, creation of inbound and outbound
 * calls, and the registry. Each call owns its own lifecycle; the manager only finds them.
 */
import type { Config } from '../config/index.js';
import type { Logger } from '../log/index.js';
import { WhatsAppMediaLeg, type WhatsAppMediaLegOptions } from '../media/whatsapp-media-leg.js';
import { joinRoomLeg } from '../room/room-leg.js';
import { WhatsAppGraphClient } from '../whatsapp/graph-client.js';
import { endReasonOfTerminate } from './call-end-reason.js';
import { CallEndedError, CallNotFoundError, CapacityError, DrainingError } from './call-errors.js';
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
import {
  validateAcceptParams,
  validateDialParams,
  validateTransferParams,
} from './call-params-validation.js';
import type { AdmissionPort, GraphCallsPort, MediaLegFactory, RoomJoiner } from './call-ports.js';
import { CallRegistry } from './call-registry.js';
import { InboundCall } from './inbound-call.js';
import { OutboundCall } from './outbound-call.js';
import type { CallDependencies, CallSettings, WhatsAppCall } from './whatsapp-call.js';

/**
 * PCM rate of the bridge where it needs PCM at all (mixing two or more room speakers), Hz. Meta
 * plays 16 kHz content (Opus `maxplaybackrate=16000`), so mixing at 16 kHz loses nothing and
 * halves the per-frame work. The common path (one agent) carries Opus without decoding.
 */
export const BRIDGE_SAMPLE_RATE = 16_000;

/**
 * How long a business disconnect waits for Meta to confirm the terminate before it answers, ms:
 * long enough for a normal round trip and a retry, short of the SDKs' 10 s request timeout. A call
 * not confirmed by then stays `ending` and keeps retrying in the background.
 */
export const DISCONNECT_META_WAIT_MS = 5000;

/**
 * How long a failed Dial or Accept waits for its call to be ended at Meta before it answers, ms,
 * so that a failure answer usually means nothing is left anywhere. The end goes on regardless.
 */
export const FAILED_SETUP_META_WAIT_MS = 2000;

/** At shutdown, how long calls may take to be confirmed ended at Meta before retries stop, ms. */
export const SHUTDOWN_META_WAIT_MS = 5000;

/** Default background retries of ending a call at Meta (see `CallSettings.metaEndRetry`). */
export const DEFAULT_META_END_RETRY: CallSettings['metaEndRetry'] = {
  initialDelayMs: 1000,
  maxDelayMs: 30_000,
  giveUpAfterMs: 15 * 60_000,
};

/** Media settings that come from configuration, not from requests. */
export type MediaLegSettings = Pick<
  WhatsAppMediaLegOptions,
  | 'iceAdditionalHostAddresses'
  | 'iceAllowedAddresses'
  | 'allowedCandidateNetworks'
  | 'icePortRange'
  | 'iceServers'
  | 'iceUseIpv6'
  | 'jitter'
  | 'forwardedOpus'
  | 'opusComplexity'
>;

export interface CallManagerOptions {
  config: Config;
  logger: Logger;
  /** Graph API client; default a `WhatsAppGraphClient` on `config.whatsapp.graphUrl`. */
  graph?: GraphCallsPort;
  /** ICE settings of the media legs (tests pin them to loopback). */
  media?: MediaLegSettings;
  /** Creates each call's media leg. Default: a `WhatsAppMediaLeg` with `media` settings. */
  mediaLegs?: MediaLegFactory;
  /** Joins the LiveKit leg of each call. Default `joinRoomLeg` (our TypeScript participant). */
  roomLegs?: RoomJoiner;
  /** Background retries of ending calls at Meta. Default {@link DEFAULT_META_END_RETRY}. */
  metaEndRetry?: CallSettings['metaEndRetry'];
  /**
   * Optional - admission control besides the call limit (event-loop lag, CPU). Default none: only
   * `MAX_CONCURRENT_CALLS` limits new calls.
   */
  admission?: AdmissionPort;
}

/**
 * The calls of this instance: creates {@link InboundCall}s and {@link OutboundCall}s, keeps the
 * registry, and admits new calls against `MAX_CONCURRENT_CALLS` with a reservation that is always
 * released. The calls own everything else (legs, Meta context, decisions, timers, their end).
 * Implements the internal call API for calls held here; `CallRouter` decides what is held here.
 */
export class CallManager implements CallOperations {
  readonly registry: CallRegistry;
  private readonly settings: CallSettings;
  private readonly maxConcurrentCalls: number;
  private readonly graph: GraphCallsPort;
  private readonly mediaLegs: MediaLegFactory;
  private readonly roomLegs: RoomJoiner;
  private readonly admission: AdmissionPort | undefined;
  /** Calls admitted but not yet in the registry (dials before Meta named them). */
  private reserved = 0;
  /** Dials under way, placed or not: a shutdown must reach them too. */
  private readonly dialling = new Set<OutboundCall>();
  private draining = false;
  private closing: Promise<void> | undefined;

  constructor(options: CallManagerOptions) {
    const { config } = options;
    this.graph =
      options.graph ??
      new WhatsAppGraphClient({ baseUrl: config.whatsapp.graphUrl, logger: options.logger });
    const mediaSettings = {
      forwardedOpus: config.media.forwardedOpus,
      opusComplexity: config.media.opusComplexity,
      ...options.media,
    };
    this.mediaLegs =
      options.mediaLegs ??
      ((logger) =>
        WhatsAppMediaLeg.create({ sampleRate: BRIDGE_SAMPLE_RATE, ...mediaSettings, logger }));
    this.roomLegs = options.roomLegs ?? joinRoomLeg;
    this.admission = options.admission;
    this.maxConcurrentCalls = config.calls.maxConcurrentCalls;
    this.settings = {
      livekit: {
        url: config.livekit.url,
        apiKey: config.livekit.apiKey,
        apiSecret: config.livekit.apiSecret,
      },
      sampleRate: BRIDGE_SAMPLE_RATE,
      hidePhoneNumber: config.calls.hidePhoneNumber,
      playRingback: config.calls.playRingback,
      mediaTimeoutMs: config.calls.mediaTimeoutSeconds * 1000,
      maxDurationMs: config.calls.maxDurationSeconds * 1000,
      metaEndRetry: options.metaEndRetry ?? DEFAULT_META_END_RETRY,
    };
    this.registry = new CallRegistry({
      endedRetentionMs: config.calls.userHangupCleanupSeconds * 1000,
    });
  }

  /** Room for one more call here (not shutting down, under the limit, not overloaded). */
  hasCapacity(): boolean {
    return this.underLimit() && this.admission?.overload() === undefined;
  }

  /**
   * Shutting down: new calls are refused with `DrainingError` (the router places them on a peer
   * when there is one), the calls held here go on. Irreversible.
   */
  startDraining(): void {
    this.draining = true;
  }

  /** Whether {@link startDraining} (or {@link close}) was called. */
  get isDraining(): boolean {
    return this.draining;
  }

  /** Whether this instance holds `callId`, in any state (ending and recently ended included). */
  holds(callId: string): boolean {
    return this.registry.get(callId) !== undefined;
  }

  // ---- the internal call API -----------------------------------------------------------------

  async dial(params: DialParams, ctx: OperationContext): Promise<DialResult> {
    // Everything is checked before anything is taken: a bad request leaks nothing.
    validateDialParams(params);
    const release = this.reserve();
    const call = new OutboundCall(params, this.dependencies(ctx.logger, 'outbound'));
    this.dialling.add(call);
    try {
      await call.dial((placed) => {
        // From now on the registry counts the call; webhooks and requests for it find it.
        if (!this.closing) this.registry.add(placed);
        release();
      });
      return { callId: call.callId, roomName: call.roomName };
    } catch (err) {
      if (call.callId) this.registry.releaseWhenEnded(call.callId);
      await withinMs(call.whenEnded(), FAILED_SETUP_META_WAIT_MS, ctx.signal);
      throw err;
    } finally {
      release();
      this.dialling.delete(call);
    }
  }

  async accept(params: AcceptParams, ctx: OperationContext): Promise<AcceptResult> {
    validateAcceptParams(params);
    const held = this.registry.get(params.callId);
    if (held && !(held instanceof InboundCall)) throw new CallNotFoundError(params.callId);
    if (held?.isClosed) throw new CallEndedError(held.callId, held.endReason);
    let call = held;
    if (!call) {
      const release = this.reserve();
      try {
        // Registered before anything is awaited, so a repeated Accept (or a webhook redelivery)
        // joins this one and a terminate webhook during the accept reaches the call.
        call = new InboundCall(params, this.dependencies(ctx.logger, 'inbound'));
        this.registry.add(call);
      } finally {
        release();
      }
    }
    const inbound = call;
    try {
      await inbound.accept();
    } catch (err) {
      this.registry.releaseWhenEnded(inbound.callId);
      await withinMs(inbound.whenEnded(), FAILED_SETUP_META_WAIT_MS, ctx.signal);
      throw err;
    }
    if (params.waitUntilAnswered) await inbound.waitForCallerMedia(ctx.signal);
    return { roomName: inbound.roomName };
  }

  async connect(params: ConnectParams, ctx: OperationContext): Promise<void> {
    const call = this.findForRequest(params.callId);
    if (!(call instanceof OutboundCall)) throw new CallNotFoundError(params.callId);
    await call.applyAnswer(params.answerSdp);
    if (params.waitUntilAnswered) await call.waitUntilAnswered(ctx.signal);
  }

  async disconnect(params: DisconnectParams, ctx: OperationContext): Promise<void> {
    const call = this.findForRequest(params.callId);
    // From here a second disconnect is `not_found`, even while Meta has not confirmed yet.
    call.markDisconnected();
    this.registry.releaseWhenEnded(call.callId);
    if (params.initiator === 'user') {
      await call.close('user_hangup', { endedAtMeta: true });
      return;
    }
    if (call.isClosed) return;
    await call.close('business_hangup', { accessToken: params.accessToken });
    const wait = Math.min(
      DISCONNECT_META_WAIT_MS,
      ctx.deadline !== undefined ? ctx.deadline - Date.now() - 500 : DISCONNECT_META_WAIT_MS,
    );
    const outcome = await withinMs(call.whenEnded(), wait, ctx.signal);
    if (outcome === undefined) {
      ctx.logger.warn(
        { callId: call.callId },
        'Meta has not confirmed the end yet; the call stays ending and is retried in the background',
      );
    } else if (outcome.kind === 'refused') {
      throw outcome.error;
    }
  }

  async userHangup(params: HangupParams, _ctx: OperationContext): Promise<boolean> {
    const call = this.registry.get(params.callId);
    if (!call) return false;
    if (call.isClosed) {
      // Ending already (our terminate may be retrying): Meta's word settles it.
      call.confirmEndedAtMeta();
      return true;
    }
    await call.close(
      endReasonOfTerminate(params, { direction: call.direction, answered: call.isAnswered }),
      { endedAtMeta: true },
    );
    return true;
  }

  async callStatus(params: CallStatusParams, _ctx: OperationContext): Promise<boolean> {
    const call = this.registry.get(params.callId);
    if (!(call instanceof OutboundCall)) return false;
    call.applyStatus(params.status);
    return true;
  }

  async transfer(params: TransferParams, ctx: OperationContext): Promise<TransferResult> {
    validateTransferParams(params);
    const call = this.findForRequest(params.callId);
    if (call.isClosed) throw call.endedError();
    ctx.logger.info({ callId: call.callId, requester: ctx.requester }, 'transfer requested');
    const { callId: _callId, ...target } = params;
    return call.transfer(target);
  }

  /**
   * End every call (shutdown): legs are released at once; Meta gets up to
   * {@link SHUTDOWN_META_WAIT_MS} to confirm the ends before retries stop. New calls are refused
   * from the start. Idempotent.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      this.draining = true;
      const calls: WhatsAppCall[] = [...new Set([...this.registry.all(), ...this.dialling])];
      await Promise.all(calls.map((c) => c.close('shutdown')));
      await withinMs(Promise.all(calls.map((c) => c.whenEnded())), SHUTDOWN_META_WAIT_MS);
      for (const c of calls) c.abandonMetaEnd();
      this.registry.close();
    })();
    return this.closing;
  }

  // ---- internals -----------------------------------------------------------------------------

  /**
   * Admit one call against the limit; the returned release is idempotent and must run in a
   * `finally`, whatever happens.
   * @throws DrainingError while shutting down; CapacityError at the limit; OverloadedError when
   *   admission control says the instance is busy.
   */
  private reserve(): () => void {
    if (this.draining) {
      this.admission?.refused('draining');
      throw new DrainingError();
    }
    if (!this.underLimit()) {
      this.admission?.refused('calls');
      throw new CapacityError(this.maxConcurrentCalls);
    }
    const overload = this.admission?.overload();
    if (overload) {
      this.admission?.refused(overload.reason);
      throw overload;
    }
    this.reserved++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.reserved--;
    };
  }

  private underLimit(): boolean {
    return !this.draining && this.registry.activeCount + this.reserved < this.maxConcurrentCalls;
  }

  /** A call a request may act on: held here and not yet disconnected through the API. */
  private findForRequest(callId: string): WhatsAppCall {
    const call = this.registry.get(callId);
    if (!call || call.isDisconnected) throw new CallNotFoundError(callId);
    return call;
  }

  private dependencies(logger: Logger, direction: 'inbound' | 'outbound'): CallDependencies {
    const log = logger.child({ direction });
    return {
      settings: this.settings,
      graph: this.graph,
      joinRoom: this.roomLegs,
      media: this.mediaLegs(log),
      logger: log,
    };
  }
}

/**
 * `promise`'s value, or undefined when `ms` pass (or `signal` aborts) first. The timer does not
 * keep the process alive.
 */
async function withinMs<T>(
  promise: Promise<T>,
  ms: number,
  signal?: AbortSignal,
): Promise<T | undefined> {
  if (ms <= 0 || signal?.aborted) return undefined;
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const expired = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms);
    timer.unref();
    onAbort = () => resolve(undefined);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
  try {
    return await Promise.race([promise, expired]);
  } finally {
    clearTimeout(timer);
    if (onAbort) signal?.removeEventListener('abort', onAbort);
  }
}
