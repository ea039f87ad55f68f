/** A business phone number hosted by the simulator, with its calling settings (reference §7). */
export interface SimulatedPhoneNumber {
  /** Numeric phone number id (the `{phone-number-id}` of Graph paths). */
  id: string;
  /** Business number as digits without `+`, as in `metadata.display_phone_number`. */
  displayPhoneNumber: string;
  /** WhatsApp Business Account id, the webhook's `entry[].id`. */
  wabaId: string;
  /** Webhook URL for this number; falls back to the simulator's global one. */
  webhookUrl?: string;
  /** `calling.status`. */
  callingEnabled: boolean;
  /** `calling.callback_permission_status`: a user who calls grants a temporary permission. */
  callbackPermission: boolean;
  /** `calling.call_icon_visibility`. */
  callIconVisibility: 'DEFAULT' | 'DISABLE_ALL';
  /** `calling.sip.status`; when enabled Graph `/calls` answers 131055. */
  sipEnabled: boolean;
}

export interface SimulatedPhoneNumberInit {
  id: string;
  displayPhoneNumber: string;
  /** Default "366634483210360". */
  wabaId?: string;
  webhookUrl?: string;
  /** Default true. */
  callingEnabled?: boolean;
  /** Default false. */
  callbackPermission?: boolean;
}

export function createPhoneNumber(init: SimulatedPhoneNumberInit): SimulatedPhoneNumber {
  if (!/^\d+$/.test(init.id)) throw new Error(`phone number id must be numeric: ${init.id}`);
  const display = init.displayPhoneNumber.replace(/^\+/, '');
  if (!/^\d{6,15}$/.test(display)) throw new Error('display phone number must be 6-15 digits');
  return {
    id: init.id,
    displayPhoneNumber: display,
    wabaId: init.wabaId ?? '366634483210360',
    ...(init.webhookUrl !== undefined ? { webhookUrl: init.webhookUrl } : {}),
    callingEnabled: init.callingEnabled ?? true,
    callbackPermission: init.callbackPermission ?? false,
    callIconVisibility: 'DEFAULT',
    sipEnabled: false,
  };
}
