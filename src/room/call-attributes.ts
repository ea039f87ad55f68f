import { ConnectorError } from '../errors/connector-error.js';

/**
 * Participant attributes describing the WhatsApp call, in the spirit of LiveKit SIP's `sip.*`
 * attributes (`sip.callStatus`, `sip.callID`, `sip.phoneNumber`): agents read them to know who
 * is calling and whether the call is up, and watch `whatsapp.callStatus` change.
 */
export const CALL_ATTRIBUTE = {
  callStatus: 'whatsapp.callStatus',
  callId: 'whatsapp.callId',
  phoneNumber: 'whatsapp.phoneNumber',
  direction: 'whatsapp.direction',
  destinationCountry: 'whatsapp.destinationCountry',
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
  /** Optional - call direction. */
  direction?: WhatsAppCallDirection | undefined;
  /** Optional - ISO 3166-1 alpha-2 country where the call terminates (e.g. `US`). */
  destinationCountry?: string | undefined;
}

/**
 * Build the `whatsapp.*` attribute map for `RoomLeg.setAttributes` / the connector token.
 * Absent optional fields are left out (not set to ''), so a later status update does not erase
 * attributes set at join. Invalid values raise `invalid_argument`.
 */
export function buildCallAttributes(input: CallAttributesInput): Record<string, string> {
  if (!WHATSAPP_CALL_STATUSES.includes(input.callStatus)) {
    throw new ConnectorError('invalid_argument', 'unknown WhatsApp call status', {
      callStatus: String(input.callStatus),
    });
  }
  const attributes: Record<string, string> = { [CALL_ATTRIBUTE.callStatus]: input.callStatus };
  if (input.callId) attributes[CALL_ATTRIBUTE.callId] = input.callId;
  if (input.phoneNumber && input.includePhoneNumber !== false) {
    const digits = input.phoneNumber.replace(/^\+/, '');
    if (!/^\d{5,20}$/.test(digits)) {
      throw new ConnectorError('invalid_argument', 'phone number must be digits with country code');
    }
    attributes[CALL_ATTRIBUTE.phoneNumber] = digits;
  }
  if (input.direction) {
    if (input.direction !== 'inbound' && input.direction !== 'outbound') {
      throw new ConnectorError('invalid_argument', 'call direction must be inbound or outbound');
    }
    attributes[CALL_ATTRIBUTE.direction] = input.direction;
  }
  if (input.destinationCountry) {
    const country = input.destinationCountry.toUpperCase();
    if (!/^[A-Z]{2}$/.test(country)) {
      throw new ConnectorError(
        'invalid_argument',
        'destination country must be an ISO 3166-1 alpha-2 code',
      );
    }
    attributes[CALL_ATTRIBUTE.destinationCountry] = country;
  }
  return attributes;
}
