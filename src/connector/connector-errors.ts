import {
  AcceptTimeoutError,
  CallEndedError,
  CallMovedError,
  CallNotFoundError,
  CallOwnerGoneError,
  CapacityError,
  DialInProgressError,
  DirectoryUnavailableError,
  DrainingError,
  InvalidSdpError,
  MediaConnectError,
  NO_CALL_PERMISSION_GRAPH_CODE,
  NoCallPermissionError,
  OverloadedError,
  PeerUnreachableError,
  RoomJoinError,
  RoomNotReadyError,
  TransferNotPossibleError,
} from '../calls/call-errors.js';
import { ConnectorError, InvalidArgumentError } from '../errors/index.js';
import { GraphApiError } from '../whatsapp/graph-api-error.js';
import { GraphTransportError } from '../whatsapp/graph-transport-error.js';

/**
 * The Connector API's error catalogue. Codes and messages reproduce LiveKit's connector errors
 * (`livekit/protocol` `connector/errors.go`, mapped psrpc → Twirp the way psrpc does:
 * UpstreamClientError → `invalid_argument`, UpstreamServerError → `internal`), so applications
 * that match on `code`/`msg` behave the same against this service as against LiveKit Cloud.
 * Errors without a LiveKit counterpart are marked as ours below.
 *
 * Each entry is a function so every throw gets its own stack and `meta` object.
 */
export const connectorErrors = {
  missingPhoneNumberId: () =>
    new ConnectorError('invalid_argument', 'whatsapp phone number id is required'),
  missingToNumber: () =>
    new ConnectorError('invalid_argument', 'whatsapp to_phone_number is required'),
  missingCallId: () => new ConnectorError('invalid_argument', 'whatsapp call id is required'),
  missingApiKey: () => new ConnectorError('invalid_argument', 'whatsapp api key is required'),
  callNotFound: () => new ConnectorError('not_found', 'whatsapp call not found'),
  cloudApiVersionNotSupported: () =>
    new ConnectorError('invalid_argument', 'whatsapp cloud api version not supported'),
  missingCallIdInInitiateResponse: () =>
    new ConnectorError('invalid_argument', 'missing call id in initiate response'),
  whatsAppApiCallFailedReasonUnknown: (meta: Record<string, string> = {}, cause?: unknown) =>
    new ConnectorError('invalid_argument', 'whatsapp api call failed with unknown reason', meta, {
      cause,
    }),
  acceptTimeout: () =>
    new ConnectorError('deadline_exceeded', 'timeout waiting for call to be accepted'),
  roomNotReady: () =>
    new ConnectorError(
      'deadline_exceeded',
      'timeout waiting for participants to publish in the livekit room before accepting the call',
    ),
  incorrectSdpType: () => new ConnectorError('invalid_argument', 'incorrect sdp type'),
  sdpAnswerTimeout: () => new ConnectorError('deadline_exceeded', 'timeout waiting for SDP answer'),
  connectionClosed: () => new ConnectorError('failed_precondition', 'connection is closed'),
  connectorNotFound: () => new ConnectorError('not_found', 'connector not found'),
  serverBusy: () =>
    new ConnectorError('resource_exhausted', 'server is busy and cannot accept new calls'),

  // Ours (no LiveKit counterpart): the instance is going away.
  /** The instance is draining for a restart: another instance (or a retry) takes the call. */
  shuttingDown: () =>
    new ConnectorError(
      'unavailable',
      'server is shutting down and cannot accept new calls; retry (another instance takes it)',
    ),

  // Ours (no LiveKit counterpart): validation LiveKit does not document.
  /** `sdp` present with the right type but an empty SDP text. */
  missingSdp: () => new ConnectorError('invalid_argument', 'sdp is required'),
  invalidDestinationCountry: (value: string) =>
    new ConnectorError(
      'invalid_argument',
      'destination country must be an ISO 3166-1 alpha-2 code',
      { destination_country: value.slice(0, 16) },
    ),
  invalidRingingTimeout: (maxSeconds: number) =>
    new ConnectorError(
      'invalid_argument',
      `ringing timeout must be greater than 0 and at most ${maxSeconds}s`,
    ),
  invalidDisconnectReason: () =>
    new ConnectorError('invalid_argument', 'unknown disconnect reason'),
  /** Meta's Graph API could not be reached at all (DNS, TCP, TLS, timeout). */
  whatsAppApiUnreachable: (cause?: unknown) =>
    new ConnectorError('unavailable', 'whatsapp api unreachable', {}, { cause }),
} as const;

/**
 * A failed WhatsApp Cloud (Graph) API call, as the Graph client reports it. Every field is
 * optional because Meta's envelope varies (`error_subcode` is documented as deprecated yet still
 * sent; `error_data.details` only on some errors). `parseGraphErrorBody` in
 * `src/whatsapp/graph-api-error.ts` reads Meta's envelope.
 */
export interface WhatsAppApiFailure {
  /** HTTP status of Meta's answer. */
  httpStatus?: number | undefined;
  /** `error.code`, e.g. 138006. */
  code?: number | undefined;
  /** `error.error_subcode`. */
  subcode?: number | undefined;
  /** `error.type`, e.g. "OAuthException". */
  type?: string | undefined;
  /** `error.message`, e.g. "(#138006) Lack of call permission". */
  message?: string | undefined;
  /** `error.error_data.details`: Meta's explanation (SDP problems are described here). */
  details?: string | undefined;
  /** `error.fbtrace_id`, what Meta support asks for. */
  fbtraceId?: string | undefined;
}

/** Longest Meta text copied into a client-facing message; Meta's are a line or two. */
const MAX_UPSTREAM_TEXT = 500;

function clip(value: string): string {
  return value.length > MAX_UPSTREAM_TEXT ? `${value.slice(0, MAX_UPSTREAM_TEXT)}…` : value;
}

/**
 * Map a failed Graph API call into the catalogue: Meta's 4xx answers are the caller's problem
 * (`invalid_argument`, as LiveKit maps upstream client errors), 5xx are `internal`. Meta's code,
 * subcode, type, details, HTTP status and fbtrace_id travel in `meta` under the same keys the
 * Graph client's `GraphApiError` uses (`graphStatus`, `graphCode`, `graphErrorSubcode`,
 * `graphErrorType`, `graphErrorDetails`, `fbtraceId`) so applications can act on Meta's code.
 * Without a code or message this is LiveKit's "failed with unknown reason".
 */
export function whatsAppApiError(failure: WhatsAppApiFailure, cause?: unknown): ConnectorError {
  const meta: Record<string, string> = {};
  if (failure.httpStatus !== undefined) meta.graphStatus = String(failure.httpStatus);
  if (failure.code !== undefined) meta.graphCode = String(failure.code);
  if (failure.subcode !== undefined) meta.graphErrorSubcode = String(failure.subcode);
  if (failure.type) meta.graphErrorType = clip(failure.type);
  if (failure.details) meta.graphErrorDetails = clip(failure.details);
  if (failure.fbtraceId) meta.fbtraceId = clip(failure.fbtraceId);

  const text = failure.message?.trim();
  if (failure.code === undefined && !text) {
    return connectorErrors.whatsAppApiCallFailedReasonUnknown(meta, cause);
  }
  const serverSide = failure.httpStatus !== undefined && failure.httpStatus >= 500;
  const description = text ? clip(text) : `error code ${String(failure.code)}`;
  return new ConnectorError(
    serverSide ? 'internal' : 'invalid_argument',
    `whatsapp api call failed: ${description}`,
    meta,
    { cause },
  );
}

/**
 * The one mapping of the service's typed errors onto the Connector API: codes and messages as
 * LiveKit's catalogue has them where it has them. Errors are recognised by class, never by text.
 * A `ConnectorError` (thrown by the edge itself, or by modules that still speak Twirp codes)
 * passes unchanged; anything unknown is `internal`, without internals in the message.
 */
export function toTwirpError(err: unknown): ConnectorError {
  // The Graph client's errors are ConnectorErrors too, but reach clients in LiveKit's words.
  if (err instanceof GraphApiError) {
    return whatsAppApiError(
      {
        httpStatus: err.graphStatus,
        code: err.graph.code,
        subcode: err.graph.error_subcode,
        message: err.graph.message,
        type: err.graph.type,
        details: err.graph.error_data?.details,
        fbtraceId: err.graph.fbtrace_id,
      },
      err,
    );
  }
  if (err instanceof GraphTransportError) return connectorErrors.whatsAppApiUnreachable(err);
  if (err instanceof ConnectorError) return err;
  if (err instanceof CallOwnerGoneError) {
    return new ConnectorError('not_found', err.message, { instance: err.instanceId });
  }
  if (err instanceof CallNotFoundError) return connectorErrors.callNotFound();
  if (err instanceof AcceptTimeoutError) return connectorErrors.acceptTimeout();
  if (err instanceof CallEndedError) {
    return err.reason === 'no_answer'
      ? connectorErrors.acceptTimeout()
      : connectorErrors.connectionClosed();
  }
  if (err instanceof OverloadedError) return new ConnectorError('resource_exhausted', err.message);
  if (err instanceof CapacityError) return connectorErrors.serverBusy();
  if (err instanceof DrainingError) return connectorErrors.shuttingDown();
  if (err instanceof InvalidSdpError) return new ConnectorError('invalid_argument', err.message);
  if (err instanceof InvalidArgumentError) {
    return new ConnectorError('invalid_argument', err.message);
  }
  if (err instanceof NoCallPermissionError) {
    return new ConnectorError('failed_precondition', err.message, {
      reason: 'no_call_permission',
      permissionStatus: err.permissionStatus,
      graphCode: String(NO_CALL_PERMISSION_GRAPH_CODE),
    });
  }
  if (err instanceof RoomJoinError || err instanceof MediaConnectError) {
    return new ConnectorError('unavailable', err.message, {}, { cause: err });
  }
  if (err instanceof RoomNotReadyError) return connectorErrors.roomNotReady();
  if (err instanceof TransferNotPossibleError) {
    return new ConnectorError('failed_precondition', err.message, { reason: err.reason });
  }
  if (err instanceof DialInProgressError) return new ConnectorError('unavailable', err.message);
  if (err instanceof DirectoryUnavailableError || err instanceof PeerUnreachableError) {
    const meta: Record<string, string> =
      err instanceof PeerUnreachableError ? { instance: err.instanceId } : {};
    return new ConnectorError('unavailable', err.message, meta, { cause: err });
  }
  if (err instanceof CallMovedError) return new ConnectorError('aborted', err.message);
  return new ConnectorError('internal', 'internal error', {}, { cause: err });
}
