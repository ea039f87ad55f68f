import type { Registry } from 'prom-client';
import type { Config } from '../config/index.js';
import type { ConnectorBackend } from '../connector/connector-backend.js';
import { createConnectorTwirpHandler } from '../connector/twirp-server.js';
import type { Logger } from '../log/index.js';
import { HttpServer } from './http-server.js';
import { createMetricsRegistry } from './metrics.js';

export interface ConnectorServerOptions {
  config: Config;
  logger: Logger;
  /** Does the work behind the Connector API (`/twirp/`); without it that API is not mounted. */
  backend?: ConnectorBackend;
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
    if (options.backend) {
      this.http.route(
        '/twirp/',
        createConnectorTwirpHandler({
          apiKeys: this.config.apiKeys,
          backend: options.backend,
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
    return port;
  }

  get port(): number {
    return this.http.port;
  }

  async close(): Promise<void> {
    this.closing ??= (async () => {
      await this.http.close();
    })();
    return this.closing;
  }
}
