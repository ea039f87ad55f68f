import { isLoopbackHost, regionOfCountry, type Config } from '../config/index.js';
import { createConnectorTwirpHandler } from '../connector/twirp-server.js';
import type { TwilioCallBackend } from '../connector/twilio-call-backend.js';
import type { Logger } from '../log/index.js';
import {
  CallManager,
  type CallManagerOptions,
  type MediaLegSettings,
} from '../calls/call-manager.js';
import type { CallOperations } from '../calls/call-params.js';
import { CallPlacements } from '../calls/call-placement.js';
import { CallRouter, type RegionPolicy } from '../calls/call-router.js';
import { ClusterCallPeers } from '../cluster/cluster-call-peers.js';
import { createClusterEndpoint } from '../cluster/cluster-endpoint.js';
import { ClusterNode } from '../cluster/cluster-node.js';
import { attachRegionalTwilio } from '../cluster/twilio-placement.js';
import { twilioStreamRelay } from '../cluster/twilio-stream-relay.js';
import { CLUSTER_ENDPOINT_PREFIX } from '../cluster/cluster-protocol.js';
import { attachOperatorConsole, type AttachedConsole } from '../console/service-console.js';
import { createCallsEndpoint, CALLS_ENDPOINT_PATH } from '../connector/calls-endpoint.js';
import { RoomTransferRequests } from '../connector/room-transfer-requests.js';
import {
  CALL_ACTIONS_PATH_PREFIX,
  createCallTransferEndpoint,
  MAX_TRANSFER_BODY_BYTES,
} from '../connector/call-transfer-endpoint.js';
import { loadGatewaySettings, type GatewaySettings } from '../gateway/gateway-config.js';
import { PermissionCheckingCalls } from '../gateway/permission-checking-calls.js';
import { WebhookGateway } from '../gateway/webhook-gateway.js';
import { MEDIA_STREAM_PATH } from '../twilio/connect-url-signer.js';
import { TwilioConnector } from '../twilio/twilio-connector.js';
import { WhatsAppGraphClient, type WhatsAppGraphClientOptions } from '../whatsapp/graph-client.js';
import { ConnectorMetrics } from '../metrics/index.js';
import { AdmissionControl, admittedTwilioCalls } from './admission-control.js';
import { attachCallTelemetry } from './call-telemetry.js';
import { CallJournal } from '../recovery/call-journal.js';
import { OrphanCallCleaner, roomServiceRemover } from '../recovery/orphan-call-cleaner.js';
import {
  FORWARD_QUEUE,
  TokenSealer,
  WEBHOOK_QUEUE,
  openStateStore,
  type StateStore,
} from '../store/index.js';
import { HttpServer, type RouteHandler } from './http-server.js';
import { receiveConnections } from './process-supervisor.js';

/** Largest webhook body accepted, bytes: Meta's call and message events are a few KiB. */
export const MAX_WEBHOOK_BODY_BYTES = 256 * 1024;
/** Largest Connector API (Twirp) body accepted, bytes; larger ones answer Twirp `malformed`. */
export const MAX_API_BODY_BYTES = 1024 * 1024;

export interface ConnectorServerOptions {
  config: Config;
  logger: Logger;
  /**
   * Does the work behind the Connector API (`/twirp/`). Default: the real calls (a
   * {@link CallManager} behind a {@link CallRouter}). Tests of the wire layer pass their own.
   */
  backend?: CallOperations;
  /**
   * Settings of the Graph API clients besides the base URL (timeouts, retries). Default: the
   * client's defaults. Tests shorten the timeouts to exercise Meta timing out.
   */
  graph?: Omit<WhatsAppGraphClientOptions, 'baseUrl' | 'logger'>;
  /** Retries of ending calls at Meta. Default `DEFAULT_META_END_RETRY`; tests shorten them. */
  metaEndRetry?: CallManagerOptions['metaEndRetry'];
  /**
   * Webhook gateway settings (routing rules, secrets, forwarding). Default: read from the
   * configuration's `whatsapp` section and the environment (`loadGatewaySettings`).
   */
  gateway?: GatewaySettings;
  /**
   * Serves `ConnectTwilioCall`. Default: with the real calls, a {@link TwilioConnector} (and its
   * Media Streams WebSocket endpoint); with a custom `backend`, none unless given here.
   */
  twilio?: TwilioCallBackend;
  /** Optional - API key pre-filled on the console's sign-in form (`dev`; never a secret). */
  consoleSignInHint?: string;
  /**
   * Optional - a `serve --processes` supervisor owns the public port (this number) and hands this
   * process its share of the connections (`receiveConnections`), so the public listener does not
   * bind. It closes each connection after its answer, so the supervisor places each request (and
   * the call it starts) on the child with the fewest calls, not just each client connection.
   * Default: listen on `config.port`.
   */
  supervisedPublicPort?: number;
  /**
   * Call records and webhook queues (with the real calls only). Default: opened at `start()` from
   * the configuration (Redis with `REDIS_URL`, else SQLite in `STATE_DIR`, whose lock it holds).
   */
  stateStore?: StateStore;
  /** Period of the scan for orphaned calls, ms. Default 5000; tests shorten it. */
  orphanScanIntervalMs?: number;
}

/**
 * The running service on two listeners. The public one serves only the WhatsApp webhook and,
 * unless `connectorApiEnabled` is off, the Connector API; the internal one (loopback by default)
 * serves `/healthz`, `/readyz`, `/metrics`, `/api/calls`, the cluster endpoint and the Connector
 * API. `close()` is idempotent and ends every call it owns.
 */
export class ConnectorServer {
  readonly config: Config;
  readonly logger: Logger;
  /** The public listener. */
  readonly http: HttpServer;
  /** The internal listener. */
  readonly internalHttp: HttpServer;
  readonly metrics: ConnectorMetrics;
  /** The calls held by this instance, unless a custom backend was given. */
  readonly calls: CallManager | undefined;
  /** Twilio Media Streams calls (with the real calls only). */
  readonly twilio: TwilioConnector | undefined;
  /** The calls wherever they are held (here or on a peer), unless a custom backend was given. */
  readonly router: CallRouter | undefined;
  /** Transfer requests by data message from calls' rooms (with the call bridge only). */
  readonly roomTransfers: RoomTransferRequests | undefined;
  /** The built-in webhook gateway (with the call bridge only). */
  readonly gateway: WebhookGateway | undefined;
  /** Room worker processes hosting the calls' LiveKit legs (unless configured in-process). */
  /** Membership of the cluster sharing `redisUrl` (with the call bridge and Redis only). */
  readonly cluster: ClusterNode | undefined;
  /** The operator console and its JSON endpoints on the internal listener (with the gateway). */
  readonly console: AttachedConsole | undefined;
  /** Admission control: refuses new calls while event-loop lag or CPU are over their limits. */
  readonly admission: AdmissionControl;
  private detachTelemetry: (() => void) | undefined;
  /** ConnectTwilioCall's backend: the Twilio calls here, placed by region in a cluster. */
  private twilioBackend: TwilioCallBackend | undefined;
  /** Call records and durable queues, once started (with the real calls only). */
  stateStore: StateStore | undefined;
  /** Persists the records of this instance's calls (with the real calls only, once started). */
  journal: CallJournal | undefined;
  /** Ends calls left behind by dead processes (with the real calls only, once started). */
  orphans: OrphanCallCleaner | undefined;
  private readonly options: ConnectorServerOptions;
  private readonly graphClient: WhatsAppGraphClient | undefined;
  private readonly gatewaySettings: GatewaySettings | undefined;
  private closing: Promise<void> | undefined;
  private isReady = false;
  private readonly supervisedPublicPort: number | undefined;
  private isDraining = false;

  constructor(options: ConnectorServerOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.supervisedPublicPort = options.supervisedPublicPort;
    this.options = options;
    this.metrics = new ConnectorMetrics();
    this.metrics.setReady(false);
    this.http = new HttpServer({
      name: 'public',
      logger: this.logger,
      maxConnections: this.config.maxConnections,
      metrics: this.metrics,
      keepAlive: options.supervisedPublicPort === undefined,
    });
    this.internalHttp = new HttpServer({
      name: 'internal',
      logger: this.logger,
      maxConnections: this.config.internal.maxConnections,
      metrics: this.metrics,
    });
    this.admission = new AdmissionControl({
      settings: this.config.admission,
      logger: this.logger,
      metrics: this.metrics,
    });
    this.metrics.watchListener(this.http);
    this.metrics.watchListener(this.internalHttp);
    this.internalHttp.route('/healthz', (_req, res) => {
      res.writeHead(200, { 'Content-Type': 'text/plain' }).end('OK');
    });
    this.internalHttp.route('/readyz', (_req, res) => {
      if (this.isReady) res.writeHead(200, { 'Content-Type': 'text/plain' }).end('ready');
      else res.writeHead(503, { 'Content-Type': 'text/plain' }).end('not ready');
    });
    this.internalHttp.route('/metrics', async (_req, res) => {
      const body = await this.metrics.scrape();
      res.writeHead(200, { 'Content-Type': this.metrics.contentType }).end(body);
    });
    for (const setting of this.config.deprecatedSettings) {
      this.logger.warn(
        { setting },
        'deprecated setting ignored: room legs are TypeScript participants in this process now',
      );
    }
    let backend = options.backend;
    if (!backend) {
      const graph = new WhatsAppGraphClient({
        ...options.graph,
        baseUrl: this.config.whatsapp.graphUrl,
        logger: this.logger,
        onFailure: (operation, code) => this.metrics.countGraphError(operation, code),
      });
      this.graphClient = graph;
      const calls = new CallManager({
        config: this.config,
        logger: this.logger,
        graph,
        media: mediaSettings(this.config),
        ...(options.metaEndRetry ? { metaEndRetry: options.metaEndRetry } : {}),
        admission: this.admission,
      });
      this.calls = calls;
      const registry = calls.registry;
      const settings = options.gateway ?? loadGatewaySettings(this.config);
      this.gatewaySettings = settings;
      let peers: ClusterCallPeers | undefined;
      const credentials = {
        apiKey: this.config.livekit.apiKey,
        apiSecret: this.config.livekit.apiSecret,
      };
      if (this.config.redisUrl) {
        // Scale-out: calls held by other instances are reached through their internal endpoint.
        this.cluster = new ClusterNode({
          // Peers reach this instance on the internal listener, which serves the cluster endpoint.
          config: { ...this.config, bindAddress: this.config.internal.bindAddress },
          registry,
          logger: this.logger,
          metrics: this.metrics.registry,
          accepting: () => this.admission.open,
        });
        peers = new ClusterCallPeers({ node: this.cluster, credentials });
      }
      const placements = new CallPlacements();
      registry.on('removed', (callId) => placements.forget(callId));
      const regions = regionPolicy(this.config, () => registry.activeCount);
      const router = new CallRouter({
        local: calls,
        peers,
        logger: this.logger,
        regions,
        placements,
      });
      this.router = router;
      if (peers) {
        this.internalHttp.route(
          CLUSTER_ENDPOINT_PREFIX,
          createClusterEndpoint({
            credentials,
            router,
            logger: this.logger.child({ component: 'cluster-endpoint' }),
          }),
        );
      }
      backend = new PermissionCheckingCalls({
        inner: router,
        graph,
        shouldCheck: (id) =>
          settings.numbers.find((n) => n.phoneNumberId === id)?.checkCallPermission ??
          settings.checkCallPermission,
      });
      this.gateway = new WebhookGateway({
        settings,
        config: this.config,
        calls: router,
        graph,
        logger: this.logger,
      });
      this.detachTelemetry = attachCallTelemetry({
        metrics: this.metrics,
        registry,
        logger: this.logger,
        gateway: this.gateway,
      });
      this.http.route(settings.webhookPath, this.gateway.handle, {
        maxBodyBytes: MAX_WEBHOOK_BODY_BYTES,
      });
      const twilioPlacements = new CallPlacements();
      this.internalHttp.route(
        CALLS_ENDPOINT_PATH,
        createCallsEndpoint({
          registry,
          apiKeys: this.config.apiKeys,
          self: { instanceId: this.config.cluster.instanceId, region: this.config.regions.region },
          placements,
          twilio: { list: () => this.twilio?.list() ?? [], placements: twilioPlacements },
          peers: this.cluster ? () => this.cluster!.instances.list() : undefined,
          peerCredentials: credentials,
        }),
      );
      // Transfers go through the router, so a call held by a peer is transferred there. The
      // public listener serves it with the Connector API (same credentials, same exposure).
      const transfers = createCallTransferEndpoint({
        calls: router,
        // Twilio calls by call SID (created below; looked up per request).
        twilio: {
          transfer: (id, target) => this.twilio?.transfer(id, target) ?? Promise.resolve(undefined),
        },
        apiKeys: this.config.apiKeys,
        logger: this.logger,
      });
      this.internalHttp.route(CALL_ACTIONS_PATH_PREFIX, transfers, {
        maxBodyBytes: MAX_TRANSFER_BODY_BYTES,
      });
      if (this.config.connectorApiEnabled) {
        this.http.route(CALL_ACTIONS_PATH_PREFIX, transfers, {
          maxBodyBytes: MAX_TRANSFER_BODY_BYTES,
        });
      }
      // Always listening, so a request while it is off is answered (refused) rather than lost.
      this.roomTransfers = new RoomTransferRequests({
        registry,
        calls: router,
        enabled: this.config.calls.transferDataMessages,
        logger: this.logger,
      });
      this.twilio = new TwilioConnector({
        livekit: this.config.livekit,
        publicUrl: this.config.publicUrl,
        connectUrlTtlMs: this.config.twilio.connectUrlTtlSeconds * 1000,
        streamTimeoutMs: this.config.twilio.streamTimeoutSeconds * 1000,
        maxCalls: this.config.calls.maxConcurrentCalls,
        announce: this.cluster
          ? (sessionId, expiresAtMs) => this.cluster!.publishTwilioStream(sessionId, expiresAtMs)
          : undefined,
        logger: this.logger,
      });
      if (this.cluster) {
        // A stream reaching this instance for a URL another one issued is relayed there.
        this.twilio.endpoint.relayUnknownTo(
          twilioStreamRelay({
            node: this.cluster,
            logger: this.logger,
            onRelay: (outcome) => this.cluster?.recordForward('twilio-stream', outcome),
          }),
        );
      }
      const admittedTwilio = admittedTwilioCalls(this.twilio, this.admission);
      // In a cluster, ConnectTwilioCall is placed by region: the chosen instance issues the URL.
      this.twilioBackend = this.cluster
        ? attachRegionalTwilio({
            internalHttp: this.internalHttp,
            local: admittedTwilio,
            node: this.cluster,
            credentials,
            regions,
            placements: twilioPlacements,
            logger: this.logger,
          })
        : admittedTwilio;
      // Twilio reaches the public listener. The internal one serves the endpoint too, so a URL
      // built (without PUBLIC_URL) on the host an API client used there works as well.
      for (const listener of [this.http, this.internalHttp]) {
        listener.route(MEDIA_STREAM_PATH, this.twilio.endpoint.handleHttp);
        listener.upgradeRoute(MEDIA_STREAM_PATH, this.twilio.endpoint.handleUpgrade);
      }
      this.console = attachOperatorConsole({
        config: this.config,
        logger: this.logger,
        internalHttp: this.internalHttp,
        registry,
        gateway: this.gateway,
        settings,
        graph,
        cluster: this.cluster,
        signInHint: options.consoleSignInHint,
      });
    }
    if (backend) {
      const twirp: RouteHandler = createConnectorTwirpHandler({
        apiKeys: this.config.apiKeys,
        calls: backend,
        twilio: options.twilio ?? this.twilioBackend,
        logger: this.logger,
        maxBodyBytes: MAX_API_BODY_BYTES,
        defaults: {
          ringingTimeoutSeconds: this.config.calls.ringingTimeoutSeconds,
          hidePhoneNumber: this.config.calls.hidePhoneNumber,
        },
      });
      this.internalHttp.route('/twirp/', twirp);
      if (this.config.connectorApiEnabled) this.http.route('/twirp/', twirp);
    }
  }

  /**
   * Start both listeners; resolves with the public port. The instance reports ready (`/readyz`)
   * once everything has started.
   */
  async start(): Promise<number> {
    // Before listening: a STATE_DIR held by another process must stop this one at once.
    await this.openState();
    let port: number;
    if (this.supervisedPublicPort === undefined) {
      port = await this.http.listen(this.config.port, this.config.bindAddress);
    } else {
      port = this.supervisedPublicPort;
      receiveConnections((socket) => this.http.accept(socket));
    }
    const internalPort = await this.internalHttp.listen(
      this.config.internal.port,
      this.config.internal.bindAddress,
    );
    this.logger.info(
      {
        port,
        bindAddress: this.config.bindAddress,
        internalPort,
        internalBindAddress: this.config.internal.bindAddress,
      },
      'connector listening',
    );
    await this.cluster?.start(internalPort);
    if (
      this.cluster &&
      !this.config.cluster.instanceUrl &&
      isLoopbackHost(this.config.internal.bindAddress)
    ) {
      this.logger.warn(
        { internalBindAddress: this.config.internal.bindAddress },
        'cluster peers on other hosts cannot reach this instance: set INTERNAL_BIND_ADDRESS to a private address (or INSTANCE_URL)',
      );
    }
    this.admission.start();
    this.orphans?.start();
    this.setReady(true);
    return port;
  }

  /** Open the state store and wire what uses it (with the real calls only). */
  private async openState(): Promise<void> {
    const calls = this.calls;
    if (!calls || this.stateStore) return;
    const store =
      this.options.stateStore ??
      (await openStateStore(this.config, { logger: this.logger, exclusive: true }));
    this.stateStore = store;
    this.logger.info({ store: store.location, kind: store.kind }, 'state store open');
    const owner = this.config.cluster.instanceId;
    const sealer = new TokenSealer(this.config.livekit.apiSecret);
    const numbers = this.gatewaySettings?.numbers ?? [];
    const configuredToken = (phoneNumberId: string) =>
      numbers.find((n) => n.phoneNumberId === phoneNumberId)?.accessToken;
    this.journal = new CallJournal({
      registry: calls.registry,
      store: store.calls,
      sealer,
      owner,
      configuredToken,
      logger: this.logger,
    });
    const cluster = this.cluster;
    this.orphans = new OrphanCallCleaner({
      store: store.calls,
      mode: cluster ? 'cluster' : 'local',
      self: owner,
      ...(cluster ? { liveInstances: () => cluster.liveInstanceIds() } : {}),
      holds: (callId) => calls.holds(callId),
      graph: this.graphClient!,
      sealer,
      configuredToken,
      rooms: roomServiceRemover(this.config.livekit),
      onCleaned: (_record, outcome) => this.metrics.countOrphanCleaned(outcome),
      ...(this.options.orphanScanIntervalMs
        ? { intervalMs: this.options.orphanScanIntervalMs }
        : {}),
      logger: this.logger,
    });
    const gateway = this.gateway;
    if (gateway) {
      gateway.attachQueues(store, owner);
      this.metrics.watchQueue(WEBHOOK_QUEUE, store.queue(WEBHOOK_QUEUE));
      if (gateway.settings.forwardUrl) {
        this.metrics.watchQueue(FORWARD_QUEUE, store.queue(FORWARD_QUEUE));
      }
      gateway.on('forward', (outcome) => {
        if (outcome === 'acked') this.metrics.countForwardDelivered();
        else if (outcome === 'retried') this.metrics.countForwardRetried();
        else this.metrics.countForwardDeadLettered();
      });
    }
  }

  /** Whether {@link drain} was called. */
  get draining(): boolean {
    return this.isDraining;
  }

  /**
   * Start draining (shutdown): `/readyz` answers 503 from now on, new calls are refused (Dial,
   * Accept, ConnectTwilioCall: `unavailable`; with Redis, placed on a peer that is not draining),
   * webhooks other than those for calls held here answer 503, and the calls held here go on.
   * Idempotent; see `GracefulShutdown` for the rest of the sequence.
   */
  async drain(): Promise<void> {
    if (this.isDraining) return;
    this.isDraining = true;
    this.setReady(false);
    this.calls?.startDraining();
    this.twilio?.startDraining();
    const calls = this.calls;
    if (calls) this.gateway?.startDraining((callId) => calls.holds(callId));
    this.logger.info({ calls: this.liveCalls() }, 'draining: new calls refused, live calls go on');
    await this.cluster?.setDraining();
  }

  /** Calls of this instance not yet ending (WhatsApp and Twilio): what a drain waits for. */
  liveCalls(): number {
    return (this.calls?.registry.activeCount ?? 0) + (this.twilio?.activeCount ?? 0);
  }

  /** The public listener's port (the supervisor's with `supervisedPublicPort`). */
  get port(): number {
    return this.supervisedPublicPort ?? this.http.port;
  }

  /** The internal listener's port. */
  get internalPort(): number {
    return this.internalHttp.port;
  }

  /** Whether `/readyz` answers 200. */
  get ready(): boolean {
    return this.isReady;
  }

  /**
   * Readiness as load balancers and orchestrators see it: `/readyz` answers 503 once this is
   * false (the drain calls it first on SIGTERM), while `/healthz` stays 200 as long as the process
   * is alive.
   */
  setReady(ready: boolean): void {
    if (ready === this.isReady) return;
    this.isReady = ready;
    this.metrics.setReady(ready);
    this.logger.info({ ready }, ready ? 'ready' : 'not ready: /readyz answers 503');
  }

  /**
   * End everything: calls still live are ended at Meta (`shutdown`); their records are removed
   * once Meta confirmed, else kept for the next start. Idempotent.
   */
  async close(): Promise<void> {
    this.closing ??= (async () => {
      this.setReady(false);
      await this.orphans?.stop();
      await this.console?.close();
      await this.gateway?.close();
      await this.twilio?.close();
      await this.calls?.close();
      this.journal?.close();
      await this.journal?.flush();
      await this.cluster?.close();
      this.detachTelemetry?.();
      this.admission.close();
      await Promise.all([this.http.close(), this.internalHttp.close()]);
      // The store given in the options belongs to whoever gave it.
      if (!this.options.stateStore) await this.stateStore?.close();
    })();
    return this.closing;
  }
}

/** Regional placement from the configuration (`REGION`, `REGION_MAP`, `DEFAULT_REGION`). */
function regionPolicy(config: Config, activeCalls: () => number): RegionPolicy {
  return {
    region: config.regions.region,
    regionOf: (country) => regionOfCountry(config.regions, country),
    load: () => activeCalls() / config.calls.maxConcurrentCalls,
  };
}

/** Settings of the media legs from the configuration (ICE, forwarded Opus). */
export function mediaSettings(config: Config): MediaLegSettings {
  const settings: MediaLegSettings = {};
  if (config.media.iceAddresses.length > 0) {
    settings.iceAllowedAddresses = config.media.iceAddresses;
    // werift skips loopback while gathering unless told about it.
    const loopback = config.media.iceAddresses.filter((a) => a.startsWith('127.') || a === '::1');
    if (loopback.length > 0) settings.iceAdditionalHostAddresses = loopback;
  }
  if (config.media.icePortRange) settings.icePortRange = config.media.icePortRange;
  if (config.media.allowedCandidateNetworks) {
    settings.allowedCandidateNetworks = config.media.allowedCandidateNetworks;
  }
  settings.forwardedOpus = config.media.forwardedOpus;
  settings.opusComplexity = config.media.opusComplexity;
  return settings;
}
