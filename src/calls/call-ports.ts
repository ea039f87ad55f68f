/**
 * What a call needs from its surroundings, as narrow interfaces: the WebRTC leg to Meta (satisfied
 * by `WhatsAppMediaLeg`), the LiveKit leg (satisfied by `RoomLeg` and the worker-hosted
 * `RemoteRoomLeg`), and the Graph API calls actions (satisfied by `WhatsAppGraphClient`). Unit
 * tests drive calls through in-memory fakes of these.
 */
import type { Logger } from '../log/index.js';
import type { OverloadedError } from './call-errors.js';
import type { MediaQuality } from '../media/media-quality.js';
import type { RoomLegOptions } from '../room/room-leg.js';
import type {
  AcceptCallRequest,
  AnswerCallRequest,
  CallIdRequest,
  ConnectCallRequest,
  ConnectCallResult,
} from '../whatsapp/graph-client.js';
import type { CallEndReason } from './call-end-reason.js';

/** Events of the media leg the call listens to. */
export interface MediaLegPortEvents {
  /** ICE and DTLS are up. */
  connected: [];
  /** One 20 ms mono PCM frame from Meta. */
  audio: [pcm: Int16Array];
  /** A DTMF digit the user pressed. */
  dtmf: [digit: string];
  /** The leg closed; `peer-closed` means Meta closed DTLS (the user side is gone). */
  closed: [reason: string];
  error: [err: Error];
}

/** The WebRTC leg to Meta of one call. */
export interface MediaLegPort {
  /** `new` → `connecting` → `connected` → `closed`. */
  readonly state: string;
  /** A business-initiated call's complete SDP offer. */
  createOffer(): Promise<string>;
  /** A user-initiated call: answer Meta's offer (rejects when the offer is unusable). */
  createAnswer(offer: string): Promise<string>;
  /** Apply Meta's answer to our offer (rejects when the answer is unusable). */
  setRemoteAnswer(sdp: string): Promise<void>;
  /** Counters; `packetsReceived` (RTP from Meta) drives the media watchdog. */
  stats(): { packetsReceived: number };
  /**
   * Optional - live quality per direction (loss, jitter, levels), read by operators' views; the
   * call itself never needs it. `WhatsAppMediaLeg` measures it; test fakes may leave it out.
   */
  quality?(): MediaQuality;
  /** One 20 ms PCM frame towards Meta. */
  sendAudio(pcm: Int16Array): void;
  sendDtmf(digit: string): void;
  /** Idempotent; never rejects. */
  close(): Promise<void>;
  on<K extends keyof MediaLegPortEvents & string>(
    event: K,
    listener: (...args: MediaLegPortEvents[K]) => void,
  ): unknown;
  once<K extends keyof MediaLegPortEvents & string>(
    event: K,
    listener: (...args: MediaLegPortEvents[K]) => void,
  ): unknown;
}

/** Creates the media leg of a new call. */
export type MediaLegFactory = (logger: Logger) => MediaLegPort;

/** Events of the room leg the call listens to. */
export interface RoomLegPortEvents {
  /** 20 ms mono mix of the other participants. */
  audio: [pcm: Int16Array];
  /** A DTMF digit sent into the room. */
  dtmf: [digit: string, fromIdentity: string | undefined];
  /** The room side ended the leg (not emitted for `close()`). */
  disconnected: [reason: string, code: number];
  error: [err: Error];
}

/** The LiveKit leg of one call. */
export interface RoomLegPort {
  pushCallerAudio(pcm: Int16Array): void;
  sendDtmf(digit: string): Promise<void>;
  setAttributes(attributes: Record<string, string>): Promise<void>;
  /**
   * Leave the room. `reason` is why the call ended: a leg that can tell LiveKit (a
   * DisconnectReason) maps it; the rtc-node leg ignores it. Idempotent; never rejects.
   */
  close(reason?: CallEndReason): Promise<void>;
  on<K extends keyof RoomLegPortEvents & string>(
    event: K,
    listener: (...args: RoomLegPortEvents[K]) => void,
  ): unknown;
}

/** Joins a call's room leg (`RoomLegFactory` of `src/room/`). Rejects when the join fails. */
export type RoomJoiner = (options: RoomLegOptions) => Promise<RoomLegPort>;

/** The Graph API calls actions a call uses (`WhatsAppGraphClient`). */
export interface GraphCallsPort {
  connectCall(request: ConnectCallRequest): Promise<ConnectCallResult>;
  preAcceptCall(request: AnswerCallRequest): Promise<void>;
  acceptCall(request: AcceptCallRequest): Promise<void>;
  rejectCall(request: CallIdRequest): Promise<void>;
  terminateCall(request: CallIdRequest): Promise<void>;
}

/**
 * Whether this instance may start another call now, besides the call limit: admission control
 * (`src/server/admission-control.ts`) watching event-loop lag and CPU. Asked once per new call
 * and by the router before it places a call here, so `overload()` must be cheap.
 */
export interface AdmissionPort {
  /** Undefined while new calls may start; else why not. */
  overload(): OverloadedError | undefined;
  /** A new call was refused for `reason` (counted for `/metrics`). */
  refused(reason: 'calls' | 'draining' | OverloadedError['reason']): void;
}
