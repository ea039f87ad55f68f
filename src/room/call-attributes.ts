import { InvalidArgumentError } from '../errors/service-error.js';

/**
 * Participant attributes describing the WhatsApp call, in the spirit of LiveKit SIP's `sip.*`
 * attributes (`sip.callStatus`, `sip.callID`, `sip.phoneNumber`): agents read them to know who
 * is calling and whether the call is up, and watch `whatsapp.callStatus` change. Before the
 * connector leaves, `whatsapp.endReason` says why the call ended.
 */
export const CALL_ATTRIBUTE = {
  callStatus: 'whatsapp.callStatus',
  callId: 'whatsapp.callId',
  phoneNumber: 'whatsapp.phoneNumber',
  /** The user's business-scoped user id (BSUID), when Meta named the user by it. */
  userId: 'whatsapp.userId',
  /** The user's WhatsApp username, when they adopted one and Meta sent it. */
  username: 'whatsapp.username',
  direction: 'whatsapp.direction',
  destinationCountry: 'whatsapp.destinationCountry',
  /** Why the call ended (`CallEndReason`), set together with `callStatus` = `hangup`. */
  endReason: 'whatsapp.endReason',
  /** In the room a call was transferred into: the room it came from. */
  transferredFrom: 'whatsapp.transferredFrom',
  /** In the room a call left by transfer (with end reason `transferred`): the room it went to. */
  transferredTo: 'whatsapp.transferredTo',
} as const;

/** Call progress as LiveKit SIP names it: dialing → ringing → active → hangup. */
export type WhatsAppCallStatus = 'dialing' | 'ringing' | 'active' | 'hangup';
export const WHATSAPP_CALL_STATUSES: readonly WhatsAppCallStatus[] = [
  'dialing',
  'ringing',
  'active',
  'hangup',
];

/** inbound: the WhatsApp user called the business; outbound: the business dialled the user. */
export type WhatsAppCallDirection = 'inbound' | 'outbound';

export interface CallAttributesInput {
  /** Required - current call status. */
  callStatus: WhatsAppCallStatus;
  /** Optional - Meta's call id (`wacid.…`). */
  callId?: string | undefined;
  /**
   * Optional - the WhatsApp user's number, digits with country code, no `+`. Omitted from the
   * attributes when absent or when `includePhoneNumber` is false (privacy setting).
   */
  phoneNumber?: string | undefined;
  /** Optional - include `whatsapp.phoneNumber`. Default true. */
  includePhoneNumber?: boolean | undefined;
  /** Optional - the user's BSUID (e.g. `US.13491208655302741918`). */
  userId?: string | undefined;
  /** Optional - the user's WhatsApp username. */
  username?: string | undefined;
  /** Optional - call direction. */
  direction?: WhatsAppCallDirection | undefined;
  /** Optional - ISO 3166-1 alpha-2 country where the call terminates (e.g. `US`). */
  destinationCountry?: string | undefined;
  /** Optional - why the call ended; only with `callStatus` `hangup`. */
  endReason?: string | undefined;
}

/**
 * Build the `whatsapp.*` attribute map for `RoomLeg.setAttributes` / the connector token.
 * Absent optional fields are left out (not set to ''), so a later status update does not erase
 * attributes set at join. Invalid values raise `InvalidArgumentError`.
 */
export function buildCallAttributes(input: CallAttributesInput): Record<string, string> {
  if (!WHATSAPP_CALL_STATUSES.includes(input.callStatus)) {
    throw new InvalidArgumentError(
      `unknown WhatsApp call status ${JSON.stringify(input.callStatus)}`,
      'callStatus',
    );
  }
  const attributes: Record<string, string> = { [CALL_ATTRIBUTE.callStatus]: input.callStatus };
  if (input.callId) attributes[CALL_ATTRIBUTE.callId] = input.callId;
  if (input.phoneNumber && input.includePhoneNumber !== false) {
    const digits = input.phoneNumber.replace(/^\+/, '');
    if (!/^\d{5,20}$/.test(digits)) {
      throw new InvalidArgumentError(
        'phone number must be digits with country code',
        'phoneNumber',
      );
    }
    attributes[CALL_ATTRIBUTE.phoneNumber] = digits;
  }
  if (input.userId) attributes[CALL_ATTRIBUTE.userId] = input.userId;
  if (input.username) attributes[CALL_ATTRIBUTE.username] = input.username;
  if (input.direction) {
    if (input.direction !== 'inbound' && input.direction !== 'outbound') {
      throw new InvalidArgumentError('call direction must be inbound or outbound', 'direction');
    }
    attributes[CALL_ATTRIBUTE.direction] = input.direction;
  }
  if (input.destinationCountry) {
    const country = input.destinationCountry.toUpperCase();
    if (!/^[A-Z]{2}$/.test(country)) {
      throw new InvalidArgumentError(
        'destination country must be an ISO 3166-1 alpha-2 code',
        'destinationCountry',
      );
    }
    attributes[CALL_ATTRIBUTE.destinationCountry] = country;
  }
  if (input.endReason) {
    if (input.callStatus !== 'hangup') {
      throw new InvalidArgumentError('an end reason goes with the hangup status', 'endReason');
    }
    attributes[CALL_ATTRIBUTE.endReason] = input.endReason;
  }
  return attributes;
}
