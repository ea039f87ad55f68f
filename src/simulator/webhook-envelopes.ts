/**
 * Builders of Meta's webhook bodies, in the key order of the real captures (reference §4):
 * string Unix-second timestamps, integer `duration`, `errors` both inside the call and at
 * `value` level on failed terminates ([CAP-1]).
 */
import type {
  CallConnectWebhook,
  CallDirection,
  CallPermissionReply,
  CallPermissionReplyMessage,
  CallStatusValue,
  CallStatusWebhook,
  CallTerminateWebhook,
  CallsWebhookValue,
  MessagesWebhookValue,
  WebhookContact,
  WebhookError,
  WhatsAppWebhookPayload,
} from '../whatsapp/webhook-payloads.js';
import type { SimulatedPhoneNumber } from './simulated-phone-number.js';
import type { SimulatedUser } from './simulated-user.js';

/** Unix seconds as Meta sends them (a string). */
export function unixSeconds(ms: number): string {
  return String(Math.floor(ms / 1000));
}

function envelope(
  number: SimulatedPhoneNumber,
  field: 'calls' | 'messages',
  value: CallsWebhookValue | MessagesWebhookValue,
): WhatsAppWebhookPayload {
  return {
    object: 'whatsapp_business_account',
    entry: [{ id: number.wabaId, changes: [{ value, field } as never] }],
  };
}

function metadata(number: SimulatedPhoneNumber) {
  return { display_phone_number: number.displayPhoneNumber, phone_number_id: number.id };
}

/**
 * The user's `contacts[]` entry in the 2026 shape ([UIC]/[BIC] samples, reference §4.2-4.3): the
 * BSUID always, the number only when the business may see it, the username when adopted.
 */
function contact(user: SimulatedUser): WebhookContact {
  return {
    profile: {
      name: user.name,
      ...(user.username !== undefined ? { username: user.username } : {}),
    },
    ...(user.phoneNumber !== undefined ? { wa_id: user.phoneNumber } : {}),
    user_id: user.userId,
    ...(user.parentUserId !== undefined ? { parent_user_id: user.parentUserId } : {}),
  };
}

/** What every call webhook needs to know about the call. */
export interface CallWebhookContext {
  id: string;
  direction: CallDirection;
  number: SimulatedPhoneNumber;
  user: SimulatedUser;
  bizOpaqueCallbackData?: string | undefined;
}

/**
 * `from`/`to` of a call with the user's BSUID fields next to the user's side. A username-only
 * user has no number: Meta's field note says `from` "may be omitted if the user has adopted a
 * username" (reference §4.2); that `to` is likewise omitted on business-initiated calls is
 * UNCONFIRMED.
 */
function parties(c: CallWebhookContext): {
  from?: string;
  from_user_id?: string;
  from_parent_user_id?: string;
  to?: string;
  to_user_id?: string;
  to_parent_user_id?: string;
} {
  const u = c.user;
  if (c.direction === 'USER_INITIATED') {
    return {
      ...(u.phoneNumber !== undefined ? { from: u.phoneNumber } : {}),
      from_user_id: u.userId,
      ...(u.parentUserId !== undefined ? { from_parent_user_id: u.parentUserId } : {}),
      to: c.number.displayPhoneNumber,
    };
  }
  return {
    from: c.number.displayPhoneNumber,
    ...(u.phoneNumber !== undefined ? { to: u.phoneNumber } : {}),
    to_user_id: u.userId,
    ...(u.parentUserId !== undefined ? { to_parent_user_id: u.parentUserId } : {}),
  };
}

/** `connect`: Meta's offer (user-initiated) or Meta's answer (business-initiated). */
export function connectWebhook(
  c: CallWebhookContext,
  sdp: string,
  at: number,
): WhatsAppWebhookPayload {
  const call: CallConnectWebhook = {
    id: c.id,
    ...parties(c),
    event: 'connect',
    timestamp: unixSeconds(at),
    direction: c.direction,
    ...(c.direction === 'BUSINESS_INITIATED' && c.bizOpaqueCallbackData !== undefined
      ? { biz_opaque_callback_data: c.bizOpaqueCallbackData }
      : {}),
    session:
      c.direction === 'USER_INITIATED'
        ? ({ sdp, sdp_type: 'offer' } as CallConnectWebhook['session'])
        : { sdp_type: 'answer', sdp },
  };
  return envelope(c.number, 'calls', {
    messaging_product: 'whatsapp',
    metadata: metadata(c.number),
    contacts: [contact(c.user)],
    calls: [call],
  });
}

/** Business-initiated call progress (`statuses[]`, `type: "call"`). */
export function callStatusWebhook(
  c: CallWebhookContext,
  status: CallStatusValue,
  at: number,
): WhatsAppWebhookPayload {
  const item: CallStatusWebhook = {
    id: c.id,
    timestamp: unixSeconds(at),
    type: 'call',
    status,
    ...(c.user.phoneNumber !== undefined ? { recipient_id: c.user.phoneNumber } : {}),
    recipient_user_id: c.user.userId,
    ...(c.user.parentUserId !== undefined ? { recipient_parent_user_id: c.user.parentUserId } : {}),
    ...(c.bizOpaqueCallbackData !== undefined
      ? { biz_opaque_callback_data: c.bizOpaqueCallbackData }
      : {}),
  };
  return envelope(c.number, 'calls', {
    messaging_product: 'whatsapp',
    metadata: metadata(c.number),
    statuses: [item],
  });
}

export interface TerminateDetails {
  at: number;
  /** When the call was picked up; start/end/duration are only sent for picked-up calls. */
  answeredAt?: number | undefined;
  status: 'COMPLETED' | 'FAILED';
  error?: WebhookError | undefined;
}

export function terminateWebhook(
  c: CallWebhookContext,
  d: TerminateDetails,
): WhatsAppWebhookPayload {
  const call: CallTerminateWebhook = {
    id: c.id,
    ...parties(c),
    event: 'terminate',
    timestamp: unixSeconds(d.at),
    direction: c.direction,
    ...(c.bizOpaqueCallbackData !== undefined
      ? { biz_opaque_callback_data: c.bizOpaqueCallbackData }
      : {}),
    ...(d.answeredAt !== undefined
      ? {
          start_time: unixSeconds(d.answeredAt),
          end_time: unixSeconds(d.at),
          duration: Math.max(0, Math.round((d.at - d.answeredAt) / 1000)),
        }
      : {}),
    status: d.status,
    ...(d.error ? { errors: [d.error] } : {}),
  };
  return envelope(c.number, 'calls', {
    messaging_product: 'whatsapp',
    metadata: metadata(c.number),
    contacts: [contact(c.user)],
    calls: [call],
    ...(d.error ? { errors: [d.error] } : {}),
  });
}

/** Terminate error objects as the WhatsApp client reports them ([CAP-1] shape). */
export const TerminateErrors = {
  mediaReceiveTimeout: (): WebhookError => ({
    code: 138021,
    title:
      'WhatsApp client terminated the call due to not receiving any media for a long time. Please try again',
    message:
      'WhatsApp client terminated the call due to not receiving any media for a long time. Please try again',
    error_data: {
      details:
        'WhatsApp client terminated the call due to not receiving any media for a long time.',
    },
  }),
  relayConnectionFailed: (): WebhookError => ({
    code: 138020,
    title: 'Relay connection failed',
    message: 'Relay connection failed',
    error_data: { details: 'The WhatsApp client could not connect to the media relay.' },
  }),
};

/** The user's reply to a call permission request (field `messages`, reference §4.7). */
export function permissionReplyWebhook(
  number: SimulatedPhoneNumber,
  user: SimulatedUser,
  messageId: string,
  contextId: string | undefined,
  reply: CallPermissionReply,
  at: number,
): WhatsAppWebhookPayload {
  const message: CallPermissionReplyMessage = {
    ...(user.phoneNumber !== undefined ? { from: user.phoneNumber } : {}),
    from_user_id: user.userId,
    ...(user.parentUserId !== undefined ? { from_parent_user_id: user.parentUserId } : {}),
    id: messageId,
    timestamp: unixSeconds(at),
    // `context.from` is whoever sent the message replied to: the business's number.
    ...(contextId !== undefined
      ? { context: { from: number.displayPhoneNumber, id: contextId } }
      : {}),
    type: 'interactive',
    interactive: { type: 'call_permission_reply', call_permission_reply: reply },
  };
  return envelope(number, 'messages', {
    messaging_product: 'whatsapp',
    metadata: metadata(number),
    contacts: [contact(user)],
    messages: [message],
  });
}
