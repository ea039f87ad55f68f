import type { MetaCallStatus } from '../calls/call-manager.js';

/** Path prefix of the internal endpoint (`POST /internal/cluster/v1/<operation>`). */
export const CLUSTER_ENDPOINT_PREFIX = '/internal/cluster/';
/** Path of one operation on a peer. */
export const clusterOperationPath = (op: ClusterOperation): string =>
  `${CLUSTER_ENDPOINT_PREFIX}v1/${op}`;

/** What one instance asks another to do for a call it owns (or for a call to place there). */
export type ClusterOperation =
  'dial' | 'connect' | 'accept' | 'disconnect' | 'user-hangup' | 'call-status';

export const CLUSTER_OPERATIONS: readonly ClusterOperation[] = [
  'dial',
  'connect',
  'accept',
  'disconnect',
  'user-hangup',
  'call-status',
];

/** The parts of a request's context that travel with it (its abort signal is the connection). */
export interface ForwardedContext {
  requestId: string;
  clientRequestId: boolean;
  clientTimeoutMs?: number;
  apiKeyId: string;
}

/** Body of an internal request. `request` is the Connector request in protobuf JSON form. */
export interface ClusterRequestBody {
  context: ForwardedContext;
  request?: unknown;
  callId?: string;
  status?: MetaCallStatus;
}

/** Body of an internal answer (errors are Twirp errors: `{code, msg, meta}`). */
export interface ClusterResponseBody {
  /** Connector response in protobuf JSON form, or `{handled}` for webhook events. */
  result: unknown;
}
