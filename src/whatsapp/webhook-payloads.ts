/**
 * TypeScript shapes of Meta's raw webhook JSON as it arrives on the wire (WhatsApp Cloud API,
 * object `whatsapp_business_account`), for the `calls` field (connect / terminate / call status)
 * and the `messages` field parts that matter for calling (call permission replies). Taken from
 * Meta's reference samples and real captures (see ../shared/reference/whatsapp-calling-api.md
 * §4). Meta adds fields over time (BSUIDs, usernames, payloads), so everything that is not in
 * every sample is optional; the simulator builds payloads with these types, the parser in
 * `webhook-events.ts` never trusts them (it validates at runtime).
 */

/** Top-level envelope of every WhatsApp Business Account webhook POST. */
export interface WhatsAppWebhookPayload {
  object: 'whatsapp_business_account';
  entry: WhatsAppWebhookEntry[];
}

export interface WhatsAppWebhookEntry {
  /** WhatsApp Business Account id. */
  id: string;
  changes: WhatsAppWebhookChange[];
}

/** One change; `field` says what `value` holds. Fields other than the known ones pass through. */
export type WhatsAppWebhookChange =
  | { field: 'calls'; value: CallsWebhookValue }
  | { field: 'messages'; value: MessagesWebhookValue }
  | { field: string; value: Record<string, unknown> };

/** Business phone number the webhook concerns. */
export interface WebhookMetadata {
  /** Business number as digits without `+`, e.g. "15551441906". */
  display_phone_number: string;
  /** Numeric id of the business phone number (the `{phone-number-id}` of Graph paths). */
  phone_number_id: string;
}

/**
 * The WhatsApp user on the other side of the call or message. A user who adopted a username may
 * come without `wa_id` (BSUID `user_id` and `profile.username` only).
 */
export interface WebhookContact {
  profile?: {
    name?: string;
    /** 2026 username feature. */
    username?: string;
  };
  /** User phone number as digits; may be absent once usernames are adopted. */
  wa_id?: string;
  /** Business-scoped user id (BSUID, 2026), e.g. `US.13491208655302741918`. */
  user_id?: string;
  /** Parent BSUID of linked business portfolios, e.g. `US.ENT.11815799212886844830`. */
  parent_user_id?: string;
}

/** Error object inside webhooks (terminate failures, message errors). Only `code` is reliable. */
export interface WebhookError {
  code: number;
  title?: string;
  message?: string;
  href?: string;
  error_data?: {
    details?: string;
  };
}

export type CallDirection = 'USER_INITIATED' | 'BUSINESS_INITIATED';

export interface CallSession {
  /** `offer` on user-initiated connect, `answer` on business-initiated connect. */
  sdp_type: 'offer' | 'answer';
  /** RFC 8866 SDP with CRLF line endings. */
  sdp: string;
}

/** Fields common to every `calls[]` item. Timestamps are Unix seconds encoded as strings. */
interface CallWebhookBase {
  /** Call id, `wacid.<base64>`. */
  id: string;
  /**
   * Caller: the user (user-initiated) or the business number (business-initiated). A user's
   * number "may be omitted if the user has adopted a username" (then only `from_user_id`).
   */
  from?: string;
  /** The calling user's BSUID (user-initiated calls). */
  from_user_id?: string;
  from_parent_user_id?: string;
  /** Callee: the business number (user-initiated) or the user (business-initiated). */
  to?: string;
  /** The called user's BSUID (business-initiated calls). */
  to_user_id?: string;
  to_parent_user_id?: string;
  timestamp: string;
  direction?: CallDirection;
  /** Echo of the business's `biz_opaque_callback_data`. */
  biz_opaque_callback_data?: string;
  /** Present when the user-initiated call came from a deep link with `biz_payload`. */
  deeplink_payload?: string;
  /** Present when the user-initiated call came from a call-button message with `payload`. */
  cta_payload?: string;
}

export interface CallConnectWebhook extends CallWebhookBase {
  event: 'connect';
  session: CallSession;
  /** Legacy duplicate of the SDP: a JSON string `{"sdp":"…","type":"answer"}`. */
  connection?: {
    webrtc?: {
      sdp?: string;
    };
  };
}

/** Meta documents uppercase; a narrative sample shows capitalised words, so accept any string. */
export type CallTerminateStatus = 'COMPLETED' | 'FAILED';

export interface CallTerminateWebhook extends CallWebhookBase {
  event: 'terminate';
  status?: CallTerminateStatus | string;
  /** Only when the call was picked up. Unix seconds as string. */
  start_time?: string;
  /** Only when the call was picked up. Unix seconds as string. */
  end_time?: string;
  /** Only when the call was picked up. Integer seconds. */
  duration?: number;
  /** Failure details; real captures carry them here and at `value.errors`. */
  errors?: WebhookError[];
}

/** Other `calls[]` events (SIP `call_created`, recording/transcription availability, …). */
export interface OtherCallWebhook extends CallWebhookBase {
  event: string;
  [key: string]: unknown;
}

export type CallWebhook = CallConnectWebhook | CallTerminateWebhook;

export type CallStatusValue = 'RINGING' | 'ACCEPTED' | 'REJECTED';

/** Business-initiated call progress (`value.statuses[]` with `type: "call"`). */
export interface CallStatusWebhook {
  /** Call id, `wacid.<base64>`. */
  id: string;
  type: 'call';
  status: CallStatusValue;
  timestamp: string;
  recipient_id?: string;
  recipient_user_id?: string;
  recipient_parent_user_id?: string;
  biz_opaque_callback_data?: string;
}

/** `value` of a `calls` change. Either `calls` or `statuses` is present. */
export interface CallsWebhookValue {
  messaging_product: 'whatsapp';
  metadata: WebhookMetadata;
  contacts?: WebhookContact[];
  calls?: (CallWebhook | OtherCallWebhook)[];
  statuses?: CallStatusWebhook[];
  errors?: WebhookError[];
}

/** The user's answer to a call permission request (or an automatic grant/revoke). */
export interface CallPermissionReply {
  response: 'accept' | 'reject';
  /** Absent on rejects. */
  is_permanent?: boolean;
  /** Unix seconds as string; only for temporary accepts. */
  expiration_timestamp?: string;
  response_source: 'user_action' | 'automatic';
}

export interface CallPermissionReplyMessage {
  /** The user's number; absent for a user who adopted a username and hides it. */
  from?: string;
  from_user_id?: string;
  from_parent_user_id?: string;
  /** `wamid.…` message id. */
  id: string;
  timestamp: string;
  type: 'interactive';
  /** Absent for grants from the business profile and automatic revokes. `id` is the CPR's
   * `wamid.` or, for automatic callback permission, the call's `wacid.`. */
  context?: {
    from?: string;
    id: string;
  };
  interactive: {
    type: 'call_permission_reply';
    call_permission_reply: CallPermissionReply;
  };
}

/** Any other inbound message; only the common fields are typed. */
export interface OtherInboundMessage {
  from?: string;
  id: string;
  timestamp: string;
  type: string;
  [key: string]: unknown;
}

/** `value` of a `messages` change. */
export interface MessagesWebhookValue {
  messaging_product: 'whatsapp';
  metadata: WebhookMetadata;
  contacts?: WebhookContact[];
  messages?: (CallPermissionReplyMessage | OtherInboundMessage)[];
  statuses?: Record<string, unknown>[];
  errors?: WebhookError[];
}
