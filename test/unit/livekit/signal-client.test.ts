import { afterEach, beforeEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  DisconnectReason,
  LeaveRequest,
  LeaveRequest_Action,
  MuteTrackRequest,
  Pong,
  ReconnectReason,
  ReconnectResponse,
  SessionDescription,
  TrickleRequest,
  UpdateParticipantMetadata,
} from '@livekit/protocol';
import { LiveKitError } from '../../../src/livekit/livekit-errors.js';
import { SignalClient } from '../../../src/livekit/signal-client.js';
import { FakeSignalServer, joinResponse, settle } from './fake-signal-server.js';

const JOIN_PARAMS = {
  url: 'ws://127.0.0.1:7880',
  token: 'token',
  path: 'v1' as const,
  autoSubscribe: false,
};
const RESUME_PARAMS = {
  ...JOIN_PARAMS,
  resume: { participantSid: 'PA_self', reason: ReconnectReason.RR_SIGNAL_DISCONNECTED },
};

let server: FakeSignalServer;
let client: SignalClient;

beforeEach(() => {
  server = new FakeSignalServer();
  client = new SignalClient({ socketFactory: server.factory, connectTimeoutMs: 1000 });
});

afterEach(() => {
  client.close();
  mock.timers.reset();
});

async function joined(): Promise<void> {
  const join = client.join(JOIN_PARAMS);
  const socket = await server.nextSocket();
  socket.deliver({ case: 'join', value: joinResponse() });
  await join;
}

test('join resolves with the join response and the client is connected', async () => {
  const join = client.join(JOIN_PARAMS);
  const socket = await server.nextSocket();
  socket.deliver({ case: 'join', value: joinResponse({ serverVersion: '9.9.9' }) });
  const response = await join;
  assert.equal(response.serverVersion, '9.9.9');
  assert.equal(client.state, 'connected');
  assert.equal(socket.url.pathname, '/rtc/v1');
});

test('messages the server writes ahead of the join response are dispatched after it, in order', async () => {
  // livekit-server can answer the publisher offer of the join request before the join response.
  const seen: string[] = [];
  client.on('answer', () => seen.push('answer'));
  client.on('trackPublished', () => seen.push('trackPublished'));
  const join = client.join(JOIN_PARAMS, () => seen.push('join'));
  const socket = await server.nextSocket();
  socket.deliver({ case: 'answer', value: new SessionDescription({ type: 'answer', sdp: 'v=0' }) });
  socket.deliver({ case: 'join', value: joinResponse() });
  socket.deliver({ case: 'trackPublished', value: { cid: 'c', track: undefined } as never });
  await join;
  assert.deepEqual(seen, ['join', 'answer', 'trackPublished']);
});

test('a leave instead of the join response rejects the join with the server reason', async () => {
  const join = client.join(JOIN_PARAMS);
  const socket = await server.nextSocket();
  socket.deliver({
    case: 'leave',
    value: new LeaveRequest({ reason: DisconnectReason.ROOM_DELETED }),
  });
  await assert.rejects(join, (err: unknown) => {
    assert.ok(err instanceof LiveKitError);
    assert.equal(err.reason, 'left');
    assert.equal(err.disconnectReason, DisconnectReason.ROOM_DELETED);
    return true;
  });
  assert.equal(socket.closed, true);
});

test('a server that stays silent fails the join with a timeout and the socket is closed', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  const join = client.join(JOIN_PARAMS);
  const socket = await server.nextSocket();
  mock.timers.tick(1000);
  await assert.rejects(
    join,
    (err: unknown) => err instanceof LiveKitError && err.reason === 'timeout',
  );
  assert.equal(socket.closed, true);
});

test('a failed upgrade rejects the join with the factory error and leaves the client reusable', async () => {
  server.failNext(new LiveKitError('unreachable', 'ECONNREFUSED'));
  await assert.rejects(client.join(JOIN_PARAMS), /ECONNREFUSED/);
  assert.equal(client.state, 'idle');
  await joined();
  assert.equal(client.state, 'connected');
});

test('pings go out at the server interval and a missing pong reports the loss once', async () => {
  mock.timers.enable({ apis: ['setTimeout', 'setInterval'] });
  await joined();
  const socket = server.sockets[0]!;
  const losses: string[] = [];
  client.on('lost', (reason) => losses.push(reason));
  mock.timers.tick(5000);
  assert.deepEqual(socket.sentCases(), ['ping', 'pingReq']);
  // The server answers: the deadline moves on.
  socket.deliver({ case: 'pongResp', value: new Pong({ lastPingTimestamp: BigInt(Date.now()) }) });
  mock.timers.tick(14_000);
  assert.deepEqual(losses, []);
  // Then silence for the whole ping timeout (15 s).
  mock.timers.tick(1000);
  assert.deepEqual(losses, ['ping timeout']);
  assert.equal(socket.closed, true);
  assert.equal(client.state, 'reconnecting');
  mock.timers.tick(60_000);
  assert.equal(losses.length, 1);
});

test('a socket closed by the server reports the loss', async () => {
  await joined();
  const losses: string[] = [];
  client.on('lost', (reason) => losses.push(reason));
  server.sockets[0]!.drop();
  assert.equal(losses.length, 1);
  assert.match(losses[0]!, /1006/);
});

test('close() is idempotent, sends nothing and reports no loss', async () => {
  await joined();
  const socket = server.sockets[0]!;
  let lost = 0;
  client.on('lost', () => lost++);
  client.close();
  client.close();
  assert.equal(socket.closed, true);
  assert.equal(lost, 0);
  assert.deepEqual(socket.sentCases(), []);
  assert.equal(client.state, 'closed');
});

test('leave sends a LeaveRequest with the reason, then closes', async () => {
  await joined();
  const socket = server.sockets[0]!;
  client.leave(DisconnectReason.USER_REJECTED);
  assert.equal(socket.sent.length, 1);
  const leave = socket.sent[0]!.message;
  assert.equal(leave.case, 'leave');
  assert.equal((leave.value as LeaveRequest).reason, DisconnectReason.USER_REJECTED);
  assert.equal((leave.value as LeaveRequest).action, LeaveRequest_Action.DISCONNECT);
  assert.equal(socket.closed, true);
});

test('while reconnecting, requests queue and go out in order once ready; negotiation goes at once', async () => {
  await joined();
  server.sockets[0]!.drop();
  client.send({ case: 'mute', value: new MuteTrackRequest({ sid: 'TR_1', muted: true }) });
  client.send({
    case: 'updateMetadata',
    value: new UpdateParticipantMetadata({ requestId: 1, name: 'n' }),
  });
  assert.equal(client.queuedRequests, 2);

  const resumed = client.resume(RESUME_PARAMS);
  const socket = await server.nextSocket();
  assert.equal(socket.url.pathname, '/rtc/v1');
  socket.deliver({ case: 'reconnect', value: new ReconnectResponse({ lastMessageSeq: 3 }) });
  const outcome = await resumed;
  assert.deepEqual(outcome, {
    resumed: true,
    response: new ReconnectResponse({ lastMessageSeq: 3 }),
  });
  // Negotiation belongs to the socket it is sent on: not queued.
  client.send({ case: 'trickle', value: new TrickleRequest({ candidateInit: '{}' }) });
  client.send({ case: 'mute', value: new MuteTrackRequest({ sid: 'TR_1', muted: false }) });
  assert.deepEqual(socket.sentCases(), ['trickle']);

  client.markReady();
  assert.deepEqual(socket.sentCases(), ['trickle', 'mute', 'updateMetadata', 'mute']);
  assert.equal(client.queuedRequests, 0);
  assert.equal(client.state, 'connected');
});

test('a resume answered by a leave reports the leave and keeps the queue', async () => {
  await joined();
  server.sockets[0]!.drop();
  client.send({ case: 'mute', value: new MuteTrackRequest({ sid: 'TR_1', muted: true }) });
  const resumed = client.resume(RESUME_PARAMS);
  const socket = await server.nextSocket();
  socket.deliver({
    case: 'leave',
    value: new LeaveRequest({
      reason: DisconnectReason.STATE_MISMATCH,
      action: LeaveRequest_Action.RECONNECT,
    }),
  });
  const outcome = await resumed;
  assert.equal(outcome.resumed, false);
  assert.equal(!outcome.resumed && outcome.leave.action, LeaveRequest_Action.RECONNECT);
  assert.equal(socket.closed, true);
  assert.equal(client.state, 'reconnecting');
  assert.equal(client.queuedRequests, 1);
});

test('a resume without a reconnect response takes the first message as the sign of success', async () => {
  await joined();
  server.sockets[0]!.drop();
  const updates: number[] = [];
  client.on('update', (update) => updates.push(update.participants.length));
  const resumed = client.resume(RESUME_PARAMS);
  const socket = await server.nextSocket();
  socket.deliver({ case: 'update', value: { participants: [] } as never });
  const outcome = await resumed;
  assert.deepEqual(outcome, { resumed: true, response: undefined });
  assert.deepEqual(updates, [0]);
});

test('the resume URL carries reconnect=1 and the participant sid on the two-PC path', async () => {
  await joined();
  server.sockets[0]!.drop();
  const resumed = client.resume({ ...RESUME_PARAMS, path: 'v0' });
  const socket = await server.nextSocket();
  assert.equal(socket.url.pathname, '/rtc');
  assert.equal(socket.url.searchParams.get('reconnect'), '1');
  assert.equal(socket.url.searchParams.get('sid'), 'PA_self');
  assert.equal(socket.url.searchParams.get('reconnect_reason'), '1');
  socket.deliver({ case: 'reconnect', value: new ReconnectResponse() });
  await resumed;
});

test('a loss during a resume is reported once the resumed socket breaks, not before', async () => {
  await joined();
  const losses: string[] = [];
  client.on('lost', (reason) => losses.push(reason));
  server.sockets[0]!.drop();
  assert.equal(losses.length, 1);
  const resumed = client.resume(RESUME_PARAMS);
  const socket = await server.nextSocket();
  socket.deliver({ case: 'reconnect', value: new ReconnectResponse() });
  await resumed;
  await settle();
  assert.equal(losses.length, 1);
  socket.drop();
  assert.equal(losses.length, 2);
});
