/**
 * What a call needs from its surroundings, as narrow interfaces: the WebRTC leg to Meta (satisfied
 * by `WhatsAppMediaLeg`), the LiveKit leg (satisfied by `RoomLeg`, our TypeScript participant),
 * and the Graph API calls actions (satisfied by `WhatsAppGraphClient`). Unit tests drive calls
 * through in-memory fakes of these.
 *
 * Audio between the legs is Opus passthrough where it can be: Meta's packets go to the room
 * unchanged (`opus` → `pushCallerOpus`), a single agent's packets go to Meta unchanged (`opus` →
 * `sendOpus`); with two or more speakers the room leg mixes (`audio` → `sendAudio`), and
 * `audioMode` tells the call which of the two the media leg must send.
 */
import type { Logger } from '../log/index.js';
import type { OverloadedError } from './call-errors.js';
import type { MediaQuality } from '../media/media-quality.js';
import type { ReceivedOpusPacket } from '../media/rtp-receiver.js';
import type { ForwardedOpusPacket, SendAudioSource } from '../media/rtp-sender.js';
import type {
  RoomAudioMode,
  RoomDataMessage,
  RoomLegOptions,
  RoomOpusPacket,
} from '../room/room-leg.js';

export type { RoomDataMessage, RoomParticipantKind } from '../room/room-leg.js';
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
  /** One 20 ms mono PCM frame from Meta (only while PCM output is on). */
  audio: [pcm: Int16Array];
  /** One of Meta's Opus packets as it arrived, undecoded (never DTMF). */
  opus: [packet: ReceivedOpusPacket];
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
  /** One 20 ms PCM frame towards Meta (encoded by the leg; the `pcm` source). */
  sendAudio(pcm: Int16Array): void;
  /**
   * One already-encoded Opus packet towards Meta (the `opus` source): the leg gives it its own
   * SSRC, sequence and timestamp on a steady 20 ms cadence, with keep-alives in between.
   */
  sendOpus(packet: ForwardedOpusPacket): void;
  /** Which of `sendAudio` / `sendOpus` feeds Meta from now on (no timestamp jump). */
  selectAudioSource(source: SendAudioSource): void;
  /** Decode Meta's audio into `audio` frames (true) or only hand out `opus` packets (false). */
  setPcmOutput(enabled: boolean): void;
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
  /**
   * How the room's audio comes from now on: `passthrough` (`opus` events: one speaker's packets)
   * or `mixing` (`audio` events: 20 ms mixes). Emitted before the first of the new kind.
   */
  audioMode: [mode: RoomAudioMode];
  /** Passthrough: one Opus packet of the only remote speaker. */
  opus: [packet: RoomOpusPacket];
  /** Mixing: 20 ms mono mix of the other participants, every 20 ms. */
  audio: [pcm: Int16Array];
  /** A DTMF digit sent into the room. */
  dtmf: [digit: string, fromIdentity: string | undefined];
  /** livekit-server was lost; the leg resumes or reconnects on its own. */
  reconnecting: [];
  /** Back in the room after `reconnecting` (same session or a new one). */
  reconnected: [how: 'resumed' | 'reconnected'];
  /** The room side ended the leg, or it could not recover (not emitted for `close()`). */
  disconnected: [reason: string, code: number];
  error: [err: Error];
  /**
   * Optional for a leg - a data packet from another participant (transfer requests travel this
   * way). A leg that never emits it just cannot take such requests.
   */
  data: [message: RoomDataMessage];
}

/** The LiveKit leg of one call. */
export interface RoomLegPort {
  /** How the room's audio comes right now (see `audioMode` events). */
  readonly audioMode: RoomAudioMode;
  /** One of Meta's Opus packets, onto the caller track byte for byte. */
  pushCallerOpus(packet: ReceivedOpusPacket): void;
  /** One 20 ms PCM frame of the caller, encoded onto the caller track. */
  pushCallerAudio(pcm: Int16Array): void;
  /** Play a ringback tone into the room instead of the caller's audio, or stop it at once. */
  setRingback(on: boolean): void;
  sendDtmf(digit: string): Promise<void>;
  setAttributes(attributes: Record<string, string>): Promise<void>;
  /**
   * Optional - send a reliable data packet on `topic` to one participant of the room (answers to
   * transfer requests). A leg without it cannot answer.
   */
  sendData?(topic: string, payload: Uint8Array, destinationIdentity: string): Promise<void>;
  /**
   * Leave the room. `reason` is why the call ended, mapped to the LiveKit DisconnectReason the
   * room reads (`DISCONNECT_REASON_OF_END`). Idempotent; never rejects.
   */
  close(reason?: CallEndReason): Promise<void>;
  on<K extends keyof RoomLegPortEvents & string>(
    event: K,
    listener: (...args: RoomLegPortEvents[K]) => void,
  ): unknown;
}

/** Joins a call's room leg (`joinRoomLeg` of `src/room/`). Rejects when the join fails. */
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
