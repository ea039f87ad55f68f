import type { IncomingMessage, ServerResponse } from 'node:http';
import type { OperationContext } from '../calls/call-params.js';
import type { CallRouter } from '../calls/call-router.js';
import type { Logger } from '../log/index.js';
import { BodyTooLargeError, readBody, type RouteHandler } from '../server/http-server.js';
import { encodeError } from './cluster-error-codec.js';
import {
  CLUSTER_ENDPOINT_PREFIX,
  CLUSTER_PARAMS,
  clusterRequestBody,
  isClusterOperation,
  type ClusterResponseBody,
} from './cluster-protocol.js';
import { bodyDigest, verifyClusterToken, type ClusterCredentials } from './internal-auth.js';

/** Largest internal request, bytes (a forwarded Connector request; SDPs are ~2 KiB). */
const MAX_BODY_BYTES = 1024 * 1024;

export interface ClusterEndpointOptions {
  credentials: ClusterCredentials;
  /** Serves the operations peers forward (`CallRouter.serve`). */
  router: Pick<CallRouter, 'serve'>;
  logger: Logger;
}

/** The endpoint's own refusals, before any operation runs. */
class EndpointRefusal extends Error {
  constructor(
    readonly status: number,
    readonly code: 'bad_route' | 'unauthenticated' | 'malformed',
    message: string,
  ) {
    super(message);
  }
}

/**
 * `POST /internal/cluster/v1/<operation>`: call operations other instances forward to the one
 * holding (or placing) the call. The token (HS256 with the LiveKit secret, see
 * `internal-auth.ts`) is checked before the body is read, and the body must match the digest the
 * token names. The endpoint's own refusals answer `{code, msg}`; an operation that fails answers
 * its typed error (`{error}`), which the forwarding instance rebuilds.
 */
export function createClusterEndpoint(options: ClusterEndpointOptions): RouteHandler {
  const { credentials, router, logger } = options;
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('peer closed the connection'));
    });
    const reply = (status: number, body: unknown) => {
      const payload = Buffer.from(JSON.stringify(body), 'utf8');
      if (res.headersSent) {
        res.end();
        return;
      }
      res.writeHead(status, {
        'Content-Type': 'application/json',
        'Content-Length': String(payload.length),
      });
      res.end(payload);
    };
    let operationStarted = false;
    try {
      if (req.method !== 'POST') {
        throw new EndpointRefusal(
          404,
          'bad_route',
          'internal cluster endpoint: only POST is allowed',
        );
      }
      const auth = req.headers.authorization;
      let token;
      try {
        token = await verifyClusterToken(credentials, Array.isArray(auth) ? auth[0] : auth);
      } catch (err) {
        throw new EndpointRefusal(401, 'unauthenticated', (err as Error).message);
      }
      const prefix = `${CLUSTER_ENDPOINT_PREFIX}v1/`;
      const op = url.pathname.slice(prefix.length);
      if (!url.pathname.startsWith(prefix) || !isClusterOperation(op)) {
        throw new EndpointRefusal(
          404,
          'bad_route',
          `internal cluster endpoint: no operation ${op}`,
        );
      }
      let raw: Buffer;
      try {
        raw = await readBody(req, MAX_BODY_BYTES);
      } catch (err) {
        if (err instanceof BodyTooLargeError) res.setHeader('Connection', 'close');
        throw new EndpointRefusal(400, 'malformed', 'internal cluster endpoint: body not readable');
      }
      if (bodyDigest(raw) !== token.bodySha256) {
        throw new EndpointRefusal(
          401,
          'unauthenticated',
          'internal cluster endpoint: invalid token',
        );
      }
      let body;
      let params;
      try {
        body = clusterRequestBody.parse(JSON.parse(raw.toString('utf8')));
        params = CLUSTER_PARAMS[op].parse(body.params);
      } catch {
        throw new EndpointRefusal(400, 'malformed', 'internal cluster endpoint: body is not valid');
      }
      const ctx: OperationContext = {
        logger: logger.child({
          op,
          requestId: body.context.requestId,
          fromInstance: token.fromInstance,
        }),
        signal: controller.signal,
        origin: 'peer',
        requestId: body.context.requestId,
        requester: body.context.requester,
        deadline: body.context.deadline,
      };
      operationStarted = true;
      const result = await router.serve(op, params as never, ctx);
      const answer: ClusterResponseBody = { result: result ?? null };
      reply(200, answer);
    } catch (thrown) {
      if (thrown instanceof EndpointRefusal) {
        if (thrown.code === 'unauthenticated') {
          logger.warn(
            { remote: req.socket.remoteAddress, path: url.pathname },
            'internal cluster request refused: not authenticated',
          );
        }
        reply(thrown.status, { code: thrown.code, msg: thrown.message });
        return;
      }
      const error = encodeError(thrown);
      // Typed errors are the operation's answer; anything else is a fault worth a log line here,
      // since the peer only learns that the operation failed.
      if (!operationStarted || error.type === 'Error') {
        logger.error({ err: thrown }, 'internal cluster request failed');
      }
      const answer: ClusterResponseBody = { error };
      reply(500, answer);
    }
  };
}
