import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { CapacityError, OverloadedError } from '../../../src/calls/call-errors.js';
import type {
  AcceptParams,
  AcceptResult,
  DialParams,
  DialResult,
  OperationContext,
  TransferResult,
} from '../../../src/calls/call-params.js';
import { CallPlacements } from '../../../src/calls/call-placement.js';
import {
  CallRouter,
  type CallLocation,
  type CallOperationName,
  type CallOperationTypes,
  type CallPeers,
  type LocalCalls,
  type PeerRef,
  type RegionPolicy,
} from '../../../src/calls/call-router.js';
import { InMemoryDialRecords } from '../../../src/calls/dial-records.js';
import { DEFAULT_REGION_MAP, regionOfCountry } from '../../../src/config/index.js';
import { silentLogger } from '../../../src/log/index.js';
import { acceptParams, dialParams } from './call-fakes.js';

function context(origin: OperationContext['origin'] = 'api'): OperationContext {
  return {
    logger: silentLogger,
    signal: new AbortController().signal,
    origin,
    requestId: 'req-1',
    requester: 'test',
  };
}

/** This instance: room or not, and the dials it placed with their parameters. */
class FakeLocal implements LocalCalls {
  capacity = true;
  refusal: Error | undefined;
  readonly dials: DialParams[] = [];
  readonly accepts: AcceptParams[] = [];
  holds(): boolean {
    return false;
  }
  hasCapacity(): boolean {
    return this.capacity;
  }
  async dial(params: DialParams): Promise<DialResult> {
    if (this.refusal) throw this.refusal;
    this.dials.push(params);
    return { callId: `wacid.here-${this.dials.length}`, roomName: 'room' };
  }
  async accept(params: AcceptParams): Promise<AcceptResult> {
    if (this.refusal) throw this.refusal;
    this.accepts.push(params);
    return { roomName: 'room-here' };
  }
  async connect(): Promise<void> {}
  async disconnect(): Promise<void> {}
  async userHangup(): Promise<boolean> {
    return false;
  }
  async callStatus(): Promise<boolean> {
    return false;
  }
  async transfer(): Promise<TransferResult> {
    return { callId: 'wacid.here', roomName: 'room', participantIdentity: 'p' };
  }
}

/** Peers with regions and loads; each either places the dial or refuses it before any effect. */
class FakePeers implements CallPeers {
  readonly dialRecords = new InMemoryDialRecords();
  readonly sent: Array<{ peer: string; op: string; params: DialParams | AcceptParams }> = [];
  readonly refusing = new Set<string>();
  constructor(public candidates: PeerRef[]) {}
  async locate(): Promise<CallLocation> {
    return { kind: 'nowhere' };
  }
  async claim(): Promise<CallLocation> {
    return { kind: 'here' };
  }
  async release(): Promise<void> {}
  async publish(): Promise<void> {}
  async withCapacity(): Promise<PeerRef[]> {
    return [...this.candidates].sort((a, b) => (a.load ?? 0) - (b.load ?? 0));
  }
  async send<Op extends CallOperationName>(
    peer: PeerRef,
    _op: Op,
    params: CallOperationTypes[Op]['params'],
  ): Promise<CallOperationTypes[Op]['result']> {
    this.sent.push({ peer: peer.id, op: _op, params: params as DialParams });
    if (this.refusing.has(peer.id)) throw new OverloadedError('cpu', 0.99, 0.9);
    return {
      callId: `wacid.on-${peer.id}`,
      roomName: `room-on-${peer.id}`,
    } as CallOperationTypes[Op]['result'];
  }
}

function regions(region: string | undefined, load = 0.5): RegionPolicy {
  const settings = { map: DEFAULT_REGION_MAP, defaultRegion: undefined };
  return { region, regionOf: (country) => regionOfCountry(settings, country), load: () => load };
}

function bed(selfRegion: string | undefined, candidates: PeerRef[], selfLoad = 0.5) {
  const local = new FakeLocal();
  const peers = new FakePeers(candidates);
  const placements = new CallPlacements();
  const router = new CallRouter({
    local,
    peers,
    logger: silentLogger,
    regions: regions(selfRegion, selfLoad),
    placements,
  });
  return { local, peers, placements, router };
}

const euPeer: PeerRef = { id: 'eu-1', url: 'http://eu-1', region: 'eu', load: 0.6 };
const euPeer2: PeerRef = { id: 'eu-2', url: 'http://eu-2', region: 'eu', load: 0.1 };
const naPeer: PeerRef = { id: 'na-1', url: 'http://na-1', region: 'na', load: 0.2 };

const toCountry = (destinationCountry: string | undefined) => dialParams({ destinationCountry });

describe('regional placement of dials', () => {
  test("a dial for another region's country runs on that region's least loaded instance", async () => {
    const { local, peers, router } = bed('na', [euPeer, euPeer2, naPeer]);
    const result = await router.dial(toCountry('DE'), context());
    assert.equal(result.callId, 'wacid.on-eu-2');
    assert.equal(local.dials.length, 0);
    assert.deepEqual(peers.sent[0]?.params.placement, { reason: 'region', wantedRegion: 'eu' });
  });

  test("a dial for this instance's region runs here when there is room, and its placement is kept", async () => {
    const { local, peers, placements, router } = bed('eu', [euPeer2, naPeer]);
    const { callId } = await router.dial(toCountry('FR'), context());
    assert.equal(local.dials.length, 1);
    assert.equal(peers.sent.length, 0);
    assert.deepEqual(placements.get(callId), { reason: 'region', wantedRegion: 'eu' });
  });

  test('a full instance of the region hands the dial to a peer of the same region first', async () => {
    const { local, router } = bed('eu', [naPeer, euPeer]);
    local.capacity = false;
    assert.equal((await router.dial(toCountry('IT'), context())).callId, 'wacid.on-eu-1');
  });

  test('a region without a live instance with room: the least loaded instance, this one included', async () => {
    // Brazil maps to sa; nobody runs sa. na-1 (0.2) is less loaded than this instance (0.5).
    const lighter = bed('eu', [euPeer, naPeer], 0.5);
    assert.equal((await lighter.router.dial(toCountry('BR'), context())).callId, 'wacid.on-na-1');
    assert.deepEqual(lighter.peers.sent[0]?.params.placement, {
      reason: 'least_loaded',
      wantedRegion: 'sa',
    });
    // Here, at 0.1, this instance is the least loaded.
    const here = bed('eu', [euPeer, naPeer], 0.1);
    const { callId } = await here.router.dial(toCountry('BR'), context());
    assert.equal(here.local.dials.length, 1);
    assert.deepEqual(here.placements.get(callId), { reason: 'least_loaded', wantedRegion: 'sa' });
  });

  test('an overloaded instance of the region is skipped for the next one, then the rest', async () => {
    const { peers, router } = bed('na', [euPeer, euPeer2, naPeer], 0.9);
    peers.refusing.add('eu-2');
    peers.refusing.add('eu-1');
    const result = await router.dial(toCountry('ES'), context());
    assert.deepEqual(
      peers.sent.map((s) => s.peer),
      ['eu-2', 'eu-1', 'na-1'],
    );
    assert.equal(result.callId, 'wacid.on-na-1');
  });

  test('nobody with room anywhere: CapacityError', async () => {
    const { local, peers, router } = bed('eu', [naPeer]);
    local.capacity = false;
    peers.refusing.add('na-1');
    await assert.rejects(router.dial(toCountry('DE'), context()), CapacityError);
  });

  test('a dial without a destination country runs here when there is room (placement "here")', async () => {
    const { local, placements, router } = bed('na', [euPeer2]);
    const { callId } = await router.dial(toCountry(undefined), context());
    assert.equal(local.dials.length, 1);
    assert.deepEqual(placements.get(callId), { reason: 'here' });
  });

  test('a dial a peer forwarded runs here with the placement it came with', async () => {
    const { local, peers, placements, router } = bed('na', [euPeer2]);
    const forwarded = {
      ...toCountry('DE'),
      placement: { reason: 'region' as const, wantedRegion: 'eu' },
    };
    const { callId } = await router.dial(forwarded, context('peer'));
    assert.equal(peers.sent.length, 0, 'a forwarded dial is never forwarded again');
    assert.deepEqual(placements.get(callId), { reason: 'region', wantedRegion: 'eu' });
    assert.equal(local.dials.length, 1);
  });
});

describe('regional placement of accepts', () => {
  const inbound = (destinationCountry: string | undefined) =>
    acceptParams({ callId: 'wacid.inbound-1', destinationCountry });

  test("an accept for another region's country is answered by that region's least loaded instance", async () => {
    const { local, peers, router } = bed('na', [euPeer, euPeer2, naPeer]);
    const result = await router.accept(inbound('DE'), context());
    assert.equal(result.roomName, 'room-on-eu-2');
    assert.equal(local.accepts.length, 0);
    assert.equal(peers.sent[0]?.op, 'accept');
    assert.deepEqual(peers.sent[0]?.params.placement, { reason: 'region', wantedRegion: 'eu' });
  });

  test("an accept for this instance's region is answered here, and its placement is kept", async () => {
    const { local, peers, placements, router } = bed('eu', [euPeer2, naPeer]);
    await router.accept(inbound('FR'), context());
    assert.equal(local.accepts.length, 1);
    assert.equal(peers.sent.length, 0);
    assert.deepEqual(placements.get('wacid.inbound-1'), { reason: 'region', wantedRegion: 'eu' });
  });

  test('when every instance of the region refuses, the accept is answered here (no hop further)', async () => {
    const { local, peers, placements, router } = bed('na', [euPeer, naPeer]);
    peers.refusing.add('eu-1');
    await router.accept(inbound('DE'), context());
    assert.deepEqual(
      peers.sent.map((s) => s.peer),
      ['eu-1'],
    );
    assert.equal(local.accepts.length, 1);
    assert.deepEqual(placements.get('wacid.inbound-1'), { reason: 'here', wantedRegion: 'eu' });
  });

  test('an accept without a destination country is answered here, with no placement', async () => {
    const { local, peers, placements, router } = bed('na', [euPeer2]);
    await router.accept(inbound(undefined), context());
    assert.equal(local.accepts.length, 1);
    assert.equal(peers.sent.length, 0);
    assert.equal(placements.get('wacid.inbound-1'), undefined);
  });

  test('an accept a peer forwarded is answered here with the placement it came with', async () => {
    const { local, peers, placements, router } = bed('na', [euPeer2]);
    const forwarded = {
      ...inbound('DE'),
      placement: { reason: 'region' as const, wantedRegion: 'eu' },
    };
    await router.accept(forwarded, context('peer'));
    assert.equal(peers.sent.length, 0, 'a forwarded accept is never forwarded again');
    assert.equal(local.accepts.length, 1);
    assert.deepEqual(placements.get('wacid.inbound-1'), { reason: 'region', wantedRegion: 'eu' });
  });
});
