/**
 * The console's sources built from the running service's parts: the call registry (with each
 * call's media quality), the gateway's webhook receipts and permission replies, the state store's
 * queues, and the cluster's instance registry. Read-only: nothing here changes what it observes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CallRegistry } from '../calls/call-registry.js';
import type { CallSummary } from '../calls/whatsapp-call.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Config } from '../config/index.js';
import type { CallPermissions } from '../gateway/call-permissions.js';
import type { WebhookGateway } from '../gateway/webhook-gateway.js';
import type { StateStore } from '../store/state-store.js';
import {
  StateStoreAbsentError,
  type ConsoleCallSource,
  type ConsoleClusterSource,
  type ConsoleForwardingSource,
  type ConsolePermissionSource,
  type ConsoleQueueSource,
} from './console-sources.js';

/** Where `make bench` writes (bench/results/ of the checkout or package). */
export const BENCH_RESULTS_DIR = fileURLToPath(new URL('../../bench/results/', import.meta.url));

/** The calls of a registry, with the live quality of their media legs. */
export function registryCallSource(registry: CallRegistry): ConsoleCallSource {
  return {
    list: () => registry.list(),
    quality: (callId) => registry.get(callId)?.media.quality?.(),
    onEnded: (listener) => {
      const watch = (call: { once(e: 'ended', l: () => void): unknown; summary(): CallSummary }) =>
        call.once('ended', () => listener(call.summary()));
      for (const call of registry.all()) watch(call);
      registry.on('added', watch);
      return () => registry.off('added', watch);
    },
  };
}

/** Forwarding counts from the gateway's receipts; `target` without query or credentials. */
export function forwardingSource(
  forwardUrl: string,
  gateway: WebhookGateway,
): ConsoleForwardingSource {
  const url = new URL(forwardUrl);
  return {
    target: `${url.protocol}//${url.host}${url.pathname}`,
    counts: () => gateway.receipts.forwardCounts(),
  };
}

/** Permission replies the gateway recorded, and checks at Meta. */
export function permissionSource(
  gateway: WebhookGateway,
  permissions: CallPermissions,
): ConsolePermissionSource {
  return {
    list: () =>
      gateway.permissions
        .list()
        .map((p) => ({ ...p, waId: p.waId ?? p.userId ?? p.parentUserId ?? '' })),
    check: async (to, phoneNumberId) => {
      const v = await permissions.check(to, phoneNumberId);
      return {
        phoneNumberId: v.phoneNumberId,
        to: v.to,
        status: v.status,
        expiresAt: v.expiresAt,
        canCall: v.canCall,
        canRequest: v.canRequest,
      };
    },
  };
}

/**
 * The state store's webhook and forward queues, opened on first use and kept open until
 * `close()`. A local store that does not exist yet is not created: nothing was queued then.
 */
export function stateStoreQueueSource(
  config: Pick<Config, 'redisUrl' | 'stateDir'> & { cluster: Pick<Config['cluster'], 'keyPrefix'> },
): ConsoleQueueSource & { close(): Promise<void> } {
  let opening: Promise<StateStore> | undefined;
  const open = async (): Promise<StateStore> => {
    if (!config.redisUrl && !existsSync(join(config.stateDir, 'state.sqlite'))) {
      throw new StateStoreAbsentError(
        `There is no state store in ${config.stateDir} yet: nothing has been queued on this instance.`,
      );
    }
    opening ??= import('../store/index.js').then(({ openStateStore }) => openStateStore(config));
    return opening.catch((err: unknown) => {
      opening = undefined;
      throw err;
    });
  };
  return {
    location: async () => (await open()).location,
    queues: async () => {
      const [store, { WEBHOOK_QUEUE, FORWARD_QUEUE }] = await Promise.all([
        open(),
        import('../store/index.js'),
      ]);
      return [WEBHOOK_QUEUE, FORWARD_QUEUE].map((name) => {
        const queue = store.queue(name);
        return {
          name,
          sizes: () => queue.sizes(),
          deadLetters: (limit) => queue.deadLetters(limit),
        };
      });
    },
    close: async () => {
      const store = await opening?.catch(() => undefined);
      await store?.close();
    },
  };
}

/** The cluster's live instances, or this instance alone without Redis. */
export function clusterSource(
  cluster: ClusterNode | undefined,
  local: { instanceId: string; url: () => string; activeCalls: () => number; maxCalls: number },
): ConsoleClusterSource {
  if (cluster) {
    return {
      selfId: cluster.instanceId,
      shared: true,
      instances: () => cluster.instances.list(),
    };
  }
  const startedAt = Date.now();
  return {
    selfId: local.instanceId,
    shared: false,
    instances: async () => [
      {
        id: local.instanceId,
        url: local.url(),
        activeCalls: local.activeCalls(),
        maxCalls: local.maxCalls,
        startedAt,
        updatedAt: Date.now(),
      },
    ],
  };
}
