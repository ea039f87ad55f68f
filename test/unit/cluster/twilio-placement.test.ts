import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type AddressInfo } from 'node:net';
import {
  ConnectTwilioCallRequest,
  ConnectTwilioCallResponse,
  ConnectTwilioCallRequest_TwilioCallDirection as Direction,
} from '@livekit/protocol';
import { CallPlacements, twilioPlacementKey } from '../../../src/calls/call-placement.js';
import type { RegionPolicy } from '../../../src/calls/call-router.js';
import type { InstanceInfo } from '../../../src/cluster/instance-registry.js';
import {
  RegionalTwilioBackend,
  TWILIO_CLUSTER_PATH,
  createTwilioClusterEndpoint,
} from '../../../src/cluster/twilio-placement.js';
import { connectorErrors } from '../../../src/connector/connector-errors.js';
import type { RequestContext } from '../../../src/connector/request-context.js';
import type { TwilioCallBackend } from '../../../src/connector/twilio-call-backend.js';
import { DEFAULT_REGION_MAP, regionOfCountry } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { HttpServer } from '../../../src/server/http-server.js';

const credentials = { apiKey: 'key', apiSecret: 'cluster-secret-cluster-secret-0123456' };

const ctx: RequestContext = {
  method: 'ConnectTwilioCall',
  apiKeyId: 'key',
  requestId: 'req-1',
  clientRequestId: false,
  signal: new AbortController().signal,
  clientTimeoutMs: undefined,
  logger: silentLogger,
};

/** A Twilio side that issues URLs naming itself, or refuses as busy. */
class FakeTwilio implements TwilioCallBackend {
  issued: ConnectTwilioCallRequest[] = [];
  busy = false;
  constructor(readonly name: string) {}
  async connectTwilioCall(req: ConnectTwilioCallRequest): Promise<ConnectTwilioCallResponse> {
    if (this.busy) throw connectorErrors.serverBusy();
    this.issued.push(req);
    return new ConnectTwilioCallResponse({ connectUrl: `wss://${this.name}/twilio/stream/v1.x` });
  }
}

function regions(region: string | undefined, load = 0.5): RegionPolicy {
  const settings = { map: DEFAULT_REGION_MAP, defaultRegion: undefined };
  return { region, regionOf: (c) => regionOfCountry(settings, c), load: () => load };
}

function peer(
  id: string,
  url: string,
  region: string,
  activeCalls = 0,
  twilio = true,
): InstanceInfo {
  return { id, url, region, activeCalls, maxCalls: 10, startedAt: 0, updatedAt: 0, twilio };
}

function request(destinationCountry = '', roomName = 'room-1'): ConnectTwilioCallRequest {
  return new ConnectTwilioCallRequest({
    twilioCallDirection: Direction.INBOUND,
    roomName,
    participantIdentity: 'caller',
    destinationCountry,
  });
}

// A real peer: its internal listener with the endpoint in front of its own Twilio side.
let peerServer: HttpServer;
let peerUrl: string;
const peerTwilio = new FakeTwilio('peer-sa');
const peerPlacements = new CallPlacements();

before(async () => {
  peerServer = new HttpServer({ name: 'internal' });
  peerServer.route(
    TWILIO_CLUSTER_PATH,
    createTwilioClusterEndpoint({
      credentials,
      twilio: peerTwilio,
      placements: peerPlacements,
      logger: silentLogger,
    }),
  );
  peerUrl = `http://127.0.0.1:${await peerServer.listen(0, '127.0.0.1')}`;
});

after(() => peerServer.close());

function backend(
  selfRegion: string | undefined,
  peers: InstanceInfo[],
  local = new FakeTwilio('self'),
  selfLoad = 0.5,
) {
  const placements = new CallPlacements();
  const twilio = new RegionalTwilioBackend({
    local,
    node: { instanceId: 'self', peersWithCapacity: async () => peers },
    credentials,
    regions: regions(selfRegion, selfLoad),
    placements,
    logger: silentLogger,
  });
  return { twilio, local, placements };
}

describe('ConnectTwilioCall placed by region', () => {
  test('a call for the region of a peer is issued by that peer, which keeps the placement', async () => {
    const { twilio, local } = backend('eu', [peer('sa-1', peerUrl, 'sa')]);
    const { connectUrl } = await twilio.connectTwilioCall(request('BR', 'room-br'), ctx);
    assert.equal(connectUrl, 'wss://peer-sa/twilio/stream/v1.x');
    assert.equal(local.issued.length, 0);
    assert.equal(peerTwilio.issued.at(-1)?.roomName, 'room-br');
    assert.deepEqual(peerPlacements.get(twilioPlacementKey('room-br', 'caller')), {
      reason: 'region',
      wantedRegion: 'sa',
    });
  });

  test('without a destination country, or for its own region, it is issued here', async () => {
    const { twilio, local, placements } = backend('eu', [peer('sa-1', peerUrl, 'sa')]);
    await twilio.connectTwilioCall(request('', 'room-none'), ctx);
    await twilio.connectTwilioCall(request('DE', 'room-de'), ctx);
    assert.deepEqual(
      local.issued.map((r) => r.roomName),
      ['room-none', 'room-de'],
    );
    assert.deepEqual(placements.get(twilioPlacementKey('room-none', 'caller')), { reason: 'here' });
    assert.deepEqual(placements.get(twilioPlacementKey('room-de', 'caller')), {
      reason: 'region',
      wantedRegion: 'eu',
    });
  });

  test('a peer of the region without a PUBLIC_URL is not asked: the least loaded instance takes it', async () => {
    const { twilio, local, placements } = backend('eu', [peer('sa-1', peerUrl, 'sa', 0, false)]);
    await twilio.connectTwilioCall(request('AR', 'room-ar'), ctx);
    assert.equal(local.issued.length, 1);
    assert.deepEqual(placements.get(twilioPlacementKey('room-ar', 'caller')), {
      reason: 'least_loaded',
      wantedRegion: 'sa',
    });
  });

  test('an unreachable peer of the region is skipped; with this instance busy too the answer is resource_exhausted', async () => {
    const busy = new FakeTwilio('self');
    busy.busy = true;
    // Nothing listens there any more: the connection is refused, so the request never left.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const { port } = closed.address() as AddressInfo;
    await new Promise((resolve) => closed.close(resolve));
    const { twilio } = backend('eu', [peer('sa-1', `http://127.0.0.1:${port}`, 'sa')], busy);
    await assert.rejects(
      twilio.connectTwilioCall(request('BR', 'room-nobody'), ctx),
      (err: Error & { code?: string }) => err.code === 'resource_exhausted',
    );
  });

  test('the peer endpoint refuses requests without a valid cluster token', async () => {
    const res = await fetch(`${peerUrl}${TWILIO_CLUSTER_PATH}`, {
      method: 'POST',
      headers: { Authorization: 'Bearer nope', 'Content-Type': 'application/json' },
      body: '{}',
    });
    assert.equal(res.status, 401);
    assert.equal(((await res.json()) as { code: string }).code, 'unauthenticated');
  });
});
