/**
 * Where a new call runs in a cluster and why: the router decides it (from the call's
 * `destination_country` and the instances' regions and load) and the instance that places the
 * call keeps it for the call listing.
 */

/** Why a call runs on the instance that holds it. */
export type PlacementReason =
  /** On an instance of the region its destination country maps to. */
  | 'region'
  /** Its region has no live instance with room: the least loaded instance took it. */
  | 'least_loaded'
  /** No region asked for: the instance that got the request had room. */
  | 'here'
  /** No region asked for: the instance that got the request was full; the least loaded peer took it. */
  | 'overflow';

export const PLACEMENT_REASONS: readonly PlacementReason[] = [
  'region',
  'least_loaded',
  'here',
  'overflow',
];

/** How a new call (dialled, accepted or a Twilio call) was placed. */
export interface CallPlacement {
  reason: PlacementReason;
  /** The region its destination country maps to (or the default region); undefined: none. */
  wantedRegion?: string | undefined;
}

/** Most placements kept (the oldest go first). */
const MAX_PLACEMENTS = 10_000;

/**
 * The placements of the calls this instance placed, by call id, until the call leaves the
 * registry (`forget`). Calls without an entry (accepted calls) were placed where the webhook or
 * Accept arrived.
 */
export class CallPlacements {
  private readonly byCall = new Map<string, CallPlacement>();

  record(callId: string, placement: CallPlacement): void {
    this.byCall.set(callId, placement);
    // Entries are dropped when their call leaves; the cap bounds any that are never dropped.
    if (this.byCall.size > MAX_PLACEMENTS) {
      const oldest = this.byCall.keys().next().value;
      if (oldest !== undefined) this.byCall.delete(oldest);
    }
  }

  get(callId: string): CallPlacement | undefined {
    return this.byCall.get(callId);
  }

  forget(callId: string): void {
    this.byCall.delete(callId);
  }
}

/** Key of a Twilio call's placement: its room and participant identity (unique per connect URL). */
export function twilioPlacementKey(roomName: string, participantIdentity: string): string {
  return `${roomName}\u0000${participantIdentity}`;
}
