import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CallMovedError,
  CallNotFoundError,
  CallOwnerGoneError,
  CapacityError,
  DirectoryUnavailableError,
  PeerUnreachableError,
} from '../../../src/calls/call-errors.js';
import type {
  AcceptParams,
  AcceptResult,
  DialParams,
  DialResult,
  OperationContext,
} from '../../../src/calls/call-params.js';
import {
  CallRouter,
  type CallLocation,
  type CallOperationName,
  type CallOperationTypes,
  type CallPeers,
  type LocalCalls,
  type PeerRef,
} from '../../../src/calls/call-router.js';
import { InMemoryDialRecords } from '../../../src/calls/dial-records.js';
import { silentLogger } from '../../../src/log/index.js';
import { acceptParams, deferred, dialParams, flush, metaTimeout } from './call-fakes.js';

function context(origin: OperationContext['origin'] = 'api'): OperationContext {
  return {
    logger: silentLogger,
    signal: new AbortController().signal,
    origin,
    requestId: 'req-1',
    requester: 'test',
  };
}

/** This instance's calls: what they hold, whether they have room, and how a dial goes. */
class FakeLocal implements LocalCalls {
  readonly held = new Set<string>();
  capacity = true;
  dials = 0;
  accepts = 0;
  dialBehaviour: () => Promise<DialResult> = async () => ({
    callId: `wacid.local-${this.dials}`,
    roomName: 'room',
  });
  readonly seen: Array<[string, unknown]> = [];

  holds(callId: string): boolean {
    return this.held.has(callId);
  }
  hasCapacity(): boolean {
    return this.capacity;
  }
  async dial(): Promise<DialResult> {
    this.dials++;
    return this.dialBehaviour();
  }
  async accept(params: AcceptParams): Promise<AcceptResult> {
    this.accepts++;
    this.held.add(params.callId);
    return { roomName: 'local-room' };
  }
  async connect(params: { callId: string }): Promise<void> {
    this.seen.push(['connect', params.callId]);
    if (!this.held.has(params.callId)) throw new CallNotFoundError(params.callId);
  }
  async disconnect(params: { callId: string }): Promise<void> {
    this.seen.push(['disconnect', params.callId]);
    if (!this.held.has(params.callId)) throw new CallNotFoundError(params.callId);
  }
  async userHangup(params: { callId: string }): Promise<boolean> {
    this.seen.push(['user-hangup', params.callId]);
    return this.held.has(params.callId);
  }
  async callStatus(params: { callId: string }): Promise<boolean> {
    return this.held.has(params.callId);
  }
  async transfer(params: { callId: string; roomName: string }) {
    this.seen.push(['transfer', params.callId]);
    if (!this.held.has(params.callId)) throw new CallNotFoundError(params.callId);
    return { callId: params.callId, roomName: params.roomName, participantIdentity: 'p' };
  }
}

/** The rest of the cluster: a directory and peers whose answers the test scripts. */
class FakePeers implements CallPeers {
  readonly dialRecords = new InMemoryDialRecords();
  readonly locations = new Map<string, CallLocation>();
  readonly published: string[] = [];
  readonly sent: Array<{ peer: string; op: CallOperationName }> = [];
  readonly answers = new Map<string, (op: CallOperationName) => Promise<unknown>>();
  candidates: PeerRef[] = [];
  directoryDown = false;

  async locate(callId: string): Promise<CallLocation> {
    if (this.directoryDown) throw new DirectoryUnavailableError('redis down');
    return this.locations.get(callId) ?? { kind: 'nowhere' };
  }
  async claim(callId: string): Promise<CallLocation> {
    if (this.directoryDown) throw new DirectoryUnavailableError('redis down');
    const where = this.locations.get(callId);
    if (where?.kind === 'peer') return where;
    this.locations.set(callId, { kind: 'here' });
    return { kind: 'here' };
  }
  async release(callId: string): Promise<void> {
    this.locations.delete(callId);
  }
  async publish(callId: string): Promise<void> {
    this.published.push(callId);
  }
  async withCapacity(): Promise<PeerRef[]> {
    return this.candidates;
  }
  async send<Op extends CallOperationName>(
    peer: PeerRef,
    op: Op,
  ): Promise<CallOperationTypes[Op]['result']> {
    this.sent.push({ peer: peer.id, op });
    const answer = this.answers.get(peer.id);
    if (!answer) throw new Error(`unexpected request to ${peer.id}`);
    return (await answer(op)) as CallOperationTypes[Op]['result'];
  }
}

const peerA: PeerRef = { id: 'a', url: 'http://a' };
const peerB: PeerRef = { id: 'b', url: 'http://b' };

function bed() {
  const local = new FakeLocal();
  const peers = new FakePeers();
  const router = new CallRouter({ local, peers, logger: silentLogger, webhookOwnerGraceMs: 300 });
  return { local, peers, router };
}

describe('placing a dial', () => {
  test('dials here when there is room, and publishes the call before answering', async () => {
    const { local, peers, router } = bed();
    const result = await router.dial(dialParams(), context());
    assert.equal(result.callId, 'wacid.local-1');
    assert.deepEqual(peers.published, ['wacid.local-1']);
    assert.equal(local.dials, 1);
  });

  test('a full instance sends the dial to the least loaded peer that has room', async () => {
    const { local, peers, router } = bed();
    local.capacity = false;
    peers.candidates = [peerA, peerB];
    peers.answers.set('a', async () => {
      throw new CapacityError(10);
    });
    peers.answers.set('b', async () => ({ callId: 'wacid.on-b', roomName: 'room' }));
    assert.equal((await router.dial(dialParams(), context())).callId, 'wacid.on-b');
    assert.equal(local.dials, 0);
    assert.deepEqual(
      peers.sent.map((s) => s.peer),
      ['a', 'b'],
    );
  });

  test('a peer that never got the request is skipped; one that may have got it is the answer', async () => {
    const { local, peers, router } = bed();
    local.capacity = false;
    peers.candidates = [peerA, peerB];
    peers.answers.set('a', async () => {
      throw new PeerUnreachableError('a', 'http://a', false);
    });
    peers.answers.set('b', async () => {
      // The request reached b and the answer was lost: b may be calling the user right now.
      throw new PeerUnreachableError('b', 'http://b', true);
    });
    await assert.rejects(router.dial(dialParams(), context()), PeerUnreachableError);
    assert.deepEqual(
      peers.sent.map((s) => s.peer),
      ['a', 'b'],
    );
  });

  test('a dial that may have reached Meta is never placed again on another instance', async () => {
    const { local, peers, router } = bed();
    local.dialBehaviour = async () => {
      throw metaTimeout();
    };
    peers.candidates = [peerA];
    await assert.rejects(router.dial(dialParams(), context()), (err: Error) => {
      return err.name === 'GraphTransportError';
    });
    assert.deepEqual(peers.sent, []);
  });

  test('a dial refused here for capacity after all (a race) goes to a peer', async () => {
    const { local, peers, router } = bed();
    local.dialBehaviour = async () => {
      throw new CapacityError(1);
    };
    peers.candidates = [peerA];
    peers.answers.set('a', async () => ({ callId: 'wacid.on-a', roomName: 'room' }));
    assert.equal((await router.dial(dialParams(), context())).callId, 'wacid.on-a');
  });

  test('a forwarded dial runs here and is never forwarded again', async () => {
    const { local, peers, router } = bed();
    local.capacity = false;
    local.dialBehaviour = async () => {
      throw new CapacityError(1);
    };
    peers.candidates = [peerA];
    await assert.rejects(router.serve('dial', dialParams(), context('peer')), CapacityError);
    assert.deepEqual(peers.sent, []);
  });
});

describe('idempotent dials', () => {
  const keyed = () => dialParams({ idempotencyKey: 'APIkey:req-7' });

  test('a Dial retried with the same key answers the first result without dialling again', async () => {
    const { local, router } = bed();
    const first = await router.dial(keyed(), context());
    const retried = await router.dial(keyed(), context());
    assert.deepEqual(retried, first);
    assert.equal(local.dials, 1);
  });

  test('a Dial retried while the first is still running waits for its result', async () => {
    const { local, router } = bed();
    const gate = deferred<void>();
    local.dialBehaviour = async () => {
      await gate.promise;
      return { callId: 'wacid.slow', roomName: 'room' };
    };
    const first = router.dial(keyed(), context());
    await flush();
    const retried = router.dial(keyed(), context());
    await flush();
    gate.resolve();
    assert.deepEqual(await retried, await first);
    assert.equal(local.dials, 1);
  });

  test('a first Dial that may have reached Meta answers its retry with the same error', async () => {
    const { local, router } = bed();
    local.dialBehaviour = async () => {
      throw metaTimeout();
    };
    const first = await router.dial(keyed(), context()).catch((e: Error) => e);
    const retried = await router.dial(keyed(), context()).catch((e: Error) => e);
    assert.equal(retried, first);
    assert.equal(local.dials, 1);
  });

  test('a first Dial refused before any effect lets its retry dial', async () => {
    const { local, peers, router } = bed();
    peers.candidates = [];
    local.capacity = false;
    await assert.rejects(router.dial(keyed(), context()), CapacityError);
    local.capacity = true;
    assert.equal((await router.dial(keyed(), context())).callId, 'wacid.local-1');
  });

  test('dials without a key are never deduplicated', async () => {
    const { local, router } = bed();
    await router.dial(dialParams(), context());
    await router.dial(dialParams(), context());
    assert.equal(local.dials, 2);
  });
});

describe('calls that exist', () => {
  test('an operation on a call held by a peer goes to that peer', async () => {
    const { local, peers, router } = bed();
    peers.locations.set('wacid.x', { kind: 'peer', peer: peerA });
    peers.answers.set('a', async () => undefined);
    await router.disconnect({ callId: 'wacid.x', initiator: 'business' }, context());
    assert.deepEqual(peers.sent, [{ peer: 'a', op: 'disconnect' }]);
    assert.deepEqual(local.seen, []);
  });

  test('a transfer runs on the instance holding the call (the media stays there)', async () => {
    const { local, peers, router } = bed();
    peers.locations.set('wacid.x', { kind: 'peer', peer: peerA });
    peers.answers.set('a', async () => ({
      callId: 'wacid.x',
      roomName: 'human',
      participantIdentity: 'p',
    }));
    const result = await router.transfer({ callId: 'wacid.x', roomName: 'human' }, context());
    assert.equal(result.roomName, 'human');
    assert.deepEqual(peers.sent, [{ peer: 'a', op: 'transfer' }]);
    assert.deepEqual(local.seen, []);
    local.held.add('wacid.mine');
    await router.transfer({ callId: 'wacid.mine', roomName: 'human' }, context());
    assert.deepEqual(local.seen, [['transfer', 'wacid.mine']]);
    await assert.rejects(
      router.transfer({ callId: 'wacid.none', roomName: 'human' }, context()),
      CallNotFoundError,
    );
  });

  test('calls held here are served without asking the directory, even while it is down', async () => {
    const { local, peers, router } = bed();
    local.held.add('wacid.mine');
    peers.directoryDown = true;
    await router.connect(
      { callId: 'wacid.mine', answerSdp: 'v=0', waitUntilAnswered: false },
      context(),
    );
    assert.deepEqual(local.seen, [['connect', 'wacid.mine']]);
  });

  test('a call nobody holds is not found; one whose instance died says which', async () => {
    const { peers, router } = bed();
    await assert.rejects(
      router.disconnect({ callId: 'wacid.none', initiator: 'business' }, context()),
      CallNotFoundError,
    );
    peers.locations.set('wacid.ghost', { kind: 'gone', instanceId: 'node-crashed' });
    await assert.rejects(
      router.disconnect({ callId: 'wacid.ghost', initiator: 'business' }, context()),
      (err: Error) => err instanceof CallOwnerGoneError && /node-crashed/.test(err.message),
    );
  });

  test('a webhook event for a call not yet published waits for its holder', async () => {
    const { peers, router } = bed();
    peers.answers.set('a', async () => true);
    setTimeout(() => peers.locations.set('wacid.late', { kind: 'peer', peer: peerA }), 150);
    const handled = await router.userHangup({ callId: 'wacid.late' }, context('webhook'));
    assert.equal(handled, true);
    assert.deepEqual(peers.sent, [{ peer: 'a', op: 'user-hangup' }]);
  });

  test('a webhook event for a call nobody holds is not handled', async () => {
    const { router } = bed();
    assert.equal(
      await router.callStatus({ callId: 'wacid.nobody', status: 'RINGING' }, context('webhook')),
      false,
    );
  });
});

describe('accepting', () => {
  test('an accept for a call a peer claimed joins it there', async () => {
    const { local, peers, router } = bed();
    peers.locations.set('wacid.in', { kind: 'peer', peer: peerB });
    peers.answers.set('b', async () => ({ roomName: 'room-on-b' }));
    assert.deepEqual(await router.accept(acceptParams({ callId: 'wacid.in' }), context()), {
      roomName: 'room-on-b',
    });
    assert.equal(local.accepts, 0);
  });

  test('a forwarded accept that finds the call elsewhere does not travel further', async () => {
    const { peers, router } = bed();
    peers.locations.set('wacid.in', { kind: 'peer', peer: peerB });
    await assert.rejects(
      router.serve('accept', acceptParams({ callId: 'wacid.in' }), context('peer')),
      CallMovedError,
    );
    assert.deepEqual(peers.sent, []);
  });

  test('without the directory the call is accepted here rather than not at all', async () => {
    const { local, peers, router } = bed();
    peers.directoryDown = true;
    await router.accept(acceptParams({ callId: 'wacid.in' }), context());
    assert.equal(local.accepts, 1);
  });

  test('a call claimed here is accepted here', async () => {
    const { local, peers, router } = bed();
    await router.accept(acceptParams({ callId: 'wacid.in' }), context());
    assert.equal(local.accepts, 1);
    assert.deepEqual(peers.locations.get('wacid.in'), { kind: 'here' });
  });
});

test('without a cluster every call is local', async () => {
  const local = new FakeLocal();
  const router = new CallRouter({ local, logger: silentLogger });
  await router.dial(dialParams() as DialParams, context());
  await assert.rejects(
    router.disconnect({ callId: 'wacid.x', initiator: 'user' }, context()),
    CallNotFoundError,
  );
  assert.equal(local.dials, 1);
});
