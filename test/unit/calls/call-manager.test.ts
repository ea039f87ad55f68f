import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { CallManager, DISCONNECT_META_WAIT_MS } from '../../../src/calls/call-manager.js';
import {
  CallEndedError,
  CallNotFoundError,
  CapacityError,
  DrainingError,
} from '../../../src/calls/call-errors.js';
import type { OperationContext } from '../../../src/calls/call-params.js';
import { loadConfig } from '../../../src/config/index.js';
import { InvalidArgumentError } from '../../../src/errors/index.js';
import { silentLogger } from '../../../src/log/index.js';
import {
  FakeGraph,
  FakeMediaLeg,
  FakeRooms,
  acceptParams,
  deferred,
  dialParams,
  flush,
  metaRefusal,
} from './call-fakes.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
afterEach(() => mock.timers.reset());

const ctx: OperationContext = {
  logger: silentLogger,
  signal: new AbortController().signal,
  origin: 'api',
  requestId: 'req-1',
  requester: 'test',
};

function managerBed(maxConcurrentCalls = 1) {
  const graph = new FakeGraph();
  const rooms = new FakeRooms();
  const legs: FakeMediaLeg[] = [];
  const manager = new CallManager({
    config: loadConfig({
      env: {
        LIVEKIT_API_KEY: 'key',
        LIVEKIT_API_SECRET: 'secret-secret-secret-secret-secret',
        MAX_CONCURRENT_CALLS: String(maxConcurrentCalls),
      },
    }),
    logger: silentLogger,
    graph,
    roomLegs: rooms.join,
    mediaLegs: () => {
      const leg = new FakeMediaLeg();
      legs.push(leg);
      return leg;
    },
  });
  return { manager, graph, rooms, legs };
}

async function advance(ms: number): Promise<void> {
  await flush();
  mock.timers.tick(ms);
  await flush();
}

describe('admission', () => {
  test('a dial whose number is neither a phone number nor a user id takes no capacity and no media leg', async () => {
    const { manager, legs, graph } = managerBed(1);
    await assert.rejects(
      manager.dial(dialParams({ to: { phoneNumber: 'call me' } }), ctx),
      InvalidArgumentError,
    );
    await assert.rejects(
      manager.dial(dialParams({ participant: { ...dialParams().participant, roomName: '' } }), ctx),
      InvalidArgumentError,
    );
    assert.equal(legs.length, 0);
    assert.deepEqual(graph.actions(), []);
    // The one slot is still free.
    assert.equal((await manager.dial(dialParams(), ctx)).callId, 'wacid.fake-outbound');
  });

  test('a dial that fails at Meta gives its slot back', async () => {
    const { manager, graph } = managerBed(1);
    graph.script('connect', metaRefusal(138001));
    await assert.rejects(manager.dial(dialParams(), ctx));
    assert.ok(manager.hasCapacity());
    await manager.dial(dialParams(), ctx);
    assert.equal(manager.hasCapacity(), false);
  });

  test('at the limit a new call is refused with CapacityError before anything is made', async () => {
    const { manager, legs } = managerBed(1);
    await manager.dial(dialParams(), ctx);
    await assert.rejects(manager.dial(dialParams(), ctx), CapacityError);
    await assert.rejects(manager.accept(acceptParams(), ctx), CapacityError);
    assert.equal(legs.length, 1);
  });

  test('a dial under way counts against the limit before Meta named it', async () => {
    const { manager, graph } = managerBed(1);
    const connect = deferred<unknown>();
    graph.script('connect', connect);
    const first = manager.dial(dialParams(), ctx);
    await flush();
    await assert.rejects(manager.dial(dialParams(), ctx), CapacityError);
    connect.resolve(undefined);
    await first;
  });

  test('an accept repeated while the first is under way joins it', async () => {
    const { manager, graph, legs } = managerBed(2);
    const first = manager.accept(acceptParams(), ctx);
    const second = manager.accept(
      acceptParams({ participant: { ...acceptParams().participant, roomName: 'other' } }),
      ctx,
    );
    await flush();
    legs[0]!.connect();
    assert.deepEqual(await Promise.all([first, second]), [
      { roomName: 'room-1' },
      { roomName: 'room-1' },
    ]);
    assert.equal(legs.length, 1);
    assert.deepEqual(graph.actions(), ['pre_accept', 'accept']);
  });
});

describe('disconnect', () => {
  test('keeps the call ending until Meta confirms; a second disconnect is not found meanwhile', async () => {
    const { manager, graph } = managerBed();
    const { callId } = await manager.dial(dialParams(), ctx);
    const terminate = deferred<unknown>();
    graph.script('terminate', terminate);
    const disconnected = manager.disconnect({ callId, initiator: 'business' }, ctx);
    await advance(DISCONNECT_META_WAIT_MS);
    // The API answer does not wait forever for Meta.
    await disconnected;
    assert.deepEqual(
      manager.registry.list().map((c) => [c.callId, c.state, c.endReason]),
      [[callId, 'ending', 'business_hangup']],
    );
    await assert.rejects(
      manager.disconnect({ callId, initiator: 'business' }, ctx),
      CallNotFoundError,
    );
    await assert.rejects(
      manager.connect({ callId, answerSdp: 'v=0', waitUntilAnswered: false }, ctx),
      CallNotFoundError,
    );
    assert.equal(manager.hasCapacity(), true, 'an ending call holds no capacity');
    terminate.resolve(undefined);
    await flush();
    assert.equal(manager.registry.get(callId), undefined);
  });

  test('a disconnect while the dial is still joining the room ends the call at Meta; the dial answers the call it placed', async () => {
    const { manager, graph, rooms } = managerBed();
    const join = rooms.hold();
    const dialled = manager.dial(dialParams(), ctx);
    await flush();
    // Meta has named the call (a webhook-driven app may know it) while the room join is slow.
    const callId = 'wacid.fake-outbound';
    await manager.disconnect({ callId, initiator: 'business' }, ctx);
    assert.deepEqual(graph.actions(), ['connect', 'terminate']);
    join.resolve();
    assert.deepEqual(await dialled, { callId, roomName: 'room-1' });
    // The late room leg was told why and sent away.
    assert.equal(rooms.last?.attributes['whatsapp.endReason'], 'business_hangup');
    assert.equal(rooms.last?.closedWith, 'business_hangup');
    assert.equal(manager.registry.get(callId), undefined);
  });

  test("reporting the user's hang-up sends nothing to Meta", async () => {
    const { manager, graph } = managerBed();
    const { callId } = await manager.dial(dialParams(), ctx);
    await manager.disconnect({ callId, initiator: 'user' }, ctx);
    assert.deepEqual(graph.actions(), ['connect']);
    await flush();
    assert.equal(manager.registry.get(callId), undefined);
  });

  test('a terminate Meta refuses outright fails the disconnect with that refusal', async () => {
    const { manager, graph } = managerBed();
    const { callId } = await manager.dial(dialParams(), ctx);
    graph.script('terminate', metaRefusal(190, 401));
    await assert.rejects(
      manager.disconnect({ callId, initiator: 'business' }, ctx),
      (err: Error) => err.name === 'GraphApiError',
    );
    await assert.rejects(
      manager.disconnect({ callId, initiator: 'business' }, ctx),
      CallNotFoundError,
    );
  });
});

describe("Meta's webhooks", () => {
  test('a terminate for a call that is ending confirms its end; for an unknown call it is not handled', async () => {
    const { manager, graph } = managerBed();
    const { callId } = await manager.dial(dialParams(), ctx);
    graph.script('terminate', deferred<unknown>());
    const disconnected = manager.disconnect({ callId, initiator: 'business' }, ctx);
    await advance(DISCONNECT_META_WAIT_MS);
    await disconnected;
    assert.equal(manager.registry.get(callId)?.state, 'ending');
    assert.equal(await manager.userHangup({ callId, status: 'COMPLETED' }, ctx), true);
    await flush();
    assert.equal(manager.registry.get(callId), undefined);
    assert.equal(await manager.userHangup({ callId: 'wacid.unknown' }, ctx), false);
  });

  test("a terminate's errors say why the call ended", async () => {
    const { manager, legs } = managerBed();
    const accepted = manager.accept(acceptParams(), ctx);
    await flush();
    legs[0]!.connect();
    await accepted;
    await manager.userHangup(
      { callId: 'wacid.fake-inbound', status: 'FAILED', errorCodes: [138021] },
      ctx,
    );
    assert.equal(manager.registry.get('wacid.fake-inbound')?.endReason, 'media_timeout');
  });

  test('an accept for a call that has ended answers CallEndedError', async () => {
    const { manager } = managerBed();
    const accepted = manager.accept(acceptParams(), ctx);
    await flush();
    await manager.userHangup({ callId: 'wacid.fake-inbound', status: 'FAILED' }, ctx);
    await assert.rejects(accepted, CallEndedError);
  });
});

describe('shutdown', () => {
  test('ends every call, including a dial Meta has not answered yet, and refuses new ones', async () => {
    const { manager, graph } = managerBed(3);
    const { callId } = await manager.dial(dialParams(), ctx);
    const connect = deferred<unknown>();
    graph.script('connect', connect);
    graph.connectedCallId = 'wacid.second';
    const second = manager.dial(dialParams(), ctx);
    second.catch(() => undefined);
    await flush();
    const closed = manager.close();
    await flush();
    await assert.rejects(manager.dial(dialParams(), ctx), DrainingError);
    connect.resolve(undefined);
    await flush();
    await closed;
    await assert.rejects(second, CallEndedError);
    const terminated = graph.requests.filter((r) => r.action === 'terminate').map((r) => r.callId);
    assert.deepEqual(terminated.sort(), [callId, 'wacid.second'].sort());
  });
});
