/**
 * Transfer of a live call between rooms, with fake legs: the new room leg is joined first, the
 * media wiring switches in one step, the old room hears why the call left, and Meta's side is
 * never touched. Also the data-message entry point (off by default, agents only).
 */
import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  CallEndedError,
  CallNotFoundError,
  RoomJoinError,
  TransferNotPossibleError,
} from '../../../src/calls/call-errors.js';
import { CallRegistry } from '../../../src/calls/call-registry.js';
import type { RoomDataMessage } from '../../../src/calls/call-ports.js';
import { InboundCall } from '../../../src/calls/inbound-call.js';
import {
  RoomTransferRequests,
  TRANSFER_RESULT_TOPIC,
  TRANSFER_TOPIC,
  type TransferRequestAnswer,
} from '../../../src/connector/room-transfer-requests.js';
import { InvalidArgumentError } from '../../../src/errors/index.js';
import { validateTransferParams } from '../../../src/calls/call-params-validation.js';
import { silentLogger } from '../../../src/log/index.js';
import { acceptParams, callBed, deferred, flush, type CallBed } from './call-fakes.js';

beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
afterEach(() => mock.timers.reset());

/** An answered inbound call in `room-1` (fake legs). */
async function activeCall(bed: CallBed = callBed()) {
  const call = new InboundCall(acceptParams(), bed.deps);
  const accepted = call.accept();
  await flush();
  bed.media.connect();
  await accepted;
  const oldLeg = bed.rooms.last!;
  return { bed, call, oldLeg };
}

const A_FRAME = new Int16Array(320).fill(1000);
const B_FRAME = new Int16Array(320).fill(2000);

describe('WhatsAppCall.transfer', () => {
  test('joins the new room first with the call attributes and transferredFrom, then switches audio and DTMF to it and leaves the old room as transferred', async () => {
    const { bed, call, oldLeg } = await activeCall();
    const graphBefore = bed.graph.actions();
    const result = await call.transfer({
      roomName: 'humans',
      agents: [
        { agentName: 'desk', metadata: '{}', restartPolicy: 0, deployment: '', attributes: {} },
      ],
      attributes: { queue: 'billing' },
    });
    await flush();
    assert.deepEqual(result, {
      callId: 'wacid.fake-inbound',
      roomName: 'humans',
      participantIdentity: 'wa-user',
    });
    const newLeg = bed.rooms.last!;
    assert.notEqual(newLeg, oldLeg);
    assert.equal(newLeg.options.roomName, 'humans');
    assert.equal(newLeg.options.identity, 'wa-user');
    // The join waits for the new room's audio, so the caller's first frames there are not silence.
    assert.ok((newLeg.options.awaitRoomAudioMs ?? 0) > 0);
    assert.deepEqual(
      newLeg.options.agents?.map((a) => a.agentName),
      ['desk'],
    );
    assert.equal(newLeg.attributes.queue, 'billing');
    assert.equal(newLeg.attributes['whatsapp.callStatus'], 'active');
    assert.equal(newLeg.attributes['whatsapp.callId'], 'wacid.fake-inbound');
    assert.equal(newLeg.attributes['whatsapp.phoneNumber'], '15551230001');
    assert.equal(newLeg.attributes['whatsapp.transferredFrom'], 'room-1');
    assert.equal(newLeg.closed, false);

    // Crossover: until the new room's mix sounds, the caller hears the old room.
    const SILENCE = new Int16Array(320);
    bed.media.audioSent.length = 0;
    newLeg.mix(SILENCE);
    oldLeg.mix(A_FRAME);
    assert.deepEqual(bed.media.audioSent, [A_FRAME]);
    assert.equal(oldLeg.closed, false);
    newLeg.mix(B_FRAME);
    oldLeg.mix(A_FRAME);
    newLeg.mix(SILENCE);
    assert.deepEqual(bed.media.audioSent, [A_FRAME, B_FRAME, SILENCE]);
    await flush();

    // Then the old room is told why the call left, and where to, and the leg leaves.
    assert.equal(oldLeg.attributes['whatsapp.callStatus'], 'hangup');
    assert.equal(oldLeg.attributes['whatsapp.endReason'], 'transferred');
    assert.equal(oldLeg.attributes['whatsapp.transferredTo'], 'humans');
    assert.equal(oldLeg.closedWith, 'transferred');

    // The caller's audio reaches the new room only; DTMF comes from the new room only.
    const before = oldLeg.callerFrames;
    for (let i = 0; i < 3; i++) bed.media.receive();
    assert.equal(newLeg.callerFrames, 3);
    assert.equal(oldLeg.callerFrames, before);
    oldLeg.dtmf('1');
    newLeg.dtmf('2');
    assert.deepEqual(bed.media.dtmfSent, ['2']);

    // Meta's side is untouched; the call is the same call, in the new room.
    assert.deepEqual(bed.graph.actions(), graphBefore);
    assert.equal(bed.media.closeCalls, 0);
    assert.equal(call.state, 'active');
    assert.equal(call.roomName, 'humans');
    assert.equal(call.summary().roomName, 'humans');

    // The old leg going away later does not end the call; the new one does.
    oldLeg.disconnect('room-deleted');
    await flush();
    assert.equal(call.isClosed, false);
    newLeg.disconnect('room-deleted');
    await flush();
    assert.equal(call.endReason, 'room_closed');
  });

  test('with Opus passthrough the new room’s packets continue the sequence Meta’s stream had, from its first sounding packet on', async () => {
    const { bed, call, oldLeg } = await activeCall();
    const SPEECH = Uint8Array.of(0x78, 1, 2, 3, 4, 5, 6, 7);
    for (const seq of [100, 101, 102]) oldLeg.agentOpus(seq, SPEECH);
    await call.transfer({ roomName: 'humans' });
    const newLeg = bed.rooms.last!;
    newLeg.agentOpus(7); // a silence packet: the old room goes on meanwhile
    oldLeg.agentOpus(103, SPEECH);
    newLeg.agentOpus(8, SPEECH);
    newLeg.agentOpus(9, SPEECH);
    oldLeg.agentOpus(104, SPEECH);
    const sent = bed.media.opusSent.map((p) => (p as { sequenceNumber?: number }).sequenceNumber);
    assert.deepEqual(sent, [100, 101, 102, 103, 104, 105]);
    assert.equal(bed.media.source, 'opus');
    await flush();
    assert.equal(oldLeg.closedWith, 'transferred');
  });

  test('a new room that stays silent takes over when the crossover runs out', async () => {
    const { bed, call, oldLeg } = await activeCall();
    await call.transfer({ roomName: 'quiet' });
    const newLeg = bed.rooms.last!;
    await assert.rejects(
      call.transfer({ roomName: 'third' }),
      (err: Error) =>
        err instanceof TransferNotPossibleError && err.reason === 'transfer_in_progress',
    );
    mock.timers.tick(1000);
    await flush();
    assert.equal(oldLeg.closedWith, 'transferred');
    bed.media.audioSent.length = 0;
    oldLeg.mix(A_FRAME);
    newLeg.mix(B_FRAME);
    assert.deepEqual(bed.media.audioSent, [B_FRAME]);
  });

  test('a failed join leaves the call where it was, still bridged to its room', async () => {
    const { bed, call, oldLeg } = await activeCall();
    bed.rooms.failWith(new Error('livekit refused'));
    await assert.rejects(call.transfer({ roomName: 'humans' }), RoomJoinError);
    assert.equal(call.roomName, 'room-1');
    assert.equal(oldLeg.closed, false);
    assert.equal(oldLeg.attributes['whatsapp.callStatus'], 'active');
    assert.equal(oldLeg.attributes['whatsapp.transferredFrom'], undefined);
    bed.media.audioSent.length = 0;
    oldLeg.mix(A_FRAME);
    assert.deepEqual(bed.media.audioSent, [A_FRAME]);
  });

  test('the old room closing while the new one is joined does not drop the call', async () => {
    const { bed, call, oldLeg } = await activeCall();
    const held = bed.rooms.hold();
    const moving = call.transfer({ roomName: 'humans' });
    await flush();
    oldLeg.disconnect('room-deleted');
    await flush();
    assert.equal(call.isClosed, false);
    held.resolve();
    await moving;
    assert.equal(call.roomName, 'humans');
    assert.equal(call.isClosed, false);
  });

  test('the old room closing during a transfer that fails ends the call as room_closed', async () => {
    const { bed, call, oldLeg } = await activeCall();
    const held = bed.rooms.hold();
    bed.rooms.failWith(new Error('no'));
    const moving = call.transfer({ roomName: 'humans' });
    await flush();
    oldLeg.disconnect('room-deleted');
    held.resolve();
    await assert.rejects(moving, RoomJoinError);
    await flush();
    assert.equal(call.endReason, 'room_closed');
  });

  test('a call that ends while the new room is joined tells that room it ended, and the transfer fails', async () => {
    const { bed, call } = await activeCall();
    const held = bed.rooms.hold();
    const moving = call.transfer({ roomName: 'humans' });
    await flush();
    await call.close('user_hangup', { endedAtMeta: true });
    held.resolve();
    await assert.rejects(moving, CallEndedError);
    const newLeg = bed.rooms.last!;
    assert.equal(newLeg.options.roomName, 'humans');
    assert.equal(newLeg.attributes['whatsapp.callStatus'], 'hangup');
    assert.equal(newLeg.attributes['whatsapp.endReason'], 'user_hangup');
    assert.equal(newLeg.closedWith, 'user_hangup');
  });

  test('refused: a second transfer while one runs, the room and identity it is in, and an ended call', async () => {
    const { bed, call } = await activeCall();
    await assert.rejects(
      call.transfer({ roomName: 'room-1' }),
      (err: Error) => err instanceof TransferNotPossibleError && err.reason === 'same_room',
    );
    const held = bed.rooms.hold();
    const moving = call.transfer({ roomName: 'humans' });
    await assert.rejects(
      call.transfer({ roomName: 'other' }),
      (err: Error) =>
        err instanceof TransferNotPossibleError && err.reason === 'transfer_in_progress',
    );
    held.resolve();
    await moving;
    await assert.rejects(
      call.transfer({ roomName: 'other' }),
      (err: Error) =>
        err instanceof TransferNotPossibleError && err.reason === 'transfer_in_progress',
      'refused until the new room took over the audio',
    );
    bed.rooms.last!.mix(B_FRAME);
    // Same room, another identity: a transfer (e.g. to take a reserved identity).
    await call.transfer({ roomName: 'humans', identity: 'caller-2' });
    assert.equal(call.participantIdentity, 'caller-2');
    await call.close('business_hangup');
    await assert.rejects(call.transfer({ roomName: 'x' }), CallEndedError);
  });

  test('a call without a room leg yet cannot be transferred', async () => {
    const bed = callBed();
    bed.rooms.hold();
    const call = new InboundCall(acceptParams(), bed.deps);
    call.accept().catch(() => undefined);
    await flush();
    await assert.rejects(
      call.transfer({ roomName: 'humans' }),
      (err: Error) => err instanceof TransferNotPossibleError && err.reason === 'not_in_a_room',
    );
    await call.close('shutdown');
  });
});

test('transfer parameters: a room is required, names are bounded, attributes are strings', () => {
  assert.throws(
    () => validateTransferParams({ callId: 'wacid.1', roomName: '' }),
    (err: Error) => err instanceof InvalidArgumentError && err.field === 'room',
  );
  assert.throws(
    () => validateTransferParams({ callId: 'wacid.1', roomName: 'r'.repeat(257) }),
    InvalidArgumentError,
  );
  assert.throws(
    () => validateTransferParams({ callId: 'wacid.1', roomName: 'r', identity: ' ' }),
    InvalidArgumentError,
  );
  assert.throws(
    () =>
      validateTransferParams({
        callId: 'wacid.1',
        roomName: 'r',
        attributes: { a: 1 as unknown as string },
      }),
    InvalidArgumentError,
  );
  validateTransferParams({ callId: 'wacid.1', roomName: 'r', identity: 'x', attributes: {} });
});

describe('transfer requests by data message', () => {
  function request(
    body: unknown,
    kind: NonNullable<RoomDataMessage['from']>['kind'] = 'agent',
    topic = TRANSFER_TOPIC,
  ): RoomDataMessage {
    return {
      topic,
      payload: new TextEncoder().encode(typeof body === 'string' ? body : JSON.stringify(body)),
      from: { identity: 'agent-1', kind },
    };
  }

  async function setUp(enabled: boolean) {
    const { bed, call, oldLeg } = await activeCall();
    const registry = new CallRegistry();
    registry.add(call);
    const sent: { topic: string; payload: string; to: string }[] = [];
    oldLeg.sendData = async (topic: string, payload: Uint8Array, to: string) => {
      sent.push({ topic, payload: new TextDecoder().decode(payload), to });
    };
    const requests = new RoomTransferRequests({
      registry,
      enabled,
      logger: silentLogger,
      calls: {
        transfer: async (p) => {
          if (p.callId !== call.callId) throw new CallNotFoundError(p.callId);
          const { callId: _id, ...target } = p;
          return call.transfer(target);
        },
      },
    });
    return { bed, call, oldLeg, requests, sent };
  }

  test('off by default: a request is refused and answered, the call stays', async () => {
    const { call, oldLeg, requests, sent } = await setUp(false);
    const answer = await requests.handle(call, request({ room: 'humans', requestId: 'r1' }));
    assert.deepEqual(answer, {
      ok: false,
      requestId: 'r1',
      code: 'disabled',
      msg: 'transfer by data message is off (TRANSFER_DATA_MESSAGES)',
    });
    assert.equal(call.roomName, 'room-1');
    assert.equal(oldLeg.closed, false);
    assert.equal(sent.length, 1);
    assert.equal(sent[0]?.topic, TRANSFER_RESULT_TOPIC);
    assert.equal(sent[0]?.to, 'agent-1');
    assert.equal((JSON.parse(sent[0]!.payload) as TransferRequestAnswer).ok, false);
  });

  test('when on, only agent participants may ask, with a well-formed body', async () => {
    const { call, requests } = await setUp(true);
    const standard = await requests.handle(call, request({ room: 'humans' }, 'standard'));
    assert.equal(standard.ok ? 'ok' : standard.code, 'permission_denied');
    const garbage = await requests.handle(call, request('not json'));
    assert.equal(garbage.ok ? 'ok' : garbage.code, 'invalid_argument');
    const noRoom = await requests.handle(call, request({ agents: [] }));
    assert.equal(noRoom.ok ? 'ok' : noRoom.msg, 'room is required');
    const unknownField = await requests.handle(call, request({ room: 'x', roomz: 'y' }));
    assert.equal(unknownField.ok ? 'ok' : unknownField.msg, 'unknown field roomz');
    assert.equal(call.roomName, 'room-1');
  });

  test('an agent’s request moves the call, through the room leg’s data event', async () => {
    const { bed, call, oldLeg, sent } = await setUp(true);
    const moved = deferred();
    call.once('transferred', () => moved.resolve());
    oldLeg.data(request({ room: 'humans', agents: [{ agentName: 'desk' }] }));
    await moved.promise;
    bed.rooms.last!.mix(B_FRAME);
    await flush();
    assert.equal(call.roomName, 'humans');
    assert.deepEqual(
      bed.rooms.last?.options.agents?.map((a) => a.agentName),
      ['desk'],
    );
    assert.equal(oldLeg.attributes['whatsapp.endReason'], 'transferred');
    // Done transfers are answered by the old room's attributes, not by a message.
    assert.deepEqual(sent, []);
    // Other topics are not transfer requests.
    bed.rooms.last!.data(request({ room: 'x' }, 'agent', 'chat'));
    await flush();
    assert.equal(call.roomName, 'humans');
  });
});
