/**
 * What the connector persists about a call so that another process can end it: after a crash
 * and restart, or from a surviving instance of the cluster. It holds no secret in clear.
 */

/**
 * How a process that did not start the call finds the access token to terminate it at Meta.
 *
 * - `configured`: the token configured for the business number (`whatsapp.numbers[].access_token`,
 *   `WHATSAPP_ACCESS_TOKEN`); any instance with the same configuration has it. Used whenever the
 *   token the call runs with is that one.
 * - `sealed`: a token the API client passed in the request (`whatsapp_api_key`) that the
 *   configuration does not know. It is stored encrypted (AES-256-GCM, key derived from the
 *   LiveKit API secret the cluster shares, bound to the call id); see `token-sealer.ts`.
 */
export type TokenReference =
  { kind: 'configured'; phoneNumberId: string } | { kind: 'sealed'; sealed: string };

/** Who placed the call: the WhatsApp user (`inbound`) or the business (`outbound`). */
export type CallRecordDirection = 'inbound' | 'outbound';

export interface CallRecord {
  /** Meta's call id (`wacid.…`): the key. */
  callId: string;
  /** The business phone number id the call is on. */
  phoneNumberId: string;
  direction: CallRecordDirection;
  /** Cloud API version the call was made with (e.g. `24.0`), to terminate it the same way. */
  apiVersion: string;
  /** Where the access token comes from; never the token itself. */
  token: TokenReference;
  /** Instance id of the process that holds the call's media (`INSTANCE_ID`). */
  owner: string;
  roomName: string;
  participantIdentity: string;
  /** The call's state as the call code names it (e.g. `ringing`, `active`, `ending`). */
  state: string;
  /** When the record was first written, ms since the epoch. */
  createdAt: number;
  /** When the record last changed, ms since the epoch. */
  updatedAt: number;
}

/** The fields of a record that change during a call. */
export type CallRecordUpdate = Partial<
  Pick<CallRecord, 'state' | 'roomName' | 'participantIdentity' | 'token' | 'apiVersion'>
>;
