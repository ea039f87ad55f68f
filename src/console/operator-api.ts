/**
 * Read-only JSON endpoints on the internal listener for what the console shows beyond calls, so
 * the CLI can show it too (`whatsapp-connector webhooks`, `permissions list`). Authenticated like
 * `/api/calls` and the Connector API: a LiveKit access token with `roomCreate`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { authenticateConnectorRequest } from '../connector/connector-auth.js';
import { toConnectorError } from '../errors/index.js';
import type { WebhookReceipt } from '../gateway/webhook-receipts.js';
import type { RouteHandler } from '../server/http-server.js';
import type { ConsolePermission } from './console-sources.js';

/** `GET /api/webhooks[?limit=n]`. */
export const WEBHOOKS_ENDPOINT_PATH = '/api/webhooks';
/** `GET /api/permissions`. */
export const PERMISSIONS_ENDPOINT_PATH = '/api/permissions';

/** The JSON `GET /api/webhooks` answers. */
export interface WebhooksListing {
  /** Newest first. */
  receipts: WebhookReceipt[];
  /** Forwarding counts since start; null when forwarding is off. */
  forwarding: { target: string; delivered: number; failed: number; inFlight: number } | null;
}

/** The JSON `GET /api/permissions` answers. */
export interface PermissionsListing {
  /** Newest reply per (business number, user), newest first. */
  permissions: ConsolePermission[];
}

/** Most receipts one request returns (the gateway keeps 500). */
const MAX_LIMIT = 500;

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

/** An authenticated GET endpoint answering `produce(url)` as JSON. */
function endpoint(
  apiKeys: Readonly<Record<string, string>>,
  produce: (url: URL) => unknown,
): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (req.method !== 'GET') {
      res.setHeader('Allow', 'GET');
      json(res, 405, { code: 'bad_route', msg: 'use GET' });
      return;
    }
    try {
      const auth = req.headers.authorization;
      await authenticateConnectorRequest(Array.isArray(auth) ? auth[0] : auth, apiKeys);
    } catch (err) {
      const e = toConnectorError(err);
      json(res, e.httpStatus, { code: e.code, msg: e.message });
      return;
    }
    json(res, 200, produce(url));
  };
}

export function createWebhooksEndpoint(
  apiKeys: Readonly<Record<string, string>>,
  source: {
    recent(limit: number): WebhookReceipt[];
    forwarding(): WebhooksListing['forwarding'];
  },
): RouteHandler {
  return endpoint(apiKeys, (url): WebhooksListing => {
    const asked = Number(url.searchParams.get('limit') ?? 50);
    const limit = Number.isInteger(asked) && asked > 0 ? Math.min(asked, MAX_LIMIT) : 50;
    return { receipts: source.recent(limit), forwarding: source.forwarding() };
  });
}

export function createPermissionsEndpoint(
  apiKeys: Readonly<Record<string, string>>,
  source: { list(): ConsolePermission[] },
): RouteHandler {
  return endpoint(apiKeys, (): PermissionsListing => ({
    permissions: source.list().sort((a, b) => b.repliedAt - a.repliedAt),
  }));
}
