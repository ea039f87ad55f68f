/**
 * A LiveKit room participant in TypeScript: LiveKit's signal protocol over a WebSocket and werift
 * for the media path, carrying Opus RTP both ways without a codec. The call code uses
 * {@link LiveKitParticipant} and the track classes; everything else is internal.
 *
 * Files, from the top down:
 * - `livekit-participant.ts` the public entity: room state (participants, remote tracks,
 *   subscriptions, our name/metadata/attributes), typed events, leave.
 * - `rtc-engine.ts` the transport: signal client + one (single-PC, `/rtc/v1`, publisher offer
 *   in the join request) or two (publisher + subscriber, `/rtc`) peer connections, negotiation,
 *   data channels, which media section carries which remote track, recovery hooks.
 * - `reconnect-supervisor.ts` when the connection is lost: resume, then full reconnect, within
 *   one deadline.
 * - `signal-client.ts` join/resume handshakes, request queue while reconnecting, ping/pong.
 * - `signal-socket.ts` the WebSocket (`ws`), behind an interface tests replace;
 *   `signal-url.ts` the join URL and its WrappedJoinRequest.
 * - `peer-transport.ts` one werift RTCPeerConnection and its configuration.
 * - `local-audio-track.ts`, `remote-audio-track.ts`, `remote-participant.ts`,
 *   `data-packets.ts` (SipDTMF, user packets, reliable sequencing), `livekit-errors.ts`,
 *   `participant-options.ts`.
 */
export { LiveKitParticipant, type LiveKitParticipantEvents } from './livekit-participant.js';
export {
  LocalAudioTrack,
  type LocalAudioTrackOptions,
  type LocalAudioTrackStats,
  type OutgoingOpusPacket,
} from './local-audio-track.js';
export { RemoteAudioTrack, type IncomingRtpPacket } from './remote-audio-track.js';
export { RemoteParticipant, type ParticipantChanges } from './remote-participant.js';
export { LiveKitError, type LiveKitErrorReason } from './livekit-errors.js';
export type { PublishDataOptions } from './data-packets.js';
export type {
  IceOptions,
  IceServer,
  JoinOptions,
  PeerConnectionMode,
  TimeoutOptions,
} from './participant-options.js';
export type { SignalSocket, SignalSocketFactory } from './signal-socket.js';
export {
  DisconnectReason,
  ParticipantInfo_Kind as ParticipantKind,
  TrackSource,
} from '@livekit/protocol';
