import { ConnectorError, isTwirpCode } from '../errors/index.js';
import { clusterErrors } from './cluster-errors.js';
import {
  clusterOperationPath,
  type ClusterOperation,
  type ClusterRequestBody,
  type ClusterResponseBody,
} from './cluster-protocol.js';
import type { InstanceInfo } from './instance-registry.js';
import { signClusterToken, type ClusterCredentials } from './internal-auth.js';

export interface ClusterPeerClientOptions {
  credentials: ClusterCredentials;
  /** Id of this instance (the token's `sub`). */
  instanceId: string;
}

/**
 * Sends operations to another instance's internal endpoint. A peer's Twirp error comes back as
 * the same ConnectorError; a peer that cannot be reached is `unavailable`.
 */
export class ClusterPeerClient {
  private readonly credentials: ClusterCredentials;
  private readonly instanceId: string;

  constructor(options: ClusterPeerClientOptions) {
    this.credentials = options.credentials;
    this.instanceId = options.instanceId;
  }

  async send(
    peer: InstanceInfo,
    op: ClusterOperation,
    body: ClusterRequestBody,
    signal?: AbortSignal,
  ): Promise<unknown> {
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const token = await signClusterToken(this.credentials, this.instanceId, payload);
    let res: Response;
    try {
      res = await fetch(`${peer.url.replace(/\/+$/, '')}${clusterOperationPath(op)}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: payload,
        signal,
      });
    } catch (err) {
      if (signal?.aborted) {
        throw new ConnectorError('canceled', 'request canceled', {}, { cause: err });
      }
      throw clusterErrors.ownerUnreachable(peer.id, peer.url, err);
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      throw clusterErrors.ownerUnreachable(peer.id, peer.url, err);
    }
    if (res.ok) return (json as ClusterResponseBody).result;
    const e = json as { code?: unknown; msg?: unknown; meta?: unknown };
    const meta: Record<string, string> = {};
    if (e.meta && typeof e.meta === 'object') {
      for (const [k, v] of Object.entries(e.meta)) if (typeof v === 'string') meta[k] = v;
    }
    if (!isTwirpCode(e.code)) {
      throw clusterErrors.ownerUnreachable(
        peer.id,
        peer.url,
        new Error(`unexpected answer ${res.status}`),
      );
    }
    throw new ConnectorError(e.code, typeof e.msg === 'string' ? e.msg : '', meta);
  }
}
