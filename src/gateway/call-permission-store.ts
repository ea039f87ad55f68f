import type { CallPermissionReplyEvent } from '../whatsapp/webhook-events.js';

/** The latest call permission reply of one user to one business number. */
export interface RecordedCallPermission {
  phoneNumberId: string;
  /** The user's number, digits. */
  waId: string;
  response: 'accept' | 'reject';
  isPermanent: boolean;
  /** Unix seconds; temporary accepts only. */
  expiresAt: number | undefined;
  /** `user_action`, `automatic`, … as Meta sent it. */
  source: string | undefined;
  /** Unix seconds of the reply (Meta's timestamp, else when it was received). */
  repliedAt: number;
}

/**
 * Permission replies seen in webhooks, newest per (business number, user). In memory: it is a
 * convenience for operators and for error messages, not a source of truth — Meta's
 * `call_permissions` endpoint decides whether a call may be placed.
 */
export class CallPermissionStore {
  private readonly replies = new Map<string, RecordedCallPermission>();

  private static key(phoneNumberId: string, waId: string): string {
    return `${phoneNumberId}:${waId.replace(/\D/g, '')}`;
  }

  /** Record a reply; an older reply never replaces a newer one (webhooks arrive out of order). */
  record(event: CallPermissionReplyEvent): RecordedCallPermission | undefined {
    if (!event.phoneNumberId || !event.from) return undefined;
    const entry: RecordedCallPermission = {
      phoneNumberId: event.phoneNumberId,
      waId: event.from.replace(/\D/g, ''),
      response: event.response,
      isPermanent: event.isPermanent,
      expiresAt: event.expirationTimestamp,
      source: event.responseSource,
      repliedAt: event.timestamp ?? Math.floor(Date.now() / 1000),
    };
    const key = CallPermissionStore.key(entry.phoneNumberId, entry.waId);
    const previous = this.replies.get(key);
    if (previous && previous.repliedAt > entry.repliedAt) return previous;
    this.replies.set(key, entry);
    return entry;
  }

  get(phoneNumberId: string, waId: string): RecordedCallPermission | undefined {
    return this.replies.get(CallPermissionStore.key(phoneNumberId, waId));
  }

  list(): RecordedCallPermission[] {
    return [...this.replies.values()];
  }

  clear(): void {
    this.replies.clear();
  }
}
