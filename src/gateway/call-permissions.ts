import { ConnectorError } from '../errors/index.js';
import type {
  CallPermissions as GraphCallPermissions,
  SentMessage,
  WhatsAppGraphClient,
} from '../whatsapp/graph-client.js';
import { phoneNumberDigits, whatsAppUserIdKind } from '../whatsapp/whatsapp-user.js';
import type { PhoneNumberRule } from './gateway-config.js';

/** A user's call permission as Meta reports it, reduced to what a caller decides on. */
export interface CallPermissionVerdict {
  phoneNumberId: string;
  /** The user: number as digits, or the BSUID / parent BSUID as given. */
  to: string;
  /** "no_permission" | "temporary" | "permanent" (other values pass through). */
  status: string;
  /** Unix seconds; temporary permissions only. */
  expiresAt: number | undefined;
  /** Whether a call may be placed now. */
  canCall: boolean;
  /** Whether a permission request may be sent now (Meta limits them); undefined if not reported. */
  canRequest: boolean | undefined;
  raw: GraphCallPermissions;
}

/**
 * Call permission checks and requests for configured business numbers (their access token and
 * Cloud API version come from the routing rules). The library face of
 * `whatsapp-connector permissions check|request`.
 */
export class CallPermissions {
  constructor(
    private readonly graph: WhatsAppGraphClient,
    private readonly numbers: readonly PhoneNumberRule[],
  ) {}

  /** The rule for `phoneNumberId`, or the only configured number when it is omitted. */
  number(phoneNumberId?: string): PhoneNumberRule & { accessToken: string } {
    const rule =
      phoneNumberId !== undefined
        ? this.numbers.find((n) => n.phoneNumberId === phoneNumberId)
        : this.numbers.length === 1
          ? this.numbers[0]
          : undefined;
    if (!rule) {
      throw new ConnectorError(
        'invalid_argument',
        phoneNumberId !== undefined
          ? `phone number id ${phoneNumberId} is not configured (whatsapp.numbers)`
          : this.numbers.length === 0
            ? 'no WhatsApp phone number is configured (whatsapp.numbers or WHATSAPP_PHONE_NUMBER_ID)'
            : 'several phone numbers are configured: say which one (phone number id)',
      );
    }
    if (!rule.accessToken) {
      throw new ConnectorError(
        'invalid_argument',
        `phone number id ${rule.phoneNumberId} has no access_token configured`,
      );
    }
    return { ...rule, accessToken: rule.accessToken };
  }

  /** Ask Meta whether the business may call `to` now. */
  async check(to: string, phoneNumberId?: string): Promise<CallPermissionVerdict> {
    const rule = this.number(phoneNumberId);
    // The Graph client sends a number in `user_wa_id` and a BSUID in `recipient`.
    const userWaId = userOf(to);
    const p = await this.graph.getCallPermissions({
      phoneNumberId: rule.phoneNumberId,
      accessToken: rule.accessToken,
      apiVersion: rule.apiVersion,
      userWaId,
    });
    return {
      phoneNumberId: rule.phoneNumberId,
      to: userWaId,
      status: p.status,
      expiresAt: p.expirationTime,
      canCall: p.canStartCall ?? p.status !== 'no_permission',
      canRequest: p.canSendPermissionRequest,
      raw: p,
    };
  }

  /**
   * Send the interactive call permission request message to `to` (needs an open customer-service
   * window with the user). The reply arrives later as a `messages` webhook.
   */
  async request(to: string, phoneNumberId?: string, bodyText?: string): Promise<SentMessage> {
    const rule = this.number(phoneNumberId);
    return this.graph.sendCallPermissionRequest({
      phoneNumberId: rule.phoneNumberId,
      accessToken: rule.accessToken,
      apiVersion: rule.apiVersion,
      to: userOf(to),
      ...(bodyText !== undefined ? { bodyText } : {}),
    });
  }
}

/** A phone number as digits, or a BSUID / parent BSUID exactly as given. */
function userOf(user: string): string {
  const kind = whatsAppUserIdKind(user);
  if (kind === 'phone_number') return phoneNumberDigits(user);
  if (kind === 'bsuid' || kind === 'parent_bsuid') return user.trim();
  throw new ConnectorError(
    'invalid_argument',
    `not a phone number or WhatsApp user id (e.g. US.13491208655302741918): ${JSON.stringify(user)}`,
  );
}
