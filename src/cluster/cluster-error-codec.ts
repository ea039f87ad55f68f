/**
 * Typed errors across instances: a peer that fails an operation sends its error as data, and the
 * forwarding instance rebuilds the same class, so that routing decisions (`retryable`) and the
 * API edge's mapping work as if the call were local. Unknown errors travel as a bare message.
 */
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
  NoCallPermissionError,
  OverloadedError,
  PeerUnreachableError,
  RoomJoinError,
  RoomNotReadyError,
  TransferNotPossibleError,
} from '../calls/call-errors.js';
import { isCallEndReason } from '../calls/call-end-reason.js';
import { ConnectorError, InvalidArgumentError, isTwirpCode } from '../errors/index.js';
import { GraphApiError, parseGraphErrorBody } from '../whatsapp/graph-api-error.js';
import {
  GraphTransportError,
  type GraphTransportFailure,
} from '../whatsapp/graph-transport-error.js';

const TRANSPORT_FAILURES: readonly GraphTransportFailure[] = [
  'timeout',
  'network',
  'retries_exhausted',
  'invalid_response',
  'aborted',
];

/** An error as it travels between instances: its class name, message and fields. */
export interface EncodedError {
  type: string;
  message: string;
  fields?: Record<string, unknown>;
}

/** Turn an error into data for a peer. Causes and stacks stay here (they may hold secrets). */
export function encodeError(err: unknown): EncodedError {
  const message = err instanceof Error ? err.message : String(err);
  const encoded = (type: string, fields?: Record<string, unknown>): EncodedError =>
    fields ? { type, message, fields } : { type, message };
  if (err instanceof CallOwnerGoneError) {
    return encoded('CallOwnerGoneError', { callId: err.callId, instanceId: err.instanceId });
  }
  if (err instanceof CallNotFoundError) return encoded('CallNotFoundError', { callId: err.callId });
  if (err instanceof CallEndedError) {
    return encoded('CallEndedError', { callId: err.callId, reason: err.reason });
  }
  if (err instanceof AcceptTimeoutError)
    return encoded('AcceptTimeoutError', { callId: err.callId });
  if (err instanceof OverloadedError) {
    return encoded('OverloadedError', {
      reason: err.reason,
      measured: err.measured,
      limit: err.limit,
    });
  }
  if (err instanceof CapacityError) {
    return encoded('CapacityError', { maxConcurrentCalls: err.maxConcurrentCalls });
  }
  if (err instanceof DrainingError) return encoded('DrainingError');
  if (err instanceof InvalidSdpError) {
    return encoded('InvalidSdpError', { kind: err.kind, detail: err.detail });
  }
  if (err instanceof InvalidArgumentError)
    return encoded('InvalidArgumentError', { field: err.field });
  if (err instanceof NoCallPermissionError) {
    return encoded('NoCallPermissionError', {
      phoneNumberId: err.phoneNumberId,
      permissionStatus: err.permissionStatus,
      canSendPermissionRequest: err.canSendPermissionRequest,
    });
  }
  if (err instanceof RoomJoinError) return encoded('RoomJoinError', { roomName: err.roomName });
  if (err instanceof TransferNotPossibleError) {
    return encoded('TransferNotPossibleError', { callId: err.callId, reason: err.reason });
  }
  if (err instanceof RoomNotReadyError)
    return encoded('RoomNotReadyError', { roomName: err.roomName });
  if (err instanceof MediaConnectError) return encoded('MediaConnectError', { reason: err.reason });
  if (err instanceof DialInProgressError) return encoded('DialInProgressError');
  if (err instanceof PeerUnreachableError) {
    return encoded('PeerUnreachableError', {
      instanceId: err.instanceId,
      url: err.url,
      requestSent: err.requestSent,
    });
  }
  if (err instanceof DirectoryUnavailableError) return encoded('DirectoryUnavailableError');
  if (err instanceof CallMovedError) return encoded('CallMovedError', { callId: err.callId });
  if (err instanceof GraphApiError) {
    return encoded('GraphApiError', {
      graph: err.graph,
      status: err.graphStatus,
      operation: err.operation,
      attempts: err.attempts,
      afterUncertainAttempt: err.afterUncertainAttempt,
    });
  }
  if (err instanceof GraphTransportError) {
    return encoded('GraphTransportError', {
      failure: err.failure,
      operation: err.operation,
      attempts: err.attempts,
      outcomeUnknown: err.outcomeUnknown,
      lastStatus: err.lastStatus,
    });
  }
  if (err instanceof ConnectorError) {
    return encoded('ConnectorError', { code: err.code, meta: err.meta });
  }
  return { type: 'Error', message: 'the peer failed the operation' };
}

/** Rebuild an error a peer sent; an unknown type becomes a plain `Error`. */
export function decodeError(encoded: EncodedError): Error {
  const f = encoded.fields ?? {};
  const str = (key: string): string => (typeof f[key] === 'string' ? (f[key] as string) : '');
  const num = (key: string): number => (typeof f[key] === 'number' ? (f[key] as number) : 0);
  const bool = (key: string): boolean => f[key] === true;
  switch (encoded.type) {
    case 'CallOwnerGoneError':
      return new CallOwnerGoneError(str('callId'), str('instanceId'));
    case 'CallNotFoundError':
      return new CallNotFoundError(str('callId'));
    case 'CallEndedError':
      return new CallEndedError(str('callId'), isCallEndReason(f.reason) ? f.reason : undefined);
    case 'AcceptTimeoutError':
      return new AcceptTimeoutError(str('callId'));
    case 'OverloadedError':
      return new OverloadedError(
        f.reason === 'cpu' ? 'cpu' : 'event_loop_lag',
        num('measured'),
        num('limit'),
      );
    case 'CapacityError':
      return new CapacityError(
        typeof f.maxConcurrentCalls === 'number' ? f.maxConcurrentCalls : undefined,
      );
    case 'DrainingError':
      return new DrainingError();
    case 'InvalidSdpError':
      return new InvalidSdpError(f.kind === 'answer' ? 'answer' : 'offer', str('detail'));
    case 'InvalidArgumentError':
      return new InvalidArgumentError(encoded.message, str('field') || undefined);
    case 'NoCallPermissionError':
      return new NoCallPermissionError(
        str('phoneNumberId'),
        str('permissionStatus'),
        typeof f.canSendPermissionRequest === 'boolean' ? f.canSendPermissionRequest : undefined,
      );
    case 'RoomJoinError':
      return new RoomJoinError(str('roomName'));
    case 'TransferNotPossibleError':
      return new TransferNotPossibleError(
        str('callId'),
        f.reason === 'transfer_in_progress' || f.reason === 'same_room'
          ? f.reason
          : 'not_in_a_room',
      );
    case 'RoomNotReadyError':
      return new RoomNotReadyError(str('roomName'));
    case 'MediaConnectError':
      return new MediaConnectError(str('reason'));
    case 'DialInProgressError':
      return new DialInProgressError();
    case 'PeerUnreachableError':
      return new PeerUnreachableError(str('instanceId'), str('url'), bool('requestSent'));
    case 'DirectoryUnavailableError':
      return new DirectoryUnavailableError(encoded.message);
    case 'CallMovedError':
      return new CallMovedError(str('callId'));
    case 'GraphApiError':
      return new GraphApiError(parseGraphErrorBody({ error: f.graph }), {
        status: num('status'),
        operation: str('operation'),
        attempts: num('attempts'),
        afterUncertainAttempt: bool('afterUncertainAttempt'),
      });
    case 'GraphTransportError':
      return new GraphTransportError(
        TRANSPORT_FAILURES.includes(str('failure') as GraphTransportFailure)
          ? (str('failure') as GraphTransportFailure)
          : 'network',
        'failed on the instance that runs the call',
        {
          operation: str('operation'),
          attempts: num('attempts'),
          outcomeUnknown: bool('outcomeUnknown'),
          ...(typeof f.lastStatus === 'number' ? { lastStatus: f.lastStatus } : {}),
        },
      );
    case 'ConnectorError': {
      const code = f.code;
      const meta: Record<string, string> = {};
      if (f.meta && typeof f.meta === 'object') {
        for (const [k, v] of Object.entries(f.meta)) if (typeof v === 'string') meta[k] = v;
      }
      if (isTwirpCode(code)) return new ConnectorError(code, encoded.message, meta);
      return new Error(encoded.message);
    }
    default:
      return new Error(encoded.message);
  }
}
