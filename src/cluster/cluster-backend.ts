import { randomUUID } from 'node:crypto';
import {
  AcceptWhatsAppCallRequest,
  AcceptWhatsAppCallResponse,
  ConnectWhatsAppCallRequest,
  ConnectWhatsAppCallResponse,
  DialWhatsAppCallRequest,
  DialWhatsAppCallResponse,
  DisconnectWhatsAppCallRequest,
  DisconnectWhatsAppCallResponse,
} from '@livekit/protocol';
import type { CallManager, MetaCallStatus } from '../calls/call-manager.js';
import type { ConnectorBackend, RequestContext } from '../connector/connector-backend.js';
import { connectorErrors } from '../connector/connector-errors.js';
import { ConnectorError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { clusterErrors, RedisUnavailableError } from './cluster-errors.js';
import type { CallOwner, ClusterNode } from './cluster-node.js';
import { ClusterPeerClient } from './cluster-peer-client.js';
import type { ClusterOperation, ClusterRequestBody, ForwardedContext } from './cluster-protocol.js';
import type { InstanceInfo } from './instance-registry.js';
import type { ClusterCredentials } from './internal-auth.js';

/** Default time a webhook event for an unknown call waits for its owner to publish it, ms. */
export const DEFAULT_WEBHOOK_OWNER_GRACE_MS = 2000;
/** Time a webhook event forwarded to another instance may take there, ms. */
const WEBHOOK_FORWARD_TIMEOUT_MS = 15_000;

const META_STATUSES: readonly MetaCallStatus[] = ['RINGING', 'ACCEPTED', 'REJECTED'];

export interface ClusterBackendOptions {
  node: ClusterNode;
  /** The call bridge of this instance. */
  local: CallManager;
  /** The LiveKit key pair shared by every instance: signs internal requests. */
  credentials: ClusterCredentials;
  logger: Logger;
  /**
   * How long a webhook event for a call nobody owns yet waits for the owner to publish it, ms:
   * Meta may deliver a dialled call's `connect` to one instance before the dialling instance has
   * recorded the call id. Default {@link DEFAULT_WEBHOOK_OWNER_GRACE_MS}.
   */
  webhookOwnerGraceMs?: number;
}

/**
 * The Connector API of a cluster of instances sharing Redis. A call's media lives in the one
 * process that set it up, so requests for a call this instance does not hold are forwarded to
 * the owner through the internal endpoint; new calls are placed here unless this instance is
 * full, then on the least loaded peer. Forwarded requests are served here and never forwarded
 * again, so a directory that changes under a request cannot make it loop.
 */
export class ClusterBackend implements ConnectorBackend {
  private readonly node: ClusterNode;
  private readonly local: CallManager;
  private readonly peers: ClusterPeerClient;
  private readonly logger: Logger;
  private readonly graceMs: number;

  constructor(options: ClusterBackendOptions) {
    this.node = options.node;
    this.local = options.local;
    this.logger = options.logger.child({ component: 'cluster' });
    this.graceMs = options.webhookOwnerGraceMs ?? DEFAULT_WEBHOOK_OWNER_GRACE_MS;
    this.peers = new ClusterPeerClient({
      credentials: options.credentials,
      instanceId: options.node.instanceId,
    });
  }

  // ---- Connector API -------------------------------------------------------------------------

  dialWhatsAppCall(
    req: DialWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DialWhatsAppCallResponse> {
    return this.dial(req, ctx, false);
  }

  connectWhatsAppCall(
    req: ConnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectWhatsAppCallResponse> {
    return this.forCall(req.whatsappCallId, {
      local: () => this.local.connectWhatsAppCall(req, ctx),
      remote: async (peer) =>
        ConnectWhatsAppCallResponse.fromJson(
          (await this.forward(peer, 'connect', { request: req.toJson() }, ctx)) as never,
        ),
    });
  }

  acceptWhatsAppCall(
    req: AcceptWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<AcceptWhatsAppCallResponse> {
    return this.accept(req, ctx, false);
  }

  disconnectWhatsAppCall(
    req: DisconnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<DisconnectWhatsAppCallResponse> {
    return this.forCall(req.whatsappCallId, {
      local: () => this.local.disconnectWhatsAppCall(req, ctx),
      remote: async (peer) =>
        DisconnectWhatsAppCallResponse.fromJson(
          (await this.forward(peer, 'disconnect', { request: req.toJson() }, ctx)) as never,
        ),
    });
  }

  // ---- webhook events for calls held elsewhere (the gateway's fallbacks) ----------------------

  /**
   * Apply Meta's answer to a dialled call another instance holds. Resolves false when no live
   * instance holds it (a call not dialled through this cluster).
   */
  async connectOwnedElsewhere(
    req: ConnectWhatsAppCallRequest,
    ctx: RequestContext,
  ): Promise<boolean> {
    const peer = await this.webhookOwner(req.whatsappCallId);
    if (!peer) return false;
    await this.forward(peer, 'connect', { request: req.toJson() }, ctx);
    return true;
  }

  /** The user hung up a call another instance holds. Resolves false when nobody holds it. */
  async hangUpOwnedElsewhere(callId: string): Promise<boolean> {
    const peer = await this.webhookOwner(callId);
    if (!peer) return false;
    const result = await this.forward(
      peer,
      'user-hangup',
      { callId },
      webhookContext(this.logger, AbortSignal.timeout(WEBHOOK_FORWARD_TIMEOUT_MS)),
    );
    return (result as { handled?: unknown }).handled === true;
  }

  /** A status webhook for a call another instance holds. Resolves false when nobody holds it. */
  async statusOwnedElsewhere(callId: string, status: MetaCallStatus): Promise<boolean> {
    const peer = await this.webhookOwner(callId);
    if (!peer) return false;
    const result = await this.forward(
      peer,
      'call-status',
      { callId, status },
      webhookContext(this.logger, AbortSignal.timeout(WEBHOOK_FORWARD_TIMEOUT_MS)),
    );
    return (result as { handled?: unknown }).handled === true;
  }

  // ---- the internal endpoint -----------------------------------------------------------------

  /** Serve an operation another instance forwarded here. Never forwards it again. */
  serveForwarded = async (
    op: ClusterOperation,
    body: ClusterRequestBody,
    ctx: RequestContext,
  ): Promise<unknown> => {
    switch (op) {
      case 'dial':
        return (await this.dial(decode(DialWhatsAppCallRequest, body), ctx, true)).toJson();
      case 'accept':
        return (await this.accept(decode(AcceptWhatsAppCallRequest, body), ctx, true)).toJson();
      case 'connect':
        return (
          await this.local.connectWhatsAppCall(decode(ConnectWhatsAppCallRequest, body), ctx)
        ).toJson();
      case 'disconnect':
        return (
          await this.local.disconnectWhatsAppCall(decode(DisconnectWhatsAppCallRequest, body), ctx)
        ).toJson();
      case 'user-hangup': {
        const callId = requireCallId(body);
        const handled = this.local.registry.get(callId) !== undefined;
        await this.local.handleUserHangup(callId);
        return { handled };
      }
      case 'call-status': {
        const callId = requireCallId(body);
        const status = body.status;
        if (!status || !META_STATUSES.includes(status)) {
          throw new ConnectorError('malformed', 'internal cluster request: unknown call status');
        }
        const handled = this.local.registry.get(callId) !== undefined;
        await this.local.handleCallStatus(callId, status);
        return { handled };
      }
    }
  };

  // ---- internals -----------------------------------------------------------------------------

  private async dial(
    req: DialWhatsAppCallRequest,
    ctx: RequestContext,
    forwarded: boolean,
  ): Promise<DialWhatsAppCallResponse> {
    if (this.local.registry.hasCapacity() || forwarded) {
      try {
        const res = await this.local.dialWhatsAppCall(req, ctx);
        // Published before the answer, so a Connect for it at any instance finds the owner.
        await this.node.register(res.whatsappCallId);
        return res;
      } catch (err) {
        if (forwarded || !isBusy(err)) throw err;
      }
    }
    const result = await this.placeOnPeer('dial', { request: req.toJson() }, ctx);
    return DialWhatsAppCallResponse.fromJson(result as never);
  }

  private async accept(
    req: AcceptWhatsAppCallRequest,
    ctx: RequestContext,
    forwarded: boolean,
  ): Promise<AcceptWhatsAppCallResponse> {
    const callId = req.whatsappCallId;
    // Held here (or being accepted here): the bridge joins the accept already under way.
    if (this.local.registry.get(callId)) return this.local.acceptWhatsAppCall(req, ctx);
    const toPeer = async (peer: InstanceInfo) =>
      AcceptWhatsAppCallResponse.fromJson(
        (await this.forward(peer, 'accept', { request: req.toJson() }, ctx)) as never,
      );
    let owner: CallOwner;
    try {
      owner = await this.node.ownerOf(callId);
      if (owner.kind === 'peer') {
        if (forwarded) throw clusterErrors.ownershipMoved();
        return await toPeer(owner.info);
      }
      if (owner.kind !== 'self' && !forwarded && !this.local.registry.hasCapacity()) {
        return AcceptWhatsAppCallResponse.fromJson(
          (await this.placeOnPeer('accept', { request: req.toJson() }, ctx)) as never,
        );
      }
      // Claimed atomically: a webhook redelivered to another instance, or a retried Accept sent
      // elsewhere, joins this accept instead of answering the call twice.
      owner = await this.node.claim(callId);
    } catch (err) {
      if (!(err instanceof RedisUnavailableError)) throw err;
      // Without Redis, answering here beats not answering: the call is new, nobody else has it.
      ctx.logger.warn({ callId }, 'Redis unreachable: accepting without a cluster-wide claim');
      owner = { kind: 'self' };
    }
    if (owner.kind === 'peer') {
      if (forwarded) throw clusterErrors.ownershipMoved();
      return toPeer(owner.info);
    }
    try {
      return await this.local.acceptWhatsAppCall(req, ctx);
    } catch (err) {
      // A failed accept that never reached the registry leaves a claim nobody would release.
      if (!this.local.registry.get(callId)) await this.node.release(callId);
      throw err;
    }
  }

  /** Serve locally when the call is held here; else forward to its owner. */
  private async forCall<T>(
    callId: string,
    handlers: { local: () => Promise<T>; remote: (peer: InstanceInfo) => Promise<T> },
  ): Promise<T> {
    // Checked before Redis, so calls held here keep working while Redis is down.
    if (this.local.registry.get(callId)) return handlers.local();
    const owner = await this.node.ownerOf(callId);
    switch (owner.kind) {
      case 'none':
        throw connectorErrors.callNotFound();
      case 'gone':
        throw clusterErrors.ownerGone(owner.instanceId);
      case 'self':
        return handlers.local();
      case 'peer':
        return handlers.remote(owner.info);
    }
  }

  /** The live peer holding `callId`, waiting up to the grace period for it to be published. */
  private async webhookOwner(callId: string): Promise<InstanceInfo | undefined> {
    const deadline = Date.now() + this.graceMs;
    for (;;) {
      const owner = await this.node.ownerOf(callId);
      if (owner.kind === 'peer') return owner.info;
      if (owner.kind === 'self' || owner.kind === 'gone') return undefined;
      if (this.local.registry.get(callId) || Date.now() >= deadline) return undefined;
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** A new call this instance has no room for: the least loaded peers, in turn. */
  private async placeOnPeer(
    op: 'dial' | 'accept',
    payload: Omit<ClusterRequestBody, 'context'>,
    ctx: RequestContext,
  ): Promise<unknown> {
    let peers: InstanceInfo[];
    try {
      peers = await this.node.peersWithCapacity();
    } catch (err) {
      ctx.logger.warn({ err }, 'no peer lookup possible; refusing the call here');
      throw connectorErrors.serverBusy();
    }
    for (const peer of peers) {
      try {
        return await this.forward(peer, op, payload, ctx);
      } catch (err) {
        // Full since its last heartbeat, or unreachable: the next one may take it.
        if (isBusy(err) || (err instanceof ConnectorError && err.code === 'unavailable')) {
          ctx.logger.info({ peer: peer.id, code: (err as ConnectorError).code }, 'peer declined');
          continue;
        }
        throw err;
      }
    }
    throw connectorErrors.serverBusy();
  }

  private async forward(
    peer: InstanceInfo,
    op: ClusterOperation,
    payload: Omit<ClusterRequestBody, 'context'>,
    ctx: RequestContext,
  ): Promise<unknown> {
    const context: ForwardedContext = {
      requestId: ctx.requestId,
      clientRequestId: ctx.clientRequestId,
      apiKeyId: ctx.apiKeyId,
      ...(ctx.clientTimeoutMs !== undefined ? { clientTimeoutMs: ctx.clientTimeoutMs } : {}),
    };
    ctx.logger.debug({ peer: peer.id, op }, 'forwarding to the instance holding the call');
    try {
      const result = await this.peers.send(peer, op, { ...payload, context }, ctx.signal);
      this.node.recordForward(op, 'ok');
      return result;
    } catch (err) {
      this.node.recordForward(op, err instanceof ConnectorError ? err.code : 'internal');
      throw err;
    }
  }
}

function isBusy(err: unknown): boolean {
  const busy = connectorErrors.serverBusy();
  return err instanceof ConnectorError && err.code === busy.code && err.message === busy.message;
}

function decode<T>(type: { fromJson(json: never): T }, body: ClusterRequestBody): T {
  try {
    return type.fromJson(body.request as never);
  } catch {
    throw new ConnectorError('malformed', 'internal cluster request: invalid request');
  }
}

function requireCallId(body: ClusterRequestBody): string {
  if (typeof body.callId !== 'string' || body.callId === '') {
    throw new ConnectorError('malformed', 'internal cluster request: call id missing');
  }
  return body.callId;
}

function webhookContext(logger: Logger, signal: AbortSignal): RequestContext {
  return {
    method: 'DisconnectWhatsAppCall',
    apiKeyId: 'webhook-gateway',
    requestId: randomUUID(),
    clientRequestId: false,
    signal,
    clientTimeoutMs: undefined,
    logger,
  };
}
