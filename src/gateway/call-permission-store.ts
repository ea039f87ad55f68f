import type { CallPermissionReplyEvent } from '../whatsapp/webhook-events.js';
import { isWhatsAppPhoneNumber, phoneNumberDigits } from '../whatsapp/whatsapp-user.js';

/** The latest call permission reply of one user to one business number. */
export interface RecordedCallPermission {
  phoneNumberId: string;
  /** The user's number, digits; undefined for a user Meta named only by BSUID. */
  waId: string | undefined;
  /** The user's BSUID (`US.1349…`), when Meta sent one. */
  userId: string | undefined;
  /** The user's parent BSUID (`US.ENT.…`), when Meta sent one. */
  parentUserId: string | undefined;
  response: 'accept' | 'reject';
  isPermanent: boolean;
  /** Unix seconds; temporary accepts only. */
  expiresAt: number | undefined;
  /** `user_action`, `automatic`, … as Meta sent it. */
  source: string | undefined;
  /** Unix seconds of the reply (Meta's timestamp, else when it was received). */
  repliedAt: number;
}

/** How a user is keyed: phone number digits, else the BSUID exactly as Meta sent it. */
function userKey(user: string): string {
  return isWhatsAppPhoneNumber(user) ? phoneNumberDigits(user) : user.trim();
}

/**
 * Permission replies seen in webhooks, newest per (business number, user): a user is keyed by
 * phone number when Meta sent one, else by BSUID (a user who adopted a username may come without
 * a number), and can be looked up by either. In memory: it is a
 * convenience for operators and for error messages, not a source of truth — Meta's
 * `call_permissions` endpoint decides whether a call may be placed.
 */
export class CallPermissionStore {
  private readonly replies = new Map<string, RecordedCallPermission>();

  private static key(phoneNumberId: string, user: string): string {
    return `${phoneNumberId}:${userKey(user)}`;
  }

  /** Record a reply; an older reply never replaces a newer one (webhooks arrive out of order). */
  record(event: CallPermissionReplyEvent): RecordedCallPermission | undefined {
    const number = event.user.phoneNumber ?? event.from;
    const waId = number && isWhatsAppPhoneNumber(number) ? phoneNumberDigits(number) : undefined;
    const userId = event.user.userId ?? event.fromUserId;
    const parentUserId = event.user.parentUserId;
    const user = waId ?? userId ?? parentUserId;
    if (!event.phoneNumberId || !user) return undefined;
    const entry: RecordedCallPermission = {
      phoneNumberId: event.phoneNumberId,
      waId,
      userId,
      parentUserId,
      response: event.response,
      isPermanent: event.isPermanent,
      expiresAt: event.expirationTimestamp,
      source: event.responseSource,
      repliedAt: event.timestamp ?? Math.floor(Date.now() / 1000),
    };
    const key = CallPermissionStore.key(entry.phoneNumberId, user);
    const previous = this.replies.get(key);
    if (previous && previous.repliedAt > entry.repliedAt) return previous;
    this.replies.set(key, entry);
    return entry;
  }

  /** The latest reply of `user` (phone number, BSUID or parent BSUID) to `phoneNumberId`. */
  get(phoneNumberId: string, user: string): RecordedCallPermission | undefined {
    const direct = this.replies.get(CallPermissionStore.key(phoneNumberId, user));
    if (direct) return direct;
    const id = user.trim();
    let found: RecordedCallPermission | undefined;
    for (const r of this.replies.values()) {
      if (r.phoneNumberId !== phoneNumberId || (r.userId !== id && r.parentUserId !== id)) continue;
      if (!found || r.repliedAt > found.repliedAt) found = r;
    }
    return found;
  }

  list(): RecordedCallPermission[] {
    return [...this.replies.values()];
  }

  clear(): void {
    this.replies.clear();
  }
}
