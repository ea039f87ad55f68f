/**
 * A WhatsApp user known to the simulator: identity, the call permissions they granted to each
 * business number (reference §6) and how they react to call permission requests.
 *
 * Identity follows Meta's 2026 model (docs/whatsapp-usernames-bsuid.md): every user has a
 * business-scoped user id (BSUID) for the simulator's one business portfolio; a user who adopted
 * a username may have no phone number the business can see, and is then named by BSUID only.
 */
import { createHash } from 'node:crypto';
import { isBusinessScopedUserId, whatsAppUserIdKind } from '../whatsapp/whatsapp-user.js';

export type CallPermissionStatus = 'no_permission' | 'temporary' | 'permanent';

/** How the user answers a call permission request message. */
export type PermissionRequestResponse =
  'accept_temporary' | 'accept_permanent' | 'reject' | 'ignore';

/** Temporary permissions last 7 days from approval (reference §6). */
export const TEMPORARY_PERMISSION_MS = 7 * 24 * 3600 * 1000;

const DAY_MS = 24 * 3600 * 1000;

interface PermissionRecord {
  status: CallPermissionStatus;
  /** Epoch ms; only for temporary permissions. */
  expiresAt?: number;
}

/** Who a new simulated user is. */
export interface SimulatedUserIdentity {
  /** Phone number as digits without `+` (Meta's `wa_id`); absent for a username-only user. */
  phoneNumber?: string;
  /** BSUID; default derived from the phone number (required without one). */
  userId?: string;
  /** Parent BSUID (`CC.ENT.…`), for linked business portfolios. Default none. */
  parentUserId?: string;
  /** WhatsApp username. Default none. */
  username?: string;
  /** Profile name. Default the username, else the phone number, else the BSUID. */
  name?: string;
}

/** Country prefixes of derived BSUIDs for the calling codes the examples use (else `US`). */
const COUNTRY_BY_CALLING_CODE: [string, string][] = [
  ['1', 'US'],
  ['33', 'FR'],
  ['34', 'ES'],
  ['44', 'GB'],
  ['49', 'DE'],
  ['51', 'PE'],
  ['55', 'BR'],
  ['91', 'IN'],
];

/**
 * The BSUID the simulator gives a phone user: the number's country and 20 digits derived from the
 * number, so the same user gets the same BSUID in every run (Meta's are opaque; this layout is
 * only shaped like its example `US.13491208655302741918`).
 */
export function derivedBusinessScopedUserId(phoneNumber: string): string {
  const country =
    COUNTRY_BY_CALLING_CODE.find(([code]) => phoneNumber.startsWith(code))?.[1] ?? 'US';
  const hash = createHash('sha256').update(`bsuid:${phoneNumber}`).digest();
  const digits = (hash.readBigUInt64BE(0) % 10n ** 19n) + 10n ** 19n;
  return `${country}.${digits.toString()}`;
}

/**
 * Username rules Meta publishes for business usernames, which user usernames share: 3-35 English
 * letters, digits, periods and underscores, at least one letter, no leading/trailing or double
 * period, not starting with `www`.
 */
const USERNAME = /^(?!www)(?![.])(?!.*[.]$)(?!.*[.][.])(?=.*[a-z])[a-z0-9._]{3,35}$/i;

function checkUsername(username: string): void {
  if (!USERNAME.test(username)) {
    throw new Error(
      'username must be 3-35 letters, digits, periods or underscores with at least one letter',
    );
  }
}

/**
 * Checks and completes an identity.
 * @throws Error with a message fit for a 400 answer when a field is malformed.
 */
export function normaliseUserIdentity(
  identity: SimulatedUserIdentity,
): Required<Pick<SimulatedUserIdentity, 'userId' | 'name'>> & SimulatedUserIdentity {
  const phoneNumber = identity.phoneNumber?.replace(/\D/g, '');
  if (phoneNumber !== undefined && whatsAppUserIdKind(phoneNumber) !== 'phone_number') {
    throw new Error('phoneNumber must have 6-15 digits');
  }
  if (identity.userId !== undefined && whatsAppUserIdKind(identity.userId) !== 'bsuid') {
    throw new Error('userId must be a BSUID such as US.13491208655302741918');
  }
  if (
    identity.parentUserId !== undefined &&
    whatsAppUserIdKind(identity.parentUserId) !== 'parent_bsuid'
  ) {
    throw new Error('parentUserId must be a parent BSUID such as US.ENT.11815799212886844830');
  }
  if (identity.username !== undefined) checkUsername(identity.username);
  const userId =
    identity.userId ??
    (phoneNumber !== undefined ? derivedBusinessScopedUserId(phoneNumber) : undefined);
  if (userId === undefined) throw new Error('a user needs a phoneNumber or a userId');
  return {
    ...identity,
    ...(phoneNumber !== undefined ? { phoneNumber } : {}),
    userId,
    name: identity.name ?? identity.username ?? phoneNumber ?? userId,
  };
}

export class SimulatedUser {
  /** Phone number as digits without `+` (Meta's `wa_id`); undefined for a username-only user. */
  readonly phoneNumber: string | undefined;
  /** Business-scoped user id (BSUID). */
  readonly userId: string;
  /** Parent BSUID, for linked business portfolios. */
  readonly parentUserId: string | undefined;
  /** WhatsApp username, sent as `contacts[].profile.username`. */
  username: string | undefined;
  /** Profile name shown in webhooks' `contacts[].profile.name`. */
  name: string;
  /** Reply to the next call permission requests. Default `accept_temporary`. */
  permissionRequestResponse: PermissionRequestResponse = 'accept_temporary';
  private readonly permissions = new Map<string, PermissionRecord>();
  private readonly requestsSent = new Map<string, number[]>();
  private readonly connectedBusinessCalls = new Map<string, number[]>();

  constructor(
    identity: SimulatedUserIdentity,
    private readonly defaultPermission: CallPermissionStatus,
  ) {
    const id = normaliseUserIdentity(identity);
    this.phoneNumber = id.phoneNumber;
    this.userId = id.userId;
    this.parentUserId = id.parentUserId;
    this.username = id.username;
    this.name = id.name;
  }

  /**
   * The user adopts (or changes) a username; the BSUID stays the same (Meta's BSUID page).
   * @throws Error when the username breaks Meta's format rules.
   */
  adoptUsername(username: string): void {
    checkUsername(username);
    this.username = username;
  }

  /** How the user is named in logs and snapshots: the phone number, else the BSUID. */
  get key(): string {
    return this.phoneNumber ?? this.userId;
  }

  /** Whether `id` (a phone number, BSUID or parent BSUID) names this user. */
  isNamedBy(id: string): boolean {
    if (isBusinessScopedUserId(id)) return id === this.userId || id === this.parentUserId;
    return this.phoneNumber !== undefined && id.replace(/\D/g, '') === this.phoneNumber;
  }

  /** Current permission of business number `phoneNumberId` to call this user. */
  permission(phoneNumberId: string, now = Date.now()): PermissionRecord {
    const record = this.permissions.get(phoneNumberId);
    if (!record) {
      return this.defaultPermission === 'temporary'
        ? { status: 'temporary', expiresAt: now + TEMPORARY_PERMISSION_MS }
        : { status: this.defaultPermission };
    }
    if (record.status === 'temporary' && (record.expiresAt ?? 0) <= now) {
      return { status: 'no_permission' };
    }
    return record;
  }

  setPermission(
    phoneNumberId: string,
    status: CallPermissionStatus,
    now = Date.now(),
  ): PermissionRecord {
    const record: PermissionRecord =
      status === 'temporary' ? { status, expiresAt: now + TEMPORARY_PERMISSION_MS } : { status };
    this.permissions.set(phoneNumberId, record);
    return record;
  }

  /** Permission requests sent by `phoneNumberId` within the last `windowMs`. */
  requestsWithin(phoneNumberId: string, windowMs: number, now = Date.now()): number {
    return (this.requestsSent.get(phoneNumberId) ?? []).filter((t) => t > now - windowMs).length;
  }

  recordPermissionRequest(phoneNumberId: string, now = Date.now()): void {
    const list = (this.requestsSent.get(phoneNumberId) ?? []).filter((t) => t > now - 7 * DAY_MS);
    list.push(now);
    this.requestsSent.set(phoneNumberId, list);
  }

  /** Connected business-initiated calls from `phoneNumberId` in the last 24 h. */
  connectedBusinessCallsToday(phoneNumberId: string, now = Date.now()): number {
    return (this.connectedBusinessCalls.get(phoneNumberId) ?? []).filter((t) => t > now - DAY_MS)
      .length;
  }

  /** A connected call (either direction) resets the permission request limits (reference §3.3). */
  recordConnectedCall(
    phoneNumberId: string,
    direction: 'USER_INITIATED' | 'BUSINESS_INITIATED',
    now = Date.now(),
  ): void {
    this.requestsSent.delete(phoneNumberId);
    if (direction === 'BUSINESS_INITIATED') {
      const list = (this.connectedBusinessCalls.get(phoneNumberId) ?? []).filter(
        (t) => t > now - DAY_MS,
      );
      list.push(now);
      this.connectedBusinessCalls.set(phoneNumberId, list);
    }
  }
}
