/**
 * The console and its JSON endpoints on a running connector: what `ConnectorServer` calls to put
 * them on its internal listener. The JSON endpoints (`/api/webhooks`, `/api/permissions`) are
 * always served, for the CLI; the console pages only with `CONSOLE_ENABLED` (`dev`: always).
 */
import type { CallRegistry } from '../calls/call-registry.js';
import type { ClusterNode } from '../cluster/cluster-node.js';
import type { Config } from '../config/index.js';
import { CallPermissions } from '../gateway/call-permissions.js';
import type { GatewaySettings } from '../gateway/gateway-config.js';
import type { WebhookGateway } from '../gateway/webhook-gateway.js';
import type { Logger } from '../log/index.js';
import type { HttpServer } from '../server/http-server.js';
import type { WhatsAppGraphClient } from '../whatsapp/graph-client.js';
import { ConnectorApiActions } from './connector-api-actions.js';
import { CONSOLE_PATH } from './console-layout.js';
import type { ConsoleSources } from './console-sources.js';
import {
  createPermissionsEndpoint,
  createWebhooksEndpoint,
  PERMISSIONS_ENDPOINT_PATH,
  WEBHOOKS_ENDPOINT_PATH,
} from './operator-api.js';
import { OperatorConsole } from './operator-console.js';
import {
  BENCH_RESULTS_DIR,
  clusterSource,
  forwardingSource,
  permissionSource,
  registryCallSource,
  stateStoreQueueSource,
} from './service-sources.js';

/** The parts of the running service the console observes and acts through. */
export interface ConsoleServiceParts {
  config: Config;
  logger: Logger;
  /** The internal listener: the console is routed on it, and its actions call its Connector API. */
  internalHttp: HttpServer;
  registry: CallRegistry;
  gateway: WebhookGateway;
  settings: GatewaySettings;
  graph: WhatsAppGraphClient;
  cluster: ClusterNode | undefined;
  /** Optional - API key pre-filled on the sign-in form (dev). */
  signInHint?: string | undefined;
}

/** What was attached; `close()` stops the console and closes what it opened. */
export interface AttachedConsole {
  /** The console, when enabled. */
  console: OperatorConsole | undefined;
  close(): Promise<void>;
}

/** The internal listener's base URL as this process reaches it. */
function internalUrl(http: HttpServer): string {
  const address = http.address;
  if (!address) throw new Error('the internal listener is not listening');
  const host = ['0.0.0.0', '::', ''].includes(address.address) ? '127.0.0.1' : address.address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${address.port}`;
}

export function attachOperatorConsole(parts: ConsoleServiceParts): AttachedConsole {
  const { config, gateway, settings, internalHttp } = parts;
  const forwarding = settings.forwardUrl
    ? forwardingSource(settings.forwardUrl, gateway)
    : undefined;
  internalHttp.route(
    WEBHOOKS_ENDPOINT_PATH,
    createWebhooksEndpoint(config.apiKeys, {
      recent: (limit) => gateway.receipts.recent(limit),
      forwarding: () => (forwarding ? { target: forwarding.target, ...forwarding.counts() } : null),
    }),
  );
  internalHttp.route(
    PERMISSIONS_ENDPOINT_PATH,
    createPermissionsEndpoint(config.apiKeys, {
      // A user Meta named only by BSUID is listed under it.
      list: () =>
        gateway.permissions
          .list()
          .map((p) => ({ ...p, waId: p.waId ?? p.userId ?? p.parentUserId ?? '' })),
    }),
  );
  if (!config.console.enabled) return { console: undefined, close: async () => undefined };

  const queues = stateStoreQueueSource(config);
  const sources: ConsoleSources = {
    calls: registryCallSource(parts.registry),
    actions: new ConnectorApiActions({
      apiUrl: () => internalUrl(internalHttp),
      apiKeys: config.apiKeys,
      numbers: settings.numbers,
      phoneNumberIdOf: (callId) => parts.registry.get(callId)?.phoneNumberId,
    }),
    webhooks: gateway.receipts,
    forwarding,
    queues,
    permissions: permissionSource(gateway, new CallPermissions(parts.graph, settings.numbers)),
    cluster: clusterSource(parts.cluster, {
      instanceId: config.cluster.instanceId,
      url: () => internalUrl(internalHttp),
      activeCalls: () => parts.registry.activeCount,
      maxCalls: config.calls.maxConcurrentCalls,
    }),
    benchResultsDir: BENCH_RESULTS_DIR,
  };
  const operatorConsole = new OperatorConsole({
    sources,
    apiKeys: config.apiKeys,
    instanceId: config.cluster.instanceId,
    logger: parts.logger,
    signInHint: parts.signInHint,
  });
  internalHttp.route('/console', operatorConsole.handle);
  internalHttp.route(CONSOLE_PATH, operatorConsole.handle);
  return {
    console: operatorConsole,
    close: async () => {
      operatorConsole.close();
      await queues.close();
    },
  };
}
