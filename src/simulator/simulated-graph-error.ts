/**
 * Errors the simulated Graph API answers with, in Meta's envelope
 * (`{"error":{"message","type","code","error_subcode","error_data","fbtrace_id",…}}`). Codes,
 * HTTP statuses and texts follow the reference notes (whatsapp-calling-api.md §3); where Meta's
 * exact code or wording is not known, the choice is marked UNCONFIRMED at the factory.
 */
import { randomBytes } from 'node:crypto';
import { ConnectorError, type TwirpCode } from '../errors/connector-error.js';
import type { GraphErrorBody } from '../whatsapp/graph-api-error.js';

function twirpCodeForStatus(status: number): TwirpCode {
  if (status === 401) return 'unauthenticated';
  if (status === 403) return 'permission_denied';
  if (status === 404) return 'not_found';
  if (status === 429) return 'resource_exhausted';
  if (status >= 500) return 'internal';
  return 'invalid_argument';
}

/** Random trace id shaped like Meta's (`fbtrace_id`, 23 url-safe characters). */
export function newFbtraceId(): string {
  return randomBytes(18).toString('base64url').slice(0, 23);
}

export interface SimulatedGraphErrorInit {
  /** HTTP status to answer with. */
  status: number;
  code: number;
  message: string;
  /** Default "OAuthException" (what every documented calling error carries). */
  type?: string;
  subcode?: number;
  /** Goes to `error_data.details` (with `messaging_product: "whatsapp"`). */
  details?: string;
  isTransient?: boolean;
  userTitle?: string;
  userMsg?: string;
}

/** A Graph API failure the simulator sends back; `toBody()` renders Meta's envelope. */
export class SimulatedGraphError extends ConnectorError {
  override readonly name = 'SimulatedGraphError';
  readonly status: number;
  readonly graphCode: number;
  readonly init: SimulatedGraphErrorInit;

  constructor(init: SimulatedGraphErrorInit) {
    super(twirpCodeForStatus(init.status), init.details ?? init.message, {
      graphCode: String(init.code),
    });
    this.status = init.status;
    this.graphCode = init.code;
    this.init = init;
  }

  override get httpStatus(): number {
    return this.status;
  }

  /** Meta's envelope; key order follows the real capture ([CAP-5]). */
  toBody(fbtraceId: string = newFbtraceId()): { error: GraphErrorBody } {
    const i = this.init;
    const error: GraphErrorBody = {
      message: i.message,
      type: i.type ?? 'OAuthException',
      code: i.code,
    };
    if (i.details !== undefined)
      error.error_data = { messaging_product: 'whatsapp', details: i.details };
    if (i.subcode !== undefined) error.error_subcode = i.subcode;
    if (i.isTransient !== undefined) error.is_transient = i.isTransient;
    if (i.userTitle !== undefined) error.error_user_title = i.userTitle;
    if (i.userMsg !== undefined) error.error_user_msg = i.userMsg;
    error.fbtrace_id = fbtraceId;
    return { error };
  }
}

/** Factories for every error the simulator produces. */
export const GraphErrors = {
  /** No `Authorization` header / no token at all. Graph's generic answer (UNCONFIRMED for /calls). */
  missingToken: () =>
    new SimulatedGraphError({
      status: 400,
      code: 104,
      message: 'An access token is required to request this resource.',
    }),
  /** Unknown or expired token (reference §12.1). */
  invalidToken: () =>
    new SimulatedGraphError({
      status: 401,
      code: 190,
      message: 'Invalid OAuth access token - Cannot parse access token',
    }),
  /** Path that Graph does not know (bad version segment, unknown edge). */
  unknownPath: (path: string) =>
    new SimulatedGraphError({
      status: 400,
      code: 2500,
      message: `Unknown path components: ${path}`,
    }),
  /** Calling APIs need Graph ≥ v17.0 (reference §1); the text is the simulator's (UNCONFIRMED). */
  unsupportedVersion: (version: string) =>
    new SimulatedGraphError({
      status: 400,
      code: 100,
      message: 'Invalid parameter',
      details: `Graph API version ${version} does not support the Calling API`,
    }),
  /** Graph's standard answer for an id it cannot load. */
  unknownObject: (id: string, method: string) =>
    new SimulatedGraphError({
      status: 400,
      code: 100,
      subcode: 33,
      message: `Unsupported ${method.toLowerCase()} request. Object with ID '${id}' does not exist, cannot be loaded due to missing permissions, or does not support this operation. Please read the Graph API documentation at https://developers.facebook.com/docs/graph-api`,
    }),
  /** Bad or missing request parameter; `details` says which (code 100 per reference §12.1). */
  invalidParameter: (details: string) =>
    new SimulatedGraphError({
      status: 400,
      code: 100,
      message: 'Invalid parameter',
      details,
      isTransient: false,
      userTitle: 'Parameter Invalid',
      userMsg: 'Check input parameters and retry the request',
    }),
  /** More than one fingerprint, or one that is not sha-256: the real capture [CAP-5], verbatim. */
  fingerprintNotSha256: () =>
    new SimulatedGraphError({
      status: 400,
      code: 100,
      subcode: 2494010,
      message: 'Invalid parameter',
      details: 'Fingerprint algo is not SHA256',
      isTransient: false,
      userTitle: 'Parameter Invalid',
      userMsg: 'Check input parameters and retry the request',
    }),
  /** Community-reported SDP rejection (reference §3.1, [CAP-6]); envelope UNCONFIRMED. */
  invalidSdp: (details: string) =>
    new SimulatedGraphError({
      status: 400,
      code: 138008,
      message: '(#138008) SDP Validation error',
      details: `Provided SDP is invalid: ${details}`,
    }),
  callingNotEnabled: () =>
    new SimulatedGraphError({
      status: 401,
      code: 138000,
      message: '(#138000) Calling not enabled',
      details: 'Calling APIs are not enabled for this phone number',
    }),
  noCallPermission: () =>
    new SimulatedGraphError({
      status: 401,
      code: 138006,
      message: '(#138006) No approved call permission found',
      details: 'No approved call permission from the recipient',
    }),
  duplicateCall: () =>
    new SimulatedGraphError({
      status: 400,
      code: 138003,
      message: '(#138003) Duplicate call',
      details: 'A call is already ongoing with the receiver',
    }),
  concurrentCallsLimit: (limit: number) =>
    new SimulatedGraphError({
      status: 429,
      code: 138002,
      message: '(#138002) Concurrent Calls limit',
      details: `Maximum of ${limit} concurrent calls reached for this phone number`,
    }),
  businessInitiatedCallsLimit: () =>
    new SimulatedGraphError({
      status: 400,
      code: 138012,
      message: '(#138012) Business Initiated Calls Limit Hit',
      details: 'Currently 100 connected business initiated calls are allowed within 24 hours',
    }),
  permissionRequestLimit: () =>
    new SimulatedGraphError({
      status: 400,
      code: 138009,
      message: '(#138009) Call Permission Request Limit Hit',
      details: 'Call permission request limit reached for this user',
    }),
  permanentPermissionExists: () =>
    new SimulatedGraphError({
      status: 400,
      code: 138017,
      message: "(#138017) Call permission request can't be sent",
      details: 'The user has already granted permanent call permission',
    }),
  permissionsRateLimit: () =>
    new SimulatedGraphError({
      status: 429,
      code: 613,
      message: '(#613) Fetch Call Permission API Limit Hit',
      details: 'Too many call permission requests in a short time',
    }),
  sipEnabled: () =>
    new SimulatedGraphError({
      status: 400,
      code: 131055,
      message: '(#131055) Method not allowed',
      details: 'Graph API calls are not allowed for SIP enabled numbers',
    }),
  /**
   * A BSUID where Meta takes a phone number (`to`, `user_wa_id`). Meta sends BSUIDs in
   * `recipient` (docs/whatsapp-usernames-bsuid.md); its answer to a misplaced one is UNCONFIRMED.
   */
  userIdInPhoneNumberField: (field: string) =>
    new SimulatedGraphError({
      status: 400,
      code: 100,
      message: 'Invalid parameter',
      details: `${field} must be a phone number; send a business-scoped user ID in recipient.`,
      isTransient: false,
      userTitle: 'Parameter Invalid',
      userMsg: 'Check input parameters and retry the request',
    }),
  /** `recipient` that is not a BSUID or parent BSUID (UNCONFIRMED code). */
  recipientNotUserId: () =>
    new SimulatedGraphError({
      status: 400,
      code: 100,
      message: 'Invalid parameter',
      details: 'recipient must be a business-scoped user ID or parent business-scoped user ID.',
      isTransient: false,
      userTitle: 'Parameter Invalid',
      userMsg: 'Check input parameters and retry the request',
    }),
  /** A well-formed BSUID that names nobody this business can reach (UNCONFIRMED code). */
  unknownUserId: () =>
    new SimulatedGraphError({
      status: 400,
      code: 100,
      message: 'Invalid parameter',
      details: 'No WhatsApp user with this business-scoped user ID.',
      isTransient: false,
      userTitle: 'Parameter Invalid',
      userMsg: 'Check input parameters and retry the request',
    }),
  /** Generic 5xx used by the "Graph 5xx" fault. */
  somethingWentWrong: () =>
    new SimulatedGraphError({
      status: 500,
      code: 131000,
      message: '(#131000) Something went wrong',
      details: 'Something went wrong',
      isTransient: true,
    }),
} as const;
