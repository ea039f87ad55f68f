/**
 * A WhatsApp user known to the simulator: identity, the call permissions they granted to each
 * business number (reference §6) and how they react to call permission requests.
 */

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

export class SimulatedUser {
  /** Phone number as digits without `+` (Meta's `wa_id`). */
  readonly waId: string;
  /** Profile name shown in webhooks' `contacts[].profile.name`. */
  name: string;
  /** Reply to the next call permission requests. Default `accept_temporary`. */
  permissionRequestResponse: PermissionRequestResponse = 'accept_temporary';
  private readonly permissions = new Map<string, PermissionRecord>();
  private readonly requestsSent = new Map<string, number[]>();
  private readonly connectedBusinessCalls = new Map<string, number[]>();

  constructor(
    waId: string,
    name: string,
    private readonly defaultPermission: CallPermissionStatus,
  ) {
    this.waId = waId;
    this.name = name;
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
