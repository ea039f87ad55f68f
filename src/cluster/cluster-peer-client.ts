import type { CallOperationName, CallOperationTypes, PeerRef } from '../calls/call-router.js';
import { PeerUnreachableError } from '../calls/call-errors.js';
import { decodeError, type EncodedError } from './cluster-error-codec.js';
import { clusterOperationPath, type ClusterRequestBody } from './cluster-protocol.js';
import { signClusterToken, type ClusterCredentials } from './internal-auth.js';

export interface ClusterPeerClientOptions {
  credentials: ClusterCredentials;
  /** Id of this instance (the token's `sub`). */
  instanceId: string;
}

/**
 * Sends call operations to another instance's internal endpoint. A peer's failure comes back as
 * the typed error it raised there; a peer that cannot be reached is `PeerUnreachableError`, which
 * says whether the request may have reached it.
 */
export class ClusterPeerClient {
  private readonly credentials: ClusterCredentials;
  private readonly instanceId: string;

  constructor(options: ClusterPeerClientOptions) {
    this.credentials = options.credentials;
    this.instanceId = options.instanceId;
  }

  async send<Op extends CallOperationName>(
    peer: PeerRef,
    op: Op,
    body: ClusterRequestBody,
    signal?: AbortSignal,
  ): Promise<CallOperationTypes[Op]['result']> {
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
      // fetch does not say whether the request left: a refused connection cannot have reached
      // the peer; anything else (reset, timeout, abort) may have.
      throw new PeerUnreachableError(peer.id, peer.url, !connectionRefused(err), { cause: err });
    }
    let json: unknown;
    try {
      json = await res.json();
    } catch (err) {
      throw new PeerUnreachableError(peer.id, peer.url, true, { cause: err });
    }
    const answer = json as { result?: unknown; error?: EncodedError; code?: unknown };
    if (res.ok) return answer.result as CallOperationTypes[Op]['result'];
    if (answer.error && typeof answer.error.type === 'string') throw decodeError(answer.error);
    // The endpoint itself refused (authentication, route): the operation never ran there.
    throw new PeerUnreachableError(peer.id, peer.url, false, {
      cause: new Error(`internal endpoint answered ${res.status} ${String(answer.code ?? '')}`),
    });
  }
}

function connectionRefused(err: unknown): boolean {
  const cause = (err as { cause?: { code?: unknown } } | undefined)?.cause;
  return cause?.code === 'ECONNREFUSED';
}
