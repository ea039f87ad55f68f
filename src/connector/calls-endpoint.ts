import type { IncomingMessage, ServerResponse } from 'node:http';
import type { CallRegistry } from '../calls/call-registry.js';
import type { CallSummary } from '../calls/whatsapp-call.js';
import { authenticateConnectorRequest } from './connector-auth.js';
import { toConnectorError } from '../errors/index.js';
import type { RouteHandler } from '../server/http-server.js';

/** Path of the call listing endpoint. */
export const CALLS_ENDPOINT_PATH = '/api/calls';

/** The JSON a `GET /api/calls` answers. */
export interface CallsListing {
  calls: CallSummary[];
}

/**
 * `GET /api/calls[?all=true]`: the calls this instance holds, as JSON, for the CLI and
 * dashboards. Authenticated like the Connector API (a LiveKit access token with `roomCreate`,
 * signed with one of the configured API keys). Calls still `ending` (waiting for Meta to confirm
 * their end) are listed; `all` adds ended calls still retained.
 */
export function createCallsEndpoint(
  registry: CallRegistry,
  apiKeys: Readonly<Record<string, string>>,
): RouteHandler {
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ code: 'bad_route', msg: 'use GET' }));
      return;
    }
    try {
      const auth = req.headers.authorization;
      await authenticateConnectorRequest(Array.isArray(auth) ? auth[0] : auth, apiKeys);
    } catch (err) {
      const e = toConnectorError(err);
      res.writeHead(e.httpStatus, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ code: e.code, msg: e.message }));
      return;
    }
    const all = /^(1|true|yes)$/i.test(url.searchParams.get('all') ?? '');
    const calls = registry.list().filter((c) => all || c.state !== 'ended');
    const body: CallsListing = { calls };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
}
