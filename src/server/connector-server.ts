import type { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import type { ConnectorBackend } from '../connector/connector-backend.js';
import { createConnectorTwirpHandler } from '../connector/twirp-server.js';
import type { Logger } from '../log/index.js';
import { CallManager, type MediaLegSettings } from '../calls/call-manager.js';
import { ClusterBackend } from '../cluster/cluster-backend.js';
import { createClusterEndpoint } from '../cluster/cluster-endpoint.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { CLUSTER_ENDPOINT_PREFIX } from '../cluster/cluster-protocol.js';
import { RoomLegPool } from '../room/room-leg-pool.js';
import { createCallsEndpoint, CALLS_ENDPOINT_PATH } from '../gateway/calls-endpoint.js';
import { loadGatewaySettings, type GatewaySettings } from '../gateway/gateway-config.js';
import { PermissionCheckingBackend } from '../gateway/permission-checking-backend.js';
import { WebhookGateway } from '../gateway/webhook-gateway.js';
import { WhatsAppGraphClient } from '../whatsapp/graph-client.js';
import { HttpServer } from './http-server.js';
import { createMetricsRegistry } from './metrics.js';

export interface ConnectorServerOptions {
  config: Config;
  logger: Logger;
  /**
   * Does the work behind the Connector API (`/twirp/`). Default: the real call bridge, a
   * {@link CallManager} built from the configuration. Tests of the wire layer pass their own.
   */
  backend?: ConnectorBackend;
  /**
   * Webhook gateway settings (routing rules, secrets, forwarding). Default: read from the
   * configuration's `whatsapp` section and the environment (`loadGatewaySettings`).
   */
  gateway?: GatewaySettings;
}

/**
 * The running service: one HTTP listener serving the Connector API, the WhatsApp webhook
 * gateway, `/healthz` and `/metrics`. `close()` is idempotent and ends every call it owns.
 */
export class ConnectorServer {
  readonly config: Config;
  readonly logger: Logger;
  readonly http: HttpServer;
  readonly metrics: Registry;
  /** The call bridge, unless a custom backend was given. */
  readonly calls: CallManager | undefined;
  /** The built-in webhook gateway (with the call bridge only). */
  readonly gateway: WebhookGateway | undefined;
  /** Room worker processes hosting the calls' LiveKit legs (unless configured in-process). */
  readonly roomLegPool: RoomLegPool | undefined;
  /** Membership of the cluster sharing `redisUrl` (with the call bridge and Redis only). */
  readonly cluster: ClusterNode | undefined;
  private closing: Promise<void> | undefined;

  constructor(options: ConnectorServerOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.metrics = createMetricsRegistry();
    this.http = new HttpServer({ logger: this.logger });
    this.http.route('/healthz', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
    });
    this.http.route('/metrics', async (_req, res) => {
      const body = await this.metrics.metrics();
      res.writeHead(200, { 'Content-Type': this.metrics.contentType }).end(body);
    });
    if (!options.backend && this.config.calls.roomWorkerCallsPerProcess > 0) {
      this.roomLegPool = new RoomLegPool({
        callsPerProcess: this.config.calls.roomWorkerCallsPerProcess,
        logLevel: this.config.logLevel,
        redactPhoneNumbers: this.config.redactPhoneNumbers,
        logger: this.logger,
      });
    }
    if (!options.backend)
      this.calls = new CallManager({
        config: this.config,
        logger: this.logger,
        media: mediaSettings(this.config),
        roomLegs: this.roomLegPool?.factory,
      });
    let backend = options.backend;
    if (this.calls) {
      const settings = options.gateway ?? loadGatewaySettings(this.config);
      const graph = new WhatsAppGraphClient({
        baseUrl: this.config.whatsapp.graphUrl,
        logger: this.logger,
      });
      let clusterBackend: ClusterBackend | undefined;
      if (this.config.redisUrl) {
        // Scale-out: calls held by other instances are reached through their internal endpoint.
        const credentials = {
          apiKey: this.config.livekit.apiKey,
          apiSecret: this.config.livekit.apiSecret,
        };
        this.cluster = new ClusterNode({
          config: this.config,
          registry: this.calls.registry,
          logger: this.logger,
          metrics: this.metrics,
        });
        clusterBackend = new ClusterBackend({
          node: this.cluster,
          local: this.calls,
          credentials,
          logger: this.logger,
        });
        this.http.route(
          CLUSTER_ENDPOINT_PREFIX,
          createClusterEndpoint({
            credentials,
            handler: clusterBackend.serveForwarded,
            logger: this.logger.child({ component: 'cluster-endpoint' }),
          }),
        );
      }
      backend = new PermissionCheckingBackend({
        inner: clusterBackend ?? this.calls,
        graph,
        shouldCheck: (id) =>
          settings.numbers.find((n) => n.phoneNumberId === id)?.checkCallPermission ??
          settings.checkCallPermission,
      });
      this.gateway = new WebhookGateway({
        settings,
        config: this.config,
        calls: this.calls,
        elsewhere: clusterBackend,
        graph,
        logger: this.logger,
      });
      this.http.route(settings.webhookPath, this.gateway.handle);
      this.http.route(
        CALLS_ENDPOINT_PATH,
        createCallsEndpoint(this.calls.registry, this.config.apiKeys),
      );
    }
    if (backend) {
      this.http.route(
        '/twirp/',
        createConnectorTwirpHandler({
          apiKeys: this.config.apiKeys,
          backend,
          logger: this.logger,
          defaults: {
            ringingTimeoutSeconds: this.config.calls.ringingTimeoutSeconds,
            hidePhoneNumber: this.config.calls.hidePhoneNumber,
          },
        }),
      );
    }
  }

  /** Start listening; resolves with the bound port. */
  async start(): Promise<number> {
    const port = await this.http.listen(this.config.port, this.config.bindAddress);
    this.logger.info({ port, bindAddress: this.config.bindAddress }, 'connector listening');
    await this.cluster?.start(port);
    return port;
  }

  get port(): number {
    return this.http.port;
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      await this.gateway?.close();
      await this.calls?.close();
      await this.cluster?.close();
      await this.roomLegPool?.close();
      await this.http.close();
    })();
    return this.closing;
  }
}

/** ICE settings of the media legs from the configuration. */
export function mediaSettings(config: Config): MediaLegSettings {
  const settings: MediaLegSettings = {};
  if (config.media.iceAddresses.length > 0) {
    settings.iceAllowedAddresses = config.media.iceAddresses;
    // werift skips loopback while gathering unless told about it.
    const loopback = config.media.iceAddresses.filter((a) => a.startsWith('127.') || a === '::1');
    if (loopback.length > 0) settings.iceAdditionalHostAddresses = loopback;
  }
  if (config.media.icePortRange) settings.icePortRange = config.media.icePortRange;
  return settings;
}
