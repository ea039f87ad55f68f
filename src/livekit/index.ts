/**
 * A LiveKit room participant in TypeScript: LiveKit's signal protocol over a WebSocket and werift
 * for the media path, carrying Opus RTP both ways without a codec. The call code uses
 * {@link LiveKitParticipant} and the track classes; everything else is internal.
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
