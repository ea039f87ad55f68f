import {
  AcceptWhatsAppCallResponse,
  ConnectWhatsAppCallResponse,
  DialWhatsAppCallResponse,
  DisconnectWhatsAppCallRequest_DisconnectReason as DisconnectReason,
  DisconnectWhatsAppCallResponse,
  type AcceptWhatsAppCallRequest,
  type ConnectWhatsAppCallRequest,
  type DialWhatsAppCallRequest,
  type DisconnectWhatsAppCallRequest,
} from '@livekit/protocol';
import type { Config } from '../config/index.js';
import type { ConnectorBackend, RequestContext } from '../connector/connector-backend.js';
import { connectorErrors, whatsAppApiError } from '../connector/connector-errors.js';
import { ConnectorError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { WhatsAppMediaLeg, type WhatsAppMediaLegOptions } from '../media/whatsapp-media-leg.js';
import { buildCallAttributes, type CallAttributesInput } from '../room/call-attributes.js';
import type { RoomLegDisconnectReason } from '../room/room-leg.js';
import {
  joinRoomLegInProcess,
  type RoomLegFactory,
  type RoomLegHandle,
} from '../room/room-leg-factory.js';
import { GraphApiError } from '../whatsapp/graph-api-error.js';
import { GraphTransportError } from '../whatsapp/graph-transport-error.js';
import { WhatsAppGraphClient } from '../whatsapp/graph-client.js';
import { CallRegistry } from './call-registry.js';
import { WhatsAppCall, type CallEndReason } from './whatsapp-call.js';

/**
 * PCM rate of the bridge, Hz. Meta sends 16 kHz content (Opus `maxplaybackrate=16000`), so
 * decoding, mixing and publishing at 16 kHz avoids resampling and halves the per-frame work;
 * livekit-server gets Opus from rtc-node either way.
 */
export const BRIDGE_SAMPLE_RATE = 16_000;

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
>;

export interface CallManagerOptions {
  config: Config;
  logger: Logger;
  /** Graph API client; default one on `config.whatsapp.graphUrl`. */
  graph?: WhatsAppGraphClient;
  /** ICE settings of the media legs (tests pin them to loopback). */
  media?: MediaLegSettings;
  /**
   * Joins the LiveKit leg of each call. Default: in this process (`joinRoomLegInProcess`); the
   * server passes a `RoomLegPool` factory to run legs in worker processes.
   */
  roomLegs?: RoomLegFactory;
}

/** Meta credentials of one call, kept in memory only (never logged). */
interface MetaCallContext {
  phoneNumberId: string;
  accessToken: string;
  apiVersion: string;
}

/** Outcome of a Meta-side status change reported by webhooks. */
export type MetaCallStatus = 'RINGING' | 'ACCEPTED' | 'REJECTED';

/**
 * The call bridge behind the Connector API: builds both legs of each call, drives Meta's Graph
 * API, and keeps the registry. Webhook-driven events (terminate, status) come in through
 * `handleUserHangup` / `handleCallStatus` so the built-in gateway and the API share one path.
 */
export class CallManager implements ConnectorBackend {
  readonly registry: CallRegistry;
  private readonly config: Config;
  private readonly logger: Logger;
  private readonly graph: WhatsAppGraphClient;
  private readonly mediaSettings: MediaLegSettings;
  private readonly roomLegs: RoomLegFactory;
  private readonly metaContexts = new Map<string, MetaCallContext>();
  private readonly answersApplied = new Set<string>();
  /** Inbound calls Meta has accepted (terminate applies to them; reject to the others). */
  private readonly acceptedAtMeta = new Set<string>();
  /** Accepts in progress by call id: a retried/duplicated Accept joins the first one. */
  private readonly acceptsInFlight = new Map<string, Promise<string>>();
  private pending = 0;
  private closed = false;

  constructor(options: CallManagerOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.graph =
      options.graph ??
      new WhatsAppGraphClient({
        baseUrl: options.config.whatsapp.graphUrl,
        logger: options.logger,
      });
    this.mediaSettings = options.media ?? {};
    this.roomLegs = options.roomLegs ?? joinRoomLegInProcess;
    this.registry = new CallRegistry({
      maxConcurrentCalls: options.config.calls.maxConcurrentCalls,
      endedRetentionMs: options.config.calls.userHangupCleanupSeconds * 1000,
      onRemove: (callId) => this.forget(callId),
    });
  }

  // ---- Connector API -------------------------------------------------------------------------

  async dialWhatsAppCall(
    req: DialWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DialWhatsAppCallResponse> {
    this.reserveCapacity();
    const log = ctx.logger;
    const meta = metaContextOf(req);
    const media = this.createMediaLeg(log);
    // Join the room while Meta places the call: both take a round trip, and the agent gets
    // dispatched earlier, so audio can start as soon as the user picks up.
    const roomJoin = this.joinRoom(req, log, {
      callStatus: 'dialing',
      direction: 'outbound',
      phoneNumber: req.whatsappToPhoneNumber,
    });
    roomJoin.catch(() => undefined);
    let callId: string;
    try {
      const offer = await media.createOffer();
      const result = await this.graph.connectCall({
        ...meta,
        to: req.whatsappToPhoneNumber,
        sdp: offer,
        ...(req.whatsappBizOpaqueCallbackData
          ? { bizOpaqueCallbackData: req.whatsappBizOpaqueCallbackData }
          : {}),
      });
      callId = result.callId;
    } catch (err) {
      this.pending--;
      await media.close();
      void roomJoin.then((room) => room.close()).catch(() => undefined);
      throw this.toApiError(err);
    }
    const call = this.createCall({
      callId,
      direction: 'outbound',
      meta,
      userPhoneNumber: req.whatsappToPhoneNumber,
      roomName: req.roomName,
      participantIdentity: req.participantIdentity,
      destinationCountry: req.destinationCountry,
      bizOpaqueCallbackData: req.whatsappBizOpaqueCallbackData,
      ringingTimeoutMs: durationMs(req.ringingTimeout, this.config.calls.ringingTimeoutSeconds),
      media,
      logger: log,
    });
    try {
      this.attachRoom(call, await roomJoin);
    } catch (err) {
      log.error({ err }, 'joining the room failed');
      await call.end('setup_failed', { notifyMeta: true });
      throw new ConnectorError(
        'unavailable',
        'could not join the livekit room',
        {},
        { cause: err },
      );
    }
    return new DialWhatsAppCallResponse({ whatsappCallId: callId, roomName: req.roomName });
  }

  async connectWhatsAppCall(
    req: ConnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectWhatsAppCallResponse> {
    const call = this.registry.get(req.whatsappCallId);
    if (!call || call.direction !== 'outbound') throw connectorErrors.callNotFound();
    if (call.isEnded) throw connectorErrors.connectionClosed();
    // The gateway and an application may both deliver the same answer; apply it once.
    if (!this.answersApplied.has(call.callId)) {
      this.answersApplied.add(call.callId);
      try {
        await call.media.setRemoteAnswer(req.sdp!.sdp);
      } catch (err) {
        this.answersApplied.delete(call.callId);
        throw new ConnectorError(
          'invalid_argument',
          `invalid sdp answer: ${(err as Error).message}`,
        );
      }
      call.markRinging();
    }
    if (req.waitUntilAnswered) {
      await call.waitUntilAnswered((reason) => endedError(reason), ctx.signal);
    }
    return new ConnectWhatsAppCallResponse();
  }

  async acceptWhatsAppCall(
    req: AcceptWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<AcceptWhatsAppCallResponse> {
    let roomName = this.acceptsInFlight.get(req.whatsappCallId);
    if (!roomName) {
      const existing = this.registry.get(req.whatsappCallId);
      if (existing) {
        if (existing.isEnded) throw connectorErrors.connectionClosed();
        roomName = Promise.resolve(existing.roomName);
      } else {
        roomName = this.accept(req, ctx);
        this.acceptsInFlight.set(req.whatsappCallId, roomName);
        void roomName
          .finally(() => this.acceptsInFlight.delete(req.whatsappCallId))
          .catch(() => undefined);
      }
    }
    const name = await roomName;
    if (req.waitUntilAnswered) {
      const call = this.registry.get(req.whatsappCallId);
      if (!call) throw connectorErrors.connectionClosed();
      await call.waitForCallerMedia((reason) => endedError(reason), ctx.signal);
    }
    return new AcceptWhatsAppCallResponse({ roomName: name });
  }

  private async accept(req: AcceptWhatsAppCallRequest, ctx: RequestContext): Promise<string> {
    this.reserveCapacity();
    const log = ctx.logger;
    const meta = metaContextOf(req);
    const media = this.createMediaLeg(log);
    let answer: string;
    try {
      answer = await media.createAnswer(req.sdp!.sdp);
    } catch (err) {
      this.pending--;
      await media.close();
      throw new ConnectorError('invalid_argument', `invalid sdp offer: ${(err as Error).message}`);
    }
    const call = this.createCall({
      callId: req.whatsappCallId,
      direction: 'inbound',
      meta,
      userPhoneNumber: '',
      roomName: req.roomName,
      participantIdentity: req.participantIdentity,
      destinationCountry: req.destinationCountry,
      bizOpaqueCallbackData: req.whatsappBizOpaqueCallbackData,
      ringingTimeoutMs: durationMs(req.ringingTimeout, this.config.calls.ringingTimeoutSeconds),
      media,
      logger: log,
    });
    const roomJoin = this.joinRoom(req, log, {
      callStatus: 'ringing',
      direction: 'inbound',
      callId: req.whatsappCallId,
    });
    roomJoin.catch(() => undefined);
    const connected = waitForMediaConnected(media);
    connected.catch(() => undefined);
    try {
      // pre_accept lets Meta start ICE/DTLS while the room is joined; accept follows once media
      // is up, so the user hears the agent from the first word (same SDP both times).
      await this.graph.preAcceptCall({ ...meta, callId: call.callId, sdp: answer });
      this.attachRoom(call, await roomJoin);
      await Promise.race([connected, endedPromise(call)]);
      if (call.isEnded) throw endedError(call.endReason);
      await this.graph.acceptCall({
        ...meta,
        callId: call.callId,
        sdp: answer,
        ...(req.whatsappBizOpaqueCallbackData
          ? { bizOpaqueCallbackData: req.whatsappBizOpaqueCallbackData }
          : {}),
      });
    } catch (err) {
      // A call ended meanwhile (ringing timeout, user gone) reports why it ended, not the
      // side effect (a closed media leg) that woke us up.
      const apiError =
        call.isEnded && !(err instanceof GraphApiError)
          ? endedError(call.endReason)
          : this.toApiError(err);
      log.warn({ err: apiError }, 'accepting the call failed');
      await call.end('setup_failed', { notifyMeta: !(err instanceof GraphApiError) });
      this.registry.remove(call.callId);
      void roomJoin.then((room) => room.close()).catch(() => undefined);
      throw apiError;
    }
    this.acceptedAtMeta.add(call.callId);
    call.markAnswered();
    return call.roomName;
  }

  async disconnectWhatsAppCall(
    req: DisconnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DisconnectWhatsAppCallResponse> {
    const call = this.registry.get(req.whatsappCallId);
    if (!call) throw connectorErrors.callNotFound();
    const meta = this.metaContexts.get(call.callId);
    const mustReject = call.direction === 'inbound' && !this.acceptedAtMeta.has(call.callId);
    // Removing first makes a concurrent or later second disconnect answer `not_found`.
    this.registry.remove(call.callId);
    let upstreamError: unknown;
    if (req.disconnectReason === DisconnectReason.USER_INITIATED) {
      await call.end('user_hangup', { notifyMeta: false });
    } else {
      if (!call.isEnded && meta) {
        const request = { ...meta, accessToken: req.whatsappApiKey, callId: call.callId };
        try {
          await (mustReject ? this.graph.rejectCall(request) : this.graph.terminateCall(request));
        } catch (err) {
          upstreamError = err;
          ctx.logger.warn({ err }, 'ending the call at Meta failed');
        }
      }
      await call.end('business_hangup', { notifyMeta: false });
    }
    if (upstreamError) throw this.toApiError(upstreamError);
    return new DisconnectWhatsAppCallResponse();
  }

  // ---- Webhook-driven events -----------------------------------------------------------------

  /** The user (or Meta) ended the call: clean up without calling Meta. Idempotent. */
  async handleUserHangup(callId: string): Promise<void> {
    const call = this.registry.get(callId);
    if (call) await call.end('user_hangup', { notifyMeta: false });
  }

  /** A call status webhook for a business-initiated call. Idempotent, order-tolerant. */
  async handleCallStatus(callId: string, status: MetaCallStatus): Promise<void> {
    const call = this.registry.get(callId);
    if (!call || call.isEnded) return;
    if (status === 'RINGING') call.markRinging();
    else if (status === 'ACCEPTED') call.markAnswered();
    else if (status === 'REJECTED') await call.end('rejected', { notifyMeta: false });
  }

  /** End every call (shutdown). Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.registry.all().map((c) => c.end('shutdown', { notifyMeta: true })));
    this.registry.close();
    this.metaContexts.clear();
    this.answersApplied.clear();
    this.acceptedAtMeta.clear();
  }

  // ---- internals -----------------------------------------------------------------------------

  private reserveCapacity(): void {
    if (this.closed) throw connectorErrors.serverBusy();
    if (!this.registry.hasCapacity(this.pending)) throw connectorErrors.serverBusy();
    this.pending++;
  }

  private createMediaLeg(logger: Logger): WhatsAppMediaLeg {
    return WhatsAppMediaLeg.create({
      sampleRate: BRIDGE_SAMPLE_RATE,
      ...this.mediaSettings,
      logger,
    });
  }

  /** Join the call's room; `call` attributes are in the token, so they are there from the start. */
  private joinRoom(
    req: DialWhatsAppCallRequest | AcceptWhatsAppCallRequest,
    logger: Logger,
    call: CallAttributesInput,
  ): Promise<RoomLegHandle> {
    return this.roomLegs({
      url: this.config.livekit.url,
      apiKey: this.config.livekit.apiKey,
      apiSecret: this.config.livekit.apiSecret,
      roomName: req.roomName,
      identity: req.participantIdentity,
      name: req.participantName || undefined,
      metadata: req.participantMetadata || undefined,
      attributes: {
        ...req.participantAttributes,
        ...buildCallAttributes({
          ...call,
          includePhoneNumber: !this.config.calls.hidePhoneNumber,
          destinationCountry: req.destinationCountry || undefined,
        }),
      },
      agents: req.agents,
      sampleRate: BRIDGE_SAMPLE_RATE,
      logger,
    });
  }

  private createCall(init: {
    callId: string;
    direction: 'inbound' | 'outbound';
    meta: MetaCallContext;
    userPhoneNumber: string;
    roomName: string;
    participantIdentity: string;
    destinationCountry: string;
    bizOpaqueCallbackData: string;
    ringingTimeoutMs: number;
    media: WhatsAppMediaLeg;
    logger: Logger;
  }): WhatsAppCall {
    const log = init.logger.child({ callId: init.callId, direction: init.direction });
    this.metaContexts.set(init.callId, init.meta);
    const call = new WhatsAppCall({
      callId: init.callId,
      direction: init.direction,
      phoneNumberId: init.meta.phoneNumberId,
      userPhoneNumber: init.userPhoneNumber,
      roomName: init.roomName,
      participantIdentity: init.participantIdentity,
      destinationCountry: init.destinationCountry,
      bizOpaqueCallbackData: init.bizOpaqueCallbackData || undefined,
      ringingTimeoutMs: init.ringingTimeoutMs,
      hidePhoneNumber: this.config.calls.hidePhoneNumber,
      mediaTimeoutMs: this.config.calls.mediaTimeoutSeconds * 1000,
      media: init.media,
      terminateAtMeta: async () => {
        const meta = this.metaContexts.get(init.callId);
        if (!meta) return;
        // An inbound call not yet accepted at Meta is rejected; anything else is terminated.
        if (init.direction === 'inbound' && !this.acceptedAtMeta.has(init.callId)) {
          await this.graph.rejectCall({ ...meta, callId: init.callId });
        } else {
          await this.graph.terminateCall({ ...meta, callId: init.callId });
        }
      },
      logger: log,
    });
    this.pending--;
    this.registry.add(call);
    const media = init.media;
    media.on('audio', (pcm) => call.onCallerAudio(pcm));
    media.on('dtmf', (digit) => call.onCallerDtmf(digit));
    media.on('closed', (reason) => {
      if (call.isEnded) return;
      // Meta closing DTLS means the user side is gone; a transport failure means we must tell Meta.
      if (reason === 'peer-closed') void call.end('user_hangup', { notifyMeta: false });
      else void call.end('media_failed', { notifyMeta: true });
    });
    media.on('error', (err) => log.warn({ err }, 'media leg error'));
    call.once('ended', () => {
      this.answersApplied.delete(init.callId);
    });
    return call;
  }

  private attachRoom(call: WhatsAppCall, room: RoomLegHandle): void {
    room.on('audio', (pcm) => call.onRoomAudio(pcm));
    room.on('dtmf', (digit) => call.onRoomDtmf(digit));
    room.on('disconnected', (reason) => {
      void call.end(endReasonForRoom(reason), { notifyMeta: true });
    });
    room.on('error', (err) => call.logError(err, 'room leg error'));
    call.attachRoom(room);
  }

  private forget(callId: string): void {
    this.metaContexts.delete(callId);
    this.acceptedAtMeta.delete(callId);
    this.answersApplied.delete(callId);
  }

  /** Graph failures reach API clients in LiveKit's catalogue form (code + fbtrace_id in meta). */
  private toApiError(err: unknown): ConnectorError {
    if (err instanceof GraphApiError) {
      return whatsAppApiError(
        {
          httpStatus: err.graphStatus,
          code: err.graph.code,
          subcode: err.graph.error_subcode,
          message: err.graph.message,
          type: err.graph.type,
          details: err.graph.error_data?.details,
          fbtraceId: err.graph.fbtrace_id,
        },
        err,
      );
    }
    if (err instanceof GraphTransportError) return connectorErrors.whatsAppApiUnreachable(err);
    if (err instanceof ConnectorError) return err;
    return new ConnectorError('internal', 'internal error', {}, { cause: err });
  }
}

function metaContextOf(req: DialWhatsAppCallRequest | AcceptWhatsAppCallRequest): MetaCallContext {
  return {
    phoneNumberId: req.whatsappPhoneNumberId,
    accessToken: req.whatsappApiKey,
    apiVersion: req.whatsappCloudApiVersion,
  };
}

function durationMs(
  d: { seconds: bigint; nanos: number } | undefined,
  fallbackSeconds: number,
): number {
  if (!d) return fallbackSeconds * 1000;
  return Number(d.seconds) * 1000 + Math.floor(d.nanos / 1e6);
}

function endReasonForRoom(reason: RoomLegDisconnectReason): CallEndReason {
  return reason === 'participant-removed' || reason === 'duplicate-identity'
    ? 'participant_removed'
    : 'room_closed';
}

/** Why waiting for an answer failed, in the catalogue's words. */
function endedError(reason: CallEndReason | undefined): ConnectorError {
  if (reason === 'ringing_timeout') return connectorErrors.acceptTimeout();
  return connectorErrors.connectionClosed();
}

function waitForMediaConnected(media: WhatsAppMediaLeg): Promise<void> {
  if (media.state === 'connected') return Promise.resolve();
  return new Promise((resolve, reject) => {
    media.once('connected', () => resolve());
    media.once('closed', (reason) =>
      reject(new ConnectorError('unavailable', `media connection failed: ${reason}`)),
    );
  });
}

function endedPromise(call: WhatsAppCall): Promise<void> {
  if (call.isEnded) return Promise.resolve();
  return new Promise((resolve) => call.once('ended', () => resolve()));
}
