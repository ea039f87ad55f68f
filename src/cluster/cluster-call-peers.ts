import type { OperationContext } from '../calls/call-params.js';
import type {
  CallLocation,
  CallOperationName,
  CallOperationTypes,
  CallPeers,
  PeerRef,
} from '../calls/call-router.js';
import type { DialRecords } from '../calls/dial-records.js';
import type { CallOwner, ClusterNode } from './cluster-node.js';
import { ClusterPeerClient } from './cluster-peer-client.js';
import type { ForwardedContext } from './cluster-protocol.js';
import type { ClusterCredentials } from './internal-auth.js';
import { RedisDialRecords } from './redis-dial-records.js';

export interface ClusterCallPeersOptions {
  node: ClusterNode;
  /** The LiveKit key pair shared by every instance: signs internal requests. */
  credentials: ClusterCredentials;
}

/**
 * The cluster as the call router sees it: the Redis directory of which instance holds which call
 * (`ClusterNode`), the peers' internal endpoints, and Dial records shared in Redis.
 */
export class ClusterCallPeers implements CallPeers {
  readonly dialRecords: DialRecords;
  private readonly node: ClusterNode;
  private readonly client: ClusterPeerClient;

  constructor(options: ClusterCallPeersOptions) {
    this.node = options.node;
    this.client = new ClusterPeerClient({
      credentials: options.credentials,
      instanceId: options.node.instanceId,
    });
    this.dialRecords = new RedisDialRecords(options.node.redis, options.node.keys);
  }

  async locate(callId: string): Promise<CallLocation> {
    return locationOf(await this.node.ownerOf(callId));
  }

  async claim(callId: string): Promise<CallLocation> {
    return locationOf(await this.node.claim(callId));
  }

  release(callId: string): Promise<void> {
    return this.node.release(callId);
  }

  publish(callId: string): Promise<void> {
    return this.node.register(callId);
  }

  async withCapacity(): Promise<PeerRef[]> {
    return (await this.node.peersWithCapacity()).map((i) => ({
      id: i.id,
      url: i.url,
      region: i.region,
      load: i.maxCalls > 0 ? i.activeCalls / i.maxCalls : 1,
    }));
  }

  async send<Op extends CallOperationName>(
    peer: PeerRef,
    op: Op,
    params: CallOperationTypes[Op]['params'],
    ctx: OperationContext,
  ): Promise<CallOperationTypes[Op]['result']> {
    const context: ForwardedContext = {
      requestId: ctx.requestId,
      requester: ctx.requester,
      ...(ctx.deadline !== undefined ? { deadline: ctx.deadline } : {}),
    };
    ctx.logger.debug({ peer: peer.id, op }, 'forwarding to the instance holding the call');
    try {
      const result = await this.client.send(peer, op, { context, params }, ctx.signal);
      this.node.recordForward(op, 'ok');
      return result;
    } catch (err) {
      this.node.recordForward(op, err instanceof Error ? err.name : 'Error');
      throw err;
    }
  }
}

function locationOf(owner: CallOwner): CallLocation {
  switch (owner.kind) {
    case 'none':
      return { kind: 'nowhere' };
    case 'self':
      return { kind: 'here' };
    case 'peer':
      return { kind: 'peer', peer: { id: owner.info.id, url: owner.info.url } };
    case 'gone':
      return { kind: 'gone', instanceId: owner.instanceId };
  }
}
