import {
  ConnectTwilioCallRequest_TwilioCallDirection as TwilioCallDirection,
  type ConnectTwilioCallRequest,
  type ConnectTwilioCallResponse,
} from '@livekit/protocol';
import { ConnectorError } from '../errors/index.js';
import type { RequestContext } from './request-context.js';
import { connectorErrors } from './connector-errors.js';
import { randomSuffix } from '../calls/participant-defaults.js';
import { isIsoCountryCode } from './iso-country-codes.js';

/**
 * The work behind `ConnectTwilioCall` (see `src/twilio/`). Requests arrive authenticated and
 * normalised by {@link validateConnectTwilioCall}: the direction is INBOUND or OUTBOUND,
 * `roomName` and `participantIdentity` are set, `destinationCountry` is empty or an upper-case
 * ISO 3166-1 alpha-2 code. Implementations throw `ConnectorError`s.
 */
export interface TwilioCallBackend {
  connectTwilioCall(
    req: ConnectTwilioCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectTwilioCallResponse>;
}

/** Room name for ConnectTwilioCall requests without one: `twilio-` and 12 base32 characters. */
export function generateTwilioRoomName(): string {
  return `twilio-${randomSuffix()}`;
}

/**
 * Check and normalise a ConnectTwilioCall request in place (ours: LiveKit documents no errors
 * for this method). Checks, in order: direction, destination country; then defaults: room name
 * `twilio-<random>`, participant identity `twilio_<random>` (the identity is for logs, so it is
 * not derived from the caller).
 */
export function validateConnectTwilioCall(
  req: ConnectTwilioCallRequest,
  generateRoomName: () => string = generateTwilioRoomName,
): ConnectTwilioCallRequest {
  if (
    req.twilioCallDirection !== TwilioCallDirection.INBOUND &&
    req.twilioCallDirection !== TwilioCallDirection.OUTBOUND
  ) {
    throw new ConnectorError(
      'invalid_argument',
      'twilio call direction must be TWILIO_CALL_DIRECTION_INBOUND or TWILIO_CALL_DIRECTION_OUTBOUND',
    );
  }
  if (req.destinationCountry !== '') {
    if (!isIsoCountryCode(req.destinationCountry)) {
      throw connectorErrors.invalidDestinationCountry(req.destinationCountry);
    }
    req.destinationCountry = req.destinationCountry.toUpperCase();
  }
  if (req.roomName.trim() === '') req.roomName = generateRoomName();
  if (req.participantIdentity.trim() === '') req.participantIdentity = `twilio_${randomSuffix()}`;
  return req;
}
