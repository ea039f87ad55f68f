import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ConnectorMethod, RequestContext } from '../connector/connector-backend.js';
import { writeTwirpError } from '../connector/twirp-server.js';
import { ConnectorError, toConnectorError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { BodyTooLargeError, readBody, type RouteHandler } from '../server/http-server.js';
import {
  CLUSTER_ENDPOINT_PREFIX,
  CLUSTER_OPERATIONS,
  type ClusterOperation,
  type ClusterRequestBody,
} from './cluster-protocol.js';
import { bodyDigest, verifyClusterToken, type ClusterCredentials } from './internal-auth.js';

/** Largest internal request, bytes (a forwarded Connector request; SDPs are ~2 KiB). */
const MAX_BODY_BYTES = 1024 * 1024;

/** Serves one authenticated internal operation; resolves with the answer's `result`. */
export type ClusterOperationHandler = (
  op: ClusterOperation,
  body: ClusterRequestBody,
  ctx: RequestContext,
) => Promise<unknown>;

export interface ClusterEndpointOptions {
  credentials: ClusterCredentials;
  handler: ClusterOperationHandler;
  logger: Logger;
}

const METHOD_OF: Record<ClusterOperation, ConnectorMethod> = {
  dial: 'DialWhatsAppCall',
  connect: 'ConnectWhatsAppCall',
  accept: 'AcceptWhatsAppCall',
  disconnect: 'DisconnectWhatsAppCall',
  'user-hangup': 'DisconnectWhatsAppCall',
  'call-status': 'ConnectWhatsAppCall',
};

/**
 * `POST /internal/cluster/v1/<operation>`: requests other instances forward to the owner of a
 * call. The token (HS256 with the LiveKit secret, see `internal-auth.ts`) is checked before the
 * body is read, and the body must match the digest the token names. Errors are Twirp errors.
 */
export function createClusterEndpoint(options: ClusterEndpointOptions): RouteHandler {
  const { credentials, handler, logger } = options;
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('peer closed the connection'));
    });
    try {
      if (req.method !== 'POST') {
        throw new ConnectorError('bad_route', 'internal cluster endpoint: only POST is allowed');
      }
      const auth = req.headers.authorization;
      const token = await verifyClusterToken(credentials, Array.isArray(auth) ? auth[0] : auth);
      const op = url.pathname.slice(`${CLUSTER_ENDPOINT_PREFIX}v1/`.length) as ClusterOperation;
      if (
        !url.pathname.startsWith(`${CLUSTER_ENDPOINT_PREFIX}v1/`) ||
        !CLUSTER_OPERATIONS.includes(op)
      ) {
        throw new ConnectorError('bad_route', `internal cluster endpoint: no operation ${op}`);
      }
      let raw: Buffer;
      try {
        raw = await readBody(req, MAX_BODY_BYTES);
      } catch (err) {
        if (err instanceof BodyTooLargeError) res.setHeader('Connection', 'close');
        throw new ConnectorError('malformed', 'internal cluster endpoint: body not readable');
      }
      if (bodyDigest(raw) !== token.bodySha256) {
        throw new ConnectorError('unauthenticated', 'internal cluster endpoint: invalid token');
      }
      let body: ClusterRequestBody;
      try {
        body = JSON.parse(raw.toString('utf8')) as ClusterRequestBody;
        if (!body || typeof body !== 'object' || typeof body.context !== 'object') {
          throw new Error('no context');
        }
      } catch {
        throw new ConnectorError('malformed', 'internal cluster endpoint: body is not valid');
      }
      const method = METHOD_OF[op];
      const requestId = String(body.context.requestId ?? '');
      const ctx: RequestContext = {
        method,
        apiKeyId: String(body.context.apiKeyId ?? ''),
        requestId,
        clientRequestId: body.context.clientRequestId === true,
        signal: controller.signal,
        clientTimeoutMs:
          typeof body.context.clientTimeoutMs === 'number'
            ? body.context.clientTimeoutMs
            : undefined,
        logger: logger.child({ method, requestId, fromInstance: token.fromInstance }),
      };
      const result = await handler(op, body, ctx);
      const answer = Buffer.from(JSON.stringify({ result }), 'utf8');
      if (res.headersSent) return;
      res.writeHead(200, {
        'Content-Type': 'application/json',
        'Content-Length': String(answer.length),
      });
      res.end(answer);
    } catch (thrown) {
      const err = toConnectorError(thrown);
      if (err.code === 'unauthenticated') {
        logger.warn(
          { remote: req.socket.remoteAddress, path: url.pathname },
          'internal cluster request refused: not authenticated',
        );
      } else if (err.code === 'internal') {
        logger.error({ err: thrown }, 'internal cluster request failed');
      }
      writeTwirpError(res, err);
    }
  };
}
