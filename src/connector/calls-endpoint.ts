import type { IncomingMessage, ServerResponse } from 'node:http';
import { SignJWT } from 'jose';
import {
  twilioPlacementKey,
  type CallPlacement,
  type CallPlacements,
} from '../calls/call-placement.js';
import type { CallRegistry } from '../calls/call-registry.js';
import type { CallSummary } from '../calls/whatsapp-call.js';
import type { TwilioCallSummary } from '../twilio/twilio-call.js';
import { authenticateConnectorRequest } from './connector-auth.js';
import { toConnectorError } from '../errors/index.js';
import type { RouteHandler } from '../server/http-server.js';

/** Path of the call listing endpoint. */
export const CALLS_ENDPOINT_PATH = '/api/calls';

/** Default time one peer gets to answer its part of a cluster listing, ms. */
export const DEFAULT_PEER_LISTING_TIMEOUT_MS = 3000;

/** One call of a listing, with where it runs. */
export interface ListedCall extends CallSummary {
  /** The instance holding the call (`INSTANCE_ID`). */
  instanceId: string;
  /** That instance's region (`REGION`), when it has one. */
  region?: string | undefined;
  /** How a dialled call was placed in the cluster; absent for accepted calls. */
  placement?: CallPlacement | undefined;
}

/** One Twilio Media Streams call of a listing, with where it runs. */
export interface ListedTwilioCall extends TwilioCallSummary {
  instanceId: string;
  region?: string | undefined;
  /** How it was placed in the cluster (ConnectTwilioCall with a destination country). */
  placement?: CallPlacement | undefined;
}

/** One instance of a listing: how many calls it listed, or why it could not be asked. */
export interface ListedInstance {
  id: string;
  region?: string | undefined;
  /** Calls it listed. */
  calls: number;
  /** Set when the instance could not be asked; its calls are missing from the listing. */
  error?: string | undefined;
}

/** The JSON a `GET /api/calls` answers. */
export interface CallsListing {
  calls: ListedCall[];
  /** Twilio Media Streams calls (`ConnectTwilioCall`). */
  twilioCalls: ListedTwilioCall[];
  /** The instances asked (this one first). */
  instances: ListedInstance[];
}

/** Another live instance of the cluster, as the listing asks it. */
export interface ListingPeer {
  id: string;
  /** Base URL of its internal listener. */
  url: string;
  region?: string | undefined;
}

export interface CallsEndpointOptions {
  registry: CallRegistry;
  /** API key → secret pairs accepted (the Connector API's). */
  apiKeys: Readonly<Record<string, string>>;
  /** This instance. */
  self: { instanceId: string; region?: string | undefined };
  /** Optional - placements of the dials placed here. */
  placements?: CallPlacements | undefined;
  /**
   * Optional - this instance's Twilio calls and their placements (by room and identity, see
   * `twilioPlacementKey`).
   */
  twilio?: { list(): TwilioCallSummary[]; placements?: CallPlacements | undefined } | undefined;
  /**
   * Optional - the cluster's other live instances; their calls are added to the listing. Default
   * none (a single instance). Rejects when the cluster cannot be asked.
   */
  peers?: (() => Promise<ListingPeer[]>) | undefined;
  /**
   * Optional - the LiveKit key pair every instance shares: peers are asked with a short token of
   * their own (never the caller's). Required with `peers`.
   */
  peerCredentials?: { apiKey: string; apiSecret: string } | undefined;
  /** Optional - time one peer gets to answer, ms. Default {@link DEFAULT_PEER_LISTING_TIMEOUT_MS}. */
  peerTimeoutMs?: number;
}

/** Lifetime of the token a listing asks peers with, s. */
const PEER_TOKEN_TTL_SECONDS = 30;

/** A short token with `roomCreate`, as `/api/calls` requires, signed with the shared LiveKit key. */
function peerToken(credentials: { apiKey: string; apiSecret: string }): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ video: { roomCreate: true } })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(credentials.apiKey)
    .setSubject('whatsapp-connector:calls-listing')
    .setNotBefore(now)
    .setExpirationTime(now + PEER_TOKEN_TTL_SECONDS)
    .sign(new TextEncoder().encode(credentials.apiSecret));
}

/**
 * `GET /api/calls[?all=true][&scope=local]`: the calls of the whole cluster (or, with
 * `scope=local`, of this instance only), as JSON, for the CLI and dashboards. Each call names the
 * instance and region holding it and, for dials, how it was placed. Peers are asked for their own
 * calls in parallel, with a token of the shared LiveKit key; one that does not answer is listed with its error
 * and its calls are missing, never the whole listing. Authenticated like the Connector API (a
 * LiveKit access token with `roomCreate`, signed with one of the configured API keys). Calls
 * still `ending` (waiting for Meta to confirm their end) are listed; `all` adds ended calls still
 * retained.
 */
export function createCallsEndpoint(options: CallsEndpointOptions): RouteHandler {
  const { registry, apiKeys, self, placements, peers, twilio, peerCredentials } = options;
  const timeoutMs = options.peerTimeoutMs ?? DEFAULT_PEER_LISTING_TIMEOUT_MS;
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    if (req.method !== 'GET') {
      res.writeHead(405, { Allow: 'GET', 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ code: 'bad_route', msg: 'use GET' }));
      return;
    }
    const auth = req.headers.authorization;
    try {
      await authenticateConnectorRequest(Array.isArray(auth) ? auth[0] : auth, apiKeys);
    } catch (err) {
      const e = toConnectorError(err);
      res.writeHead(e.httpStatus, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ code: e.code, msg: e.message }));
      return;
    }
    const all = /^(1|true|yes)$/i.test(url.searchParams.get('all') ?? '');
    const localOnly = url.searchParams.get('scope') === 'local';
    const calls: ListedCall[] = registry
      .list()
      .filter((c) => all || c.state !== 'ended')
      .map((c) => ({
        ...c,
        instanceId: self.instanceId,
        ...(self.region ? { region: self.region } : {}),
        ...withPlacement(placements?.get(c.callId)),
      }));
    const twilioCalls: ListedTwilioCall[] = (twilio?.list() ?? [])
      .filter((c) => all || c.state !== 'ended')
      .map((c) => ({
        ...c,
        instanceId: self.instanceId,
        ...(self.region ? { region: self.region } : {}),
        ...withPlacement(
          twilio?.placements?.get(twilioPlacementKey(c.roomName, c.participantIdentity)),
        ),
      }));
    const instances: ListedInstance[] = [
      { id: self.instanceId, region: self.region, calls: calls.length + twilioCalls.length },
    ];
    if (!localOnly && peers && peerCredentials) {
      const authorization = `Bearer ${await peerToken(peerCredentials)}`;
      let others: ListingPeer[] = [];
      try {
        others = (await peers()).filter((p) => p.id !== self.instanceId);
      } catch (err) {
        instances.push({
          id: '*',
          calls: 0,
          error: `the cluster's instances cannot be listed: ${(err as Error).message}`,
        });
      }
      const answers = await Promise.all(
        others.map((peer) => peerCalls(peer, all, authorization, timeoutMs)),
      );
      others.forEach((peer, i) => {
        const answer = answers[i]!;
        if ('error' in answer) {
          instances.push({ id: peer.id, region: peer.region, calls: 0, error: answer.error });
          return;
        }
        instances.push({
          id: peer.id,
          region: peer.region,
          calls: answer.calls.length + answer.twilioCalls.length,
        });
        calls.push(...answer.calls);
        twilioCalls.push(...answer.twilioCalls);
      });
      calls.sort((a, b) => a.createdAt - b.createdAt);
      twilioCalls.sort((a, b) => a.createdAt - b.createdAt);
    }
    const body: CallsListing = { calls, twilioCalls, instances };
    res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
    res.end(JSON.stringify(body));
  };
}

function withPlacement(placement: CallPlacement | undefined): { placement?: CallPlacement } {
  return placement ? { placement } : {};
}

/** One peer's own calls (`scope=local`), or why they could not be had. */
async function peerCalls(
  peer: ListingPeer,
  all: boolean,
  authorization: string,
  timeoutMs: number,
): Promise<{ calls: ListedCall[]; twilioCalls: ListedTwilioCall[] } | { error: string }> {
  const target = `${peer.url.replace(/\/+$/, '')}${CALLS_ENDPOINT_PATH}?scope=local${all ? '&all=true' : ''}`;
  try {
    const res = await fetch(target, {
      headers: { Authorization: authorization },
      signal: AbortSignal.timeout(timeoutMs),
    });
    if (!res.ok) return { error: `answered HTTP ${res.status}` };
    const body = (await res.json()) as Partial<CallsListing>;
    if (!Array.isArray(body.calls)) return { error: 'answered without a call list' };
    return {
      calls: body.calls,
      twilioCalls: Array.isArray(body.twilioCalls) ? body.twilioCalls : [],
    };
  } catch (err) {
    const e = err as Error;
    return {
      error: e.name === 'TimeoutError' ? `no answer within ${timeoutMs} ms` : 'not reachable',
    };
  }
}
