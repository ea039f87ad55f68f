/**
 * Participant attributes of a Twilio call's connector participant, in the style of LiveKit SIP's
 * `sip.*` attributes and the `whatsapp.*` ones of this service: agents read who is calling and
 * watch `twilio.callStatus`; `twilio.endReason` says why the call ended, set just before the
 * participant leaves. LiveKit's own connector timestamps (`lk.connector.requestTime` for inbound,
 * `lk.connector.answerTime` for outbound, Unix milliseconds; `livekit/protocol` `connector/attrs.go`)
 * are set the same way.
 */
export const TWILIO_ATTRIBUTE = {
  callStatus: 'twilio.callStatus',
  callSid: 'twilio.callSid',
  streamSid: 'twilio.streamSid',
  direction: 'twilio.direction',
  destinationCountry: 'twilio.destinationCountry',
  endReason: 'twilio.endReason',
  /** In a room the call was transferred into: the room it came from. */
  transferredFrom: 'twilio.transferredFrom',
  /** In the room a call left by transfer: the room it went to. */
  transferredTo: 'twilio.transferredTo',
  requestTime: 'lk.connector.requestTime',
  answerTime: 'lk.connector.answerTime',
} as const;

/**
 * - `connecting`: the connect URL is out; the participant is in the room, hidden, waiting for
 *   Twilio's media stream.
 * - `active`: the stream started; the participant is visible, audio flows both ways.
 * - `hangup`: the call ended (see `twilio.endReason`).
 */
export type TwilioCallStatus = 'connecting' | 'active' | 'hangup';

/** inbound: the call came in to Twilio; outbound: the application had Twilio place it. */
export type TwilioCallDirection = 'inbound' | 'outbound';

/**
 * Why a Twilio call ended (`twilio.endReason`):
 * - `stream_stopped`: Twilio sent `stop` (the call hung up, or the application ended the stream);
 * - `stream_closed`: the WebSocket closed without a `stop`;
 * - `media_timeout`: no frame from Twilio for the stream timeout;
 * - `protocol_error`: too many malformed frames, or an unusable `start`;
 * - `media_flood`: Twilio's side sent audio faster than real time for too long;
 * - `url_expired`: the connect URL was never used before it expired;
 * - `room_closed`: the room was closed or deleted;
 * - `participant_removed`: the connector participant was removed (or replaced by the same identity);
 * - `failed`: the room connection was lost or setting up the call failed;
 * - `shutdown`: the service is shutting down;
 * - `transferred`: (in the room it left) the call moved to another room and goes on there.
 */
export type TwilioEndReason =
  | 'stream_stopped'
  | 'stream_closed'
  | 'media_timeout'
  | 'protocol_error'
  | 'media_flood'
  | 'url_expired'
  | 'room_closed'
  | 'participant_removed'
  | 'failed'
  | 'shutdown'
  | 'transferred';

/** Attributes the participant joins with (hidden, before the stream connects). */
export function joinAttributes(options: {
  direction: TwilioCallDirection;
  destinationCountry?: string | undefined;
  requestTimeMs: number;
}): Record<string, string> {
  const attrs: Record<string, string> = {
    [TWILIO_ATTRIBUTE.callStatus]: 'connecting',
    [TWILIO_ATTRIBUTE.direction]: options.direction,
  };
  if (options.destinationCountry) {
    attrs[TWILIO_ATTRIBUTE.destinationCountry] = options.destinationCountry;
  }
  if (options.direction === 'inbound') {
    attrs[TWILIO_ATTRIBUTE.requestTime] = String(Math.round(options.requestTimeMs));
  }
  return attrs;
}

/** Attributes set when Twilio's `start` arrives. */
export function activeAttributes(options: {
  direction: TwilioCallDirection;
  callSid: string;
  streamSid: string;
  startTimeMs: number;
}): Record<string, string> {
  const attrs: Record<string, string> = {
    [TWILIO_ATTRIBUTE.callStatus]: 'active',
    [TWILIO_ATTRIBUTE.callSid]: options.callSid,
    [TWILIO_ATTRIBUTE.streamSid]: options.streamSid,
  };
  // <Connect><Stream> runs once the callee answered, so the stream start is the answer time.
  if (options.direction === 'outbound') {
    attrs[TWILIO_ATTRIBUTE.answerTime] = String(Math.round(options.startTimeMs));
  }
  return attrs;
}

/** Attributes set just before the participant leaves. */
export function endAttributes(reason: TwilioEndReason): Record<string, string> {
  return { [TWILIO_ATTRIBUTE.callStatus]: 'hangup', [TWILIO_ATTRIBUTE.endReason]: reason };
}
