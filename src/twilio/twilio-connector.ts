import {
  ConnectTwilioCallRequest_TwilioCallDirection as Direction,
  ConnectTwilioCallResponse,
  RoomAgentDispatch,
  type ConnectTwilioCallRequest,
} from '@livekit/protocol';
import type { RequestContext } from '../connector/request-context.js';
import { connectorErrors } from '../connector/connector-errors.js';
import type { TwilioCallBackend } from '../connector/twilio-call-backend.js';
import { ConnectorError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import type { LiveKitConfig } from '../config/index.js';
import { joinRoomLeg, type RoomLeg, type RoomLegFactory } from '../room/room-leg.js';
import {
  ConnectUrlSigner,
  connectUrl,
  mediaStreamBaseUrl,
  newSessionId,
} from './connect-url-signer.js';
import { MediaStreamEndpoint } from './media-stream-endpoint.js';
import type { MediaStreamLimits } from './media-stream-session.js';
import { ParticipantReveal } from './participant-reveal.js';
import { TwilioCall, type TwilioTransferTarget } from './twilio-call.js';
import { joinAttributes, type TwilioCallDirection } from './twilio-call-attributes.js';
import { TwilioCallRegistry } from './twilio-call-registry.js';

/** PCM rate of the room leg: Twilio's 8 kHz audio is carried at 16 kHz (wideband Opus). */
export const TWILIO_LEG_SAMPLE_RATE = 16_000;
/** Name of the caller's track in the room. */
export const TWILIO_TRACK_NAME = 'twilio';

export interface TwilioConnectorOptions {
  /** Required - livekit-server the calls' rooms live on. */
  livekit: LiveKitConfig;
  /**
   * Optional - base URL Twilio reaches this service at (`PUBLIC_URL`), e.g.
   * `https://connector.example.com`. Default: the origin of each ConnectTwilioCall request.
   */
  publicUrl?: string | undefined;
  /** Required - how long a connect URL stays usable, ms. */
  connectUrlTtlMs: number;
  /** Required - no frame from Twilio for this long ends a call, ms. */
  streamTimeoutMs: number;
  /** Required - Twilio calls (waiting or connected) held at once. */
  maxCalls: number;
  /** Optional - joins the calls' room legs. Default: in this process. */
  roomLegs?: RoomLegFactory | undefined;
  /** Optional - signs connect URLs. Default: a key derived from the LiveKit API secret. */
  signer?: ConnectUrlSigner | undefined;
  /** Optional - further media stream limits (flood, marks, malformed frames). */
  limits?: Partial<MediaStreamLimits> | undefined;
  /**
   * Optional - tells the cluster that this instance holds the call of a new connect URL (until
   * `expiresAtMs`), before the URL is answered, so that a stream reaching another instance is
   * relayed here. A failure is logged; the URL still works where it was issued.
   */
  announce?: ((sessionId: string, expiresAtMs: number) => Promise<void>) | undefined;
  logger: Logger;
}

/**
 * `ConnectTwilioCall` and the Media Streams endpoint it hands out, as LiveKit's connector does it:
 * the request joins a hidden CONNECTOR participant (kind detail CONNECTOR_TWILIO) into the room,
 * dispatching the requested agents, and answers a signed, single-use, expiring `wss://` URL for a
 * TwiML `<Connect><Stream url="…">`. When Twilio connects and sends `start`, the participant
 * becomes visible and audio flows both ways; the call ends with the stream, or when the room
 * ends it, or when the URL expires unused.
 *
 * Calls live in this instance's memory. In a cluster each new URL is announced (`announce`), so a
 * stream that reaches another instance is relayed to this one (see `MediaStreamEndpoint`).
 */
export class TwilioConnector implements TwilioCallBackend {
  readonly registry: TwilioCallRegistry;
  readonly endpoint: MediaStreamEndpoint;
  readonly #options: TwilioConnectorOptions;
  readonly #signer: ConnectUrlSigner;
  readonly #roomLegs: RoomLegFactory;
  readonly #reveal: ParticipantReveal;
  readonly #log: Logger;
  #pending = 0;
  #draining = false;
  #closing: Promise<void> | undefined;

  constructor(options: TwilioConnectorOptions) {
    this.#options = options;
    this.#log = options.logger.child({ component: 'twilio' });
    this.#signer = options.signer ?? new ConnectUrlSigner(options.livekit.apiSecret);
    this.#roomLegs = options.roomLegs ?? joinRoomLeg;
    const { url, apiKey, apiSecret } = options.livekit;
    this.#reveal = new ParticipantReveal(url, apiKey, apiSecret);
    this.registry = new TwilioCallRegistry({ maxCalls: options.maxCalls });
    this.endpoint = new MediaStreamEndpoint({
      signer: this.#signer,
      registry: this.registry,
      logger: this.#log,
    });
  }

  async connectTwilioCall(
    req: ConnectTwilioCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectTwilioCallResponse> {
    if (this.#closing || this.#draining) throw connectorErrors.shuttingDown();
    if (!this.registry.hasCapacity(this.#pending)) throw connectorErrors.serverBusy();
    const origin = ctx.clientOrigin;
    if (!this.#options.publicUrl && !origin) {
      throw new ConnectorError(
        'failed_precondition',
        'cannot build the connect URL: set PUBLIC_URL (the request had no Host header)',
      );
    }
    const requestTimeMs = Date.now();
    const direction: TwilioCallDirection =
      req.twilioCallDirection === Direction.OUTBOUND ? 'outbound' : 'inbound';
    const sessionId = newSessionId();
    // Tokens carry whole seconds: the call expires exactly when its URL does.
    const expiresAtMs = Math.ceil((requestTimeMs + this.#options.connectUrlTtlMs) / 1000) * 1000;
    const log = ctx.logger.child({ component: 'twilio', sessionId, direction });

    this.#pending++;
    let leg: RoomLeg;
    try {
      leg = await this.#joinHidden(req, direction, requestTimeMs, log);
    } finally {
      this.#pending--;
    }
    if (ctx.signal.aborted || this.#closing) {
      // Nobody will ever get the URL: do not leave a hidden participant behind.
      await leg.close();
      throw new ConnectorError('canceled', 'the request was canceled');
    }

    const call = new TwilioCall({
      sessionId,
      direction,
      roomName: req.roomName,
      participantIdentity: req.participantIdentity,
      expiresAtMs,
      room: { leg, reveal: () => this.#reveal.reveal(req.roomName, req.participantIdentity) },
      participant: {
        name: req.participantName || undefined,
        metadata: req.participantMetadata || undefined,
        attributes: { ...req.participantAttributes },
      },
      joinForTransfer: (target, attributes, logger) =>
        this.#joinVisible(target, attributes, logger),
      limits: { silenceTimeoutMs: this.#options.streamTimeoutMs, ...this.#options.limits },
      logger: log,
    });
    this.registry.add(call);
    if (this.#options.announce) {
      await this.#options
        .announce(sessionId, expiresAtMs)
        .catch((err: unknown) =>
          log.warn(
            { reason: (err as Error).message },
            'could not announce the connect URL to the cluster: it works only on this instance',
          ),
        );
    }
    log.info(
      { room: req.roomName, identity: req.participantIdentity, expiresAtMs },
      'twilio connect URL issued',
    );
    const token = this.#signer.sign(sessionId, expiresAtMs);
    const base = mediaStreamBaseUrl(this.#options.publicUrl, origin ?? '');
    return new ConnectTwilioCallResponse({ connectUrl: connectUrl(base, token) });
  }

  /**
   * The active call whose Twilio call SID (`CA…`) or connect-URL session id is `id`, on this
   * instance; undefined when there is none.
   */
  find(id: string): TwilioCall | undefined {
    return this.registry.get(id) ?? this.registry.active().find((call) => call.callSid === id);
  }

  /**
   * Transfer the Twilio call `id` (see {@link find}) into another room. Resolves undefined when
   * no such call is held here.
   */
  async transfer(
    id: string,
    target: TwilioTransferTarget,
  ): Promise<{ roomName: string; identity: string } | undefined> {
    const call = this.find(id);
    if (!call || call.isEnded) return undefined;
    return call.transfer(target);
  }

  /** Calls of this instance, for listings. */
  list() {
    return this.registry.list();
  }

  /** Shutting down: refuse new calls (`unavailable`); the calls under way go on. */
  startDraining(): void {
    this.#draining = true;
  }

  /** Calls not yet ended (a drain waits for them). */
  get activeCount(): number {
    return this.registry.active().length;
  }

  /** End every call (`shutdown`), refuse new ones. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      await Promise.all(this.registry.active().map((call) => call.end('shutdown')));
      this.endpoint.close();
      this.registry.clear();
    })();
    return this.#closing;
  }

  /** A transfer's room leg: visible at once (the stream is running), the call's agents once. */
  async #joinVisible(
    target: TwilioTransferTarget & { identity: string },
    attributes: Record<string, string>,
    log: Logger,
  ): Promise<RoomLeg> {
    const { url, apiKey, apiSecret } = this.#options.livekit;
    try {
      return await this.#roomLegs({
        url,
        apiKey,
        apiSecret,
        roomName: target.roomName,
        identity: target.identity,
        name: target.name,
        metadata: target.metadata,
        attributes,
        agents: target.agents?.map((a) => new RoomAgentDispatch(a)),
        sampleRate: TWILIO_LEG_SAMPLE_RATE,
        kindDetail: 'connector_twilio',
        callerTrackName: TWILIO_TRACK_NAME,
        forwardSingleSpeaker: false,
        awaitRoomAudioMs: 1500,
        logger: log,
      });
    } catch (err) {
      log.warn({ err }, 'joining the transfer room failed');
      throw new ConnectorError(
        'unavailable',
        'could not join the livekit room',
        {},
        { cause: err },
      );
    }
  }

  async #joinHidden(
    req: ConnectTwilioCallRequest,
    direction: TwilioCallDirection,
    requestTimeMs: number,
    log: Logger,
  ): Promise<RoomLeg> {
    const { url, apiKey, apiSecret } = this.#options.livekit;
    try {
      return await this.#roomLegs({
        url,
        apiKey,
        apiSecret,
        roomName: req.roomName,
        identity: req.participantIdentity,
        name: req.participantName || undefined,
        metadata: req.participantMetadata || undefined,
        attributes: {
          ...req.participantAttributes,
          ...joinAttributes({
            direction,
            destinationCountry: req.destinationCountry || undefined,
            requestTimeMs,
          }),
        },
        agents: req.agents,
        sampleRate: TWILIO_LEG_SAMPLE_RATE,
        kindDetail: 'connector_twilio',
        hidden: true,
        callerTrackName: TWILIO_TRACK_NAME,
        // Twilio speaks μ-law: the room's audio is always mixed to PCM for it.
        forwardSingleSpeaker: false,
        logger: log,
      });
    } catch (err) {
      if (err instanceof ConnectorError) throw err;
      log.error({ err }, 'joining the room failed');
      throw new ConnectorError(
        'unavailable',
        'could not join the livekit room',
        {},
        { cause: err },
      );
    }
  }
}
