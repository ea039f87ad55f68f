import type { RoomDataMessage } from '../calls/call-ports.js';
import { ConnectorError, isTwirpCode } from '../errors/connector-error.js';
import type {
  RoomLegDisconnectReason,
  RoomLegOptions,
  RoomLegParticipant,
  RoomLegStats,
} from './room-leg.js';

/**
 * Control messages between the connector and a room worker process, sent over the IPC channel
 * (JSON). Audio does not travel here: it uses the binary channel of `room-worker-audio-channel`.
 * Every leg is named by a `legId` the parent assigns; requests carry a `requestId` answered by
 * exactly one `result`.
 */

/** Room leg options as they cross the process boundary (no logger; bindings instead). */
export type RoomWorkerJoinOptions = Omit<RoomLegOptions, 'logger' | 'agents'> & {
  /** RoomAgentDispatch messages as JSON (protobuf-es `toJson()`). */
  agents?: unknown[] | undefined;
  /** Fields of the caller's logger, so the worker's log lines keep the call context. */
  logBindings?: Record<string, unknown> | undefined;
};

export type ParentToWorkerMessage =
  | { type: 'join'; requestId: number; legId: number; options: RoomWorkerJoinOptions }
  | { type: 'dtmf'; requestId: number; legId: number; digit: string }
  | { type: 'setAttributes'; requestId: number; legId: number; attributes: Record<string, string> }
  | {
      type: 'sendData';
      requestId: number;
      legId: number;
      topic: string;
      payloadBase64: string;
      destinationIdentity: string;
    }
  | { type: 'close'; requestId: number; legId: number }
  /** Leave every room and exit. */
  | { type: 'shutdown' };

export interface JoinedResult {
  participantSid: string;
  participants: RoomLegParticipant[];
}

export type WorkerToParentMessage =
  /** The worker listens on both channels; requests may be sent. */
  | { type: 'ready' }
  | { type: 'result'; requestId: number; ok: true; value?: JoinedResult | undefined }
  | { type: 'result'; requestId: number; ok: false; error: SerializedError }
  | { type: 'participants'; legId: number; participants: RoomLegParticipant[] }
  | { type: 'dtmf'; legId: number; digit: string; fromIdentity: string | undefined }
  /** A data packet into the leg's room; the payload as base64 (IPC is JSON). */
  | {
      type: 'data';
      legId: number;
      topic: string | undefined;
      payloadBase64: string;
      from: RoomDataMessage['from'];
    }
  | { type: 'disconnected'; legId: number; reason: RoomLegDisconnectReason; code: number }
  | { type: 'error'; legId: number; error: SerializedError }
  /** Counters of every leg, about once a second. */
  | { type: 'stats'; legs: [legId: number, stats: RoomLegStats][] };

export interface SerializedError {
  name: string;
  message: string;
  /** Twirp code when the error was a ConnectorError. */
  code?: string | undefined;
  meta?: Record<string, string> | undefined;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof ConnectorError) {
    return { name: err.name, message: err.message, code: err.code, meta: err.meta };
  }
  if (err instanceof Error) return { name: err.name, message: err.message };
  return { name: 'Error', message: String(err) };
}

/** ConnectorErrors come back as ConnectorErrors (same code/meta); anything else as an Error. */
export function deserializeError(data: SerializedError): Error {
  if (data.code !== undefined && isTwirpCode(data.code)) {
    return new ConnectorError(data.code, data.message, data.meta ?? {});
  }
  const err = new Error(data.message);
  err.name = data.name;
  return err;
}
