/**
 * The internal endpoint's wire format: one instance asks another to run a call operation
 * (`POST /internal/cluster/v1/<operation>`) with the operation's call parameters as JSON. Bodies
 * are parsed with the schemas below (typed against the call layer's parameter types, so the two
 * cannot drift); an answer carries the operation's result, or its typed error (see
 * `cluster-error-codec.ts`).
 */
import { z } from 'zod';
import {
  CALL_OPERATION_NAMES,
  type CallOperationName,
  type CallOperationTypes,
} from '../calls/call-router.js';
import {
  META_CALL_STATUSES,
  type AcceptParams,
  type CallStatusParams,
  type ConnectParams,
  type DialParams,
  type DisconnectParams,
  type HangupParams,
  type MetaCallStatus,
  type ParticipantParams,
  type TransferParams,
} from '../calls/call-params.js';
import { PLACEMENT_REASONS, type PlacementReason } from '../calls/call-placement.js';
import type { WhatsAppUser } from '../whatsapp/whatsapp-user.js';
import type { EncodedError } from './cluster-error-codec.js';

/** Path prefix of the internal endpoint. */
export const CLUSTER_ENDPOINT_PREFIX = '/internal/cluster/';
/** Path of one operation on a peer. */
export const clusterOperationPath = (op: CallOperationName): string =>
  `${CLUSTER_ENDPOINT_PREFIX}v1/${op}`;

export const CLUSTER_OPERATIONS = CALL_OPERATION_NAMES;

export function isClusterOperation(value: string): value is CallOperationName {
  return (CLUSTER_OPERATIONS as readonly string[]).includes(value);
}

/** The parts of a request's context that travel with it (its abort signal is the connection). */
export interface ForwardedContext {
  requestId: string;
  /** Who asked the forwarding instance (API key id, `webhook-gateway`). */
  requester: string;
  /** Epoch ms by which the original requester stops waiting. */
  deadline?: number | undefined;
}

/** Body of an internal request. */
export interface ClusterRequestBody {
  context: ForwardedContext;
  /** The operation's call parameters. */
  params: unknown;
}

/** Body of an internal answer. */
export type ClusterResponseBody =
  | { result: unknown }
  /** The operation failed with this typed error. */
  | { error: EncodedError };

const text = z.string();
const nonEmpty = z.string().min(1);

const forwardedContext: z.ZodType<ForwardedContext> = z.object({
  requestId: text,
  requester: text,
  deadline: z.number().optional(),
});

export const clusterRequestBody = z.object({
  context: forwardedContext,
  params: z.unknown(),
});

const meta = z.object({ phoneNumberId: nonEmpty, accessToken: nonEmpty, apiVersion: nonEmpty });

const user: z.ZodType<WhatsAppUser> = z.object({
  phoneNumber: nonEmpty.optional(),
  userId: nonEmpty.optional(),
  parentUserId: nonEmpty.optional(),
  username: text.optional(),
});

const participant: z.ZodType<ParticipantParams> = z.object({
  roomName: nonEmpty,
  identity: nonEmpty,
  name: text,
  metadata: text,
  attributes: z.record(text),
  agents: z.array(
    z.object({
      agentName: text,
      metadata: text,
      restartPolicy: z.number().int(),
      deployment: text,
      attributes: z.record(text),
    }),
  ),
});

const placement = z.object({
  reason: z.enum(PLACEMENT_REASONS as [PlacementReason, ...PlacementReason[]]),
  wantedRegion: text.optional(),
});

const dial: z.ZodType<DialParams> = z.object({
  meta,
  to: user,
  participant,
  destinationCountry: text.optional(),
  bizOpaqueCallbackData: text.optional(),
  ringingTimeoutMs: z.number().positive(),
  idempotencyKey: text.optional(),
  placement: placement.optional(),
});

const accept: z.ZodType<AcceptParams> = z.object({
  meta,
  callId: nonEmpty,
  offerSdp: nonEmpty,
  participant,
  caller: user.optional(),
  destinationCountry: text.optional(),
  bizOpaqueCallbackData: text.optional(),
  ringingTimeoutMs: z.number().positive(),
  waitUntilAnswered: z.boolean(),
  placement: placement.optional(),
});

const connect: z.ZodType<ConnectParams> = z.object({
  callId: nonEmpty,
  answerSdp: nonEmpty,
  waitUntilAnswered: z.boolean(),
});

const disconnect: z.ZodType<DisconnectParams> = z.object({
  callId: nonEmpty,
  initiator: z.enum(['user', 'business']),
  accessToken: text.optional(),
});

const hangup: z.ZodType<HangupParams> = z.object({
  callId: nonEmpty,
  status: text.optional(),
  errorCodes: z.array(z.number().int()).optional(),
});

const callStatus: z.ZodType<CallStatusParams> = z.object({
  callId: nonEmpty,
  status: z.enum(META_CALL_STATUSES as [MetaCallStatus, ...MetaCallStatus[]]),
});

const agentDispatch = z.object({
  agentName: text,
  metadata: text,
  restartPolicy: z.number().int(),
  deployment: text,
  attributes: z.record(text),
});

const transfer: z.ZodType<TransferParams> = z.object({
  callId: nonEmpty,
  roomName: nonEmpty,
  identity: nonEmpty.optional(),
  name: text.optional(),
  metadata: text.optional(),
  attributes: z.record(text).optional(),
  agents: z.array(agentDispatch).optional(),
});

/** The parameter schema of each operation. */
export const CLUSTER_PARAMS: {
  [Op in CallOperationName]: z.ZodType<CallOperationTypes[Op]['params']>;
} = {
  dial,
  accept,
  connect,
  disconnect,
  'user-hangup': hangup,
  'call-status': callStatus,
  transfer,
};
