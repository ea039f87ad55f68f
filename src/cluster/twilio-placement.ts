/**
 * Regional placement of `ConnectTwilioCall` in a cluster. A Twilio call lives on the instance
 * that issued its connect URL (Twilio connects to that URL), so placing it means asking the chosen
 * instance to issue the URL, on its own `PUBLIC_URL`: `POST /internal/cluster/v1/twilio-connect`
 * on its internal listener, signed like the other internal requests. Only instances that advertise
 * a `PUBLIC_URL` in their heartbeat (`twilio: true`) are asked.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { ConnectTwilioCallRequest, ConnectTwilioCallResponse } from '@livekit/protocol';
import {
  twilioPlacementKey,
  type CallPlacement,
  type CallPlacements,
} from '../calls/call-placement.js';
import { PeerUnreachableError } from '../calls/call-errors.js';
import type { RegionPolicy } from '../calls/call-router.js';
import { connectorErrors, toTwirpError } from '../connector/connector-errors.js';
import type { RequestContext } from '../connector/request-context.js';
import type { TwilioCallBackend } from '../connector/twilio-call-backend.js';
import { ConnectorError, isTwirpCode } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { BodyTooLargeError, readBody, type RouteHandler } from '../server/http-server.js';
import type { InstanceInfo } from './instance-registry.js';
import {
  bodyDigest,
  signClusterToken,
  verifyClusterToken,
  type ClusterCredentials,
} from './internal-auth.js';

/** Path of the internal Twilio placement endpoint (longer than the cluster prefix: it wins). */
export const TWILIO_CLUSTER_PATH = '/internal/cluster/v1/twilio-connect';
/** Largest forwarded ConnectTwilioCall, bytes. */
const MAX_BODY_BYTES = 256 * 1024;

/** Body of a forwarded ConnectTwilioCall. */
interface ForwardedTwilioConnect {
  context: { requestId: string; requester: string };
  /** The validated request, protobuf JSON. */
  request: unknown;
  placement: CallPlacement;
}

export interface RegionalTwilioBackendOptions {
  /** This instance's Twilio calls. */
  local: TwilioCallBackend;
  /** The cluster: this instance's id and the live peers with room. */
  node: { instanceId: string; peersWithCapacity(): Promise<InstanceInfo[]> };
  credentials: ClusterCredentials;
  regions: RegionPolicy;
  /** Where the placements of the Twilio calls issued here are kept. */
  placements: CallPlacements;
  logger: Logger;
}

/**
 * `ConnectTwilioCall` placed by region: a request whose `destination_country` maps to a region runs
 * on a live instance of that region that serves Twilio (this one when it is of that region), else
 * on the least loaded such instance, this one included. Without a region it runs here.
 */
export class RegionalTwilioBackend implements TwilioCallBackend {
  private readonly options: RegionalTwilioBackendOptions;

  constructor(options: RegionalTwilioBackendOptions) {
    this.options = options;
  }

  async connectTwilioCall(
    req: ConnectTwilioCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectTwilioCallResponse> {
    const { regions, logger } = this.options;
    const wanted = regions.regionOf(req.destinationCountry || undefined);
    if (wanted === undefined) return this.here(req, ctx, { reason: 'here' });
    const inRegion: CallPlacement = { reason: 'region', wantedRegion: wanted };
    if (regions.region === wanted) {
      try {
        return await this.here(req, ctx, inRegion);
      } catch (err) {
        if (!refusedBeforeAnyEffect(err)) throw err;
      }
    }
    let peers: InstanceInfo[] = [];
    try {
      peers = (await this.options.node.peersWithCapacity()).filter((p) => p.twilio === true);
    } catch (err) {
      logger.warn({ err }, 'no peer lookup possible; placing the Twilio call here');
    }
    for (const peer of peers.filter((p) => p.region === wanted)) {
      try {
        return await this.forward(peer, req, ctx, inRegion);
      } catch (err) {
        if (!refusedBeforeAnyEffect(err)) throw err;
      }
    }
    const anywhere: CallPlacement = { reason: 'least_loaded', wantedRegion: wanted };
    const order: (InstanceInfo | 'self')[] = peers.filter((p) => p.region !== wanted);
    if (regions.region !== wanted) {
      const selfLoad = regions.load();
      const at = order.findIndex((p) => p !== 'self' && load(p) >= selfLoad);
      order.splice(at === -1 ? order.length : at, 0, 'self');
    }
    for (const target of order) {
      try {
        if (target === 'self') return await this.here(req, ctx, anywhere);
        return await this.forward(target, req, ctx, anywhere);
      } catch (err) {
        if (!refusedBeforeAnyEffect(err)) throw err;
      }
    }
    throw connectorErrors.serverBusy();
  }

  private async here(
    req: ConnectTwilioCallRequest,
    ctx: RequestContext,
    placement: CallPlacement,
  ): Promise<ConnectTwilioCallResponse> {
    const res = await this.options.local.connectTwilioCall(req, ctx);
    this.options.placements.record(
      twilioPlacementKey(req.roomName, req.participantIdentity),
      placement,
    );
    return res;
  }

  private async forward(
    peer: InstanceInfo,
    req: ConnectTwilioCallRequest,
    ctx: RequestContext,
    placement: CallPlacement,
  ): Promise<ConnectTwilioCallResponse> {
    const body: ForwardedTwilioConnect = {
      context: { requestId: ctx.requestId, requester: ctx.apiKeyId },
      request: req.toJson(),
      placement,
    };
    const payload = Buffer.from(JSON.stringify(body), 'utf8');
    const token = await signClusterToken(
      this.options.credentials,
      this.options.node.instanceId,
      payload,
    );
    ctx.logger.info({ peer: peer.id, region: peer.region }, 'placing the Twilio call on a peer');
    let res: Response;
    try {
      res = await fetch(`${peer.url.replace(/\/+$/, '')}${TWILIO_CLUSTER_PATH}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${token}` },
        body: payload,
        signal: ctx.signal,
      });
    } catch (err) {
      const refused = (err as { cause?: { code?: unknown } }).cause?.code === 'ECONNREFUSED';
      throw new PeerUnreachableError(peer.id, peer.url, !refused, { cause: err });
    }
    let answer: { connectUrl?: unknown; code?: unknown; msg?: unknown };
    try {
      answer = (await res.json()) as typeof answer;
    } catch (err) {
      throw new PeerUnreachableError(peer.id, peer.url, true, { cause: err });
    }
    if (res.ok && typeof answer.connectUrl === 'string') {
      return new ConnectTwilioCallResponse({ connectUrl: answer.connectUrl });
    }
    if (isTwirpCode(answer.code)) throw new ConnectorError(answer.code, String(answer.msg ?? ''));
    throw new PeerUnreachableError(peer.id, peer.url, false, {
      cause: new Error(`internal endpoint answered ${res.status}`),
    });
  }
}

function load(info: InstanceInfo): number {
  return info.maxCalls > 0 ? info.activeCalls / info.maxCalls : 1;
}

/**
 * A refusal after which the Twilio call may be placed elsewhere: the instance was busy or shutting
 * down, or never got the request.
 */
function refusedBeforeAnyEffect(err: unknown): boolean {
  if (err instanceof PeerUnreachableError) return err.retryable;
  return (
    err instanceof ConnectorError &&
    (err.code === 'resource_exhausted' || err.code === 'unavailable')
  );
}

/**
 * Serve the internal Twilio placement endpoint on `internalHttp` and answer the ConnectTwilioCall
 * backend that places calls by region (the one the Connector API should use).
 */
export function attachRegionalTwilio(
  options: RegionalTwilioBackendOptions & {
    internalHttp: { route(path: string, handler: RouteHandler): unknown };
  },
): TwilioCallBackend {
  const logger = options.logger.child({ component: 'twilio-placement' });
  options.internalHttp.route(
    TWILIO_CLUSTER_PATH,
    createTwilioClusterEndpoint({
      credentials: options.credentials,
      twilio: options.local,
      placements: options.placements,
      logger,
    }),
  );
  return new RegionalTwilioBackend({ ...options, logger });
}

export interface TwilioClusterEndpointOptions {
  credentials: ClusterCredentials;
  /** This instance's Twilio calls. */
  twilio: TwilioCallBackend;
  placements: CallPlacements;
  logger: Logger;
}

/** The peer's side: issue a connect URL here for a request another instance placed here. */
export function createTwilioClusterEndpoint(options: TwilioClusterEndpointOptions): RouteHandler {
  const { credentials, twilio, placements, logger } = options;
  return async (req: IncomingMessage, res: ServerResponse) => {
    const reply = (status: number, body: unknown) => {
      if (res.headersSent) {
        res.end();
        return;
      }
      res.writeHead(status, { 'Content-Type': 'application/json' }).end(JSON.stringify(body));
    };
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('peer closed the connection'));
    });
    if (req.method !== 'POST') {
      reply(404, { code: 'bad_route', msg: 'internal twilio endpoint: only POST is allowed' });
      return;
    }
    let from: { fromInstance: string; bodySha256: string };
    try {
      const auth = req.headers.authorization;
      from = await verifyClusterToken(credentials, Array.isArray(auth) ? auth[0] : auth);
    } catch (err) {
      reply(401, { code: 'unauthenticated', msg: (err as Error).message });
      return;
    }
    let body: ForwardedTwilioConnect;
    let request: ConnectTwilioCallRequest;
    try {
      const raw = await readBody(req, MAX_BODY_BYTES);
      if (bodyDigest(raw) !== from.bodySha256) {
        reply(401, { code: 'unauthenticated', msg: 'internal twilio endpoint: invalid token' });
        return;
      }
      body = JSON.parse(raw.toString('utf8')) as ForwardedTwilioConnect;
      request = ConnectTwilioCallRequest.fromJson(body.request as never, {
        ignoreUnknownFields: true,
      });
    } catch (err) {
      if (err instanceof BodyTooLargeError) res.setHeader('Connection', 'close');
      reply(400, { code: 'malformed', msg: 'internal twilio endpoint: body is not valid' });
      return;
    }
    const ctx: RequestContext = {
      method: 'ConnectTwilioCall',
      apiKeyId: String(body.context?.requester ?? ''),
      requestId: String(body.context?.requestId ?? ''),
      clientRequestId: false,
      signal: controller.signal,
      clientTimeoutMs: undefined,
      logger: logger.child({ fromInstance: from.fromInstance, requestId: body.context?.requestId }),
      clientOrigin: undefined,
    };
    try {
      const answer = await twilio.connectTwilioCall(request, ctx);
      if (body.placement && typeof body.placement.reason === 'string') {
        placements.record(
          twilioPlacementKey(request.roomName, request.participantIdentity),
          body.placement,
        );
      }
      reply(200, { connectUrl: answer.connectUrl });
    } catch (err) {
      const e = toTwirpError(err);
      reply(e.httpStatus, { code: e.code, msg: e.message });
    }
  };
}
