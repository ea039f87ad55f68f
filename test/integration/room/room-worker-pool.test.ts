import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { dispose } from '@livekit/rtc-node';
import { ConnectorError } from '../../../src/errors/connector-error.js';
import { RemoteRoomLeg } from '../../../src/room/remote-room-leg.js';
import { RoomLegPool } from '../../../src/room/room-leg-pool.js';
import {
  acceptInboundCall,
  assertTone,
  eventually,
  sleep,
  startBridge,
  type Bridge,
} from '../calls/bridge-harness.js';

let bridge: Bridge;

before(async () => {
  bridge = await startBridge({ env: { ROOM_WORKER_CALLS_PER_PROCESS: '2' } });
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

/** Whether a process with this pid exists (a zombie counts as gone). */
function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}

/** Pids of live child processes of this test process running the room worker. */
function roomWorkerChildren(): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (fields[0] === 'Z' || Number(fields[1]) !== process.pid) continue;
      const cmdline = readFileSync(`/proc/${entry}/cmdline`, 'utf8');
      if (cmdline.includes('room-worker-main')) pids.push(Number(entry));
    } catch {
      // the process ended while we looked
    }
  }
  return pids;
}

test('a call through the room worker pool carries audio both ways, with its leg in a worker process', async () => {
  const { userCall, listener } = await acceptInboundCall(bridge, { toneHz: 440 });
  try {
    const call = bridge.server.calls!.registry.get(userCall.id)!;
    assert.ok(call.room instanceof RemoteRoomLeg, 'the room leg is remote');
    const workerPid = call.room.workerPid;
    assert.ok(workerPid && workerPid !== process.pid && processRuns(workerPid));
    assert.ok(bridge.server.roomLegPool!.workerPids.includes(workerPid));

    await sleep(1500);
    assertTone(listener.heard(1000), listener.sampleRate, 440, 'room');
    await listener.speak(1000);
    await sleep(2500);
    assertTone(userCall.recording().pcm.subarray(-16_000), 16_000, 1000, 'user');
    assert.ok((call.room as RemoteRoomLeg).stats.mixFramesEmitted > 100, 'mix frames arrived');
  } finally {
    await bridge.client
      .disconnectWhatsAppCall(userCall.id, bridge.accessToken)
      .catch(() => undefined);
    await listener.close();
  }
});

test('killing a room worker ends each of its calls at Meta and in the room', async () => {
  const first = await acceptInboundCall(bridge, { identity: 'wa-first' });
  const second = await acceptInboundCall(bridge, { identity: 'wa-second' });
  try {
    const legs = [first, second].map(
      (c) => bridge.server.calls!.registry.get(c.userCall.id)!.room as RemoteRoomLeg,
    );
    // Two calls per process: both legs share one worker.
    const workerPid = legs[0]!.workerPid!;
    assert.equal(legs[1]!.workerPid, workerPid);
    process.kill(workerPid, 'SIGKILL');

    for (const { userCall, listener } of [first, second]) {
      await userCall.waitForState('ended', 10_000);
      await eventually(
        () =>
          bridge.simulator.requestLog.some((r) => {
            const body = r.body as { action?: string; call_id?: string } | undefined;
            return body?.action === 'terminate' && body.call_id === userCall.id;
          }),
        5000,
        'terminate at Meta',
      );
      // `ending` until Meta's answer to the terminate is in; then `ended`.
      await eventually(
        () => bridge.server.calls!.registry.get(userCall.id)?.isEnded ?? true,
        5000,
        'the call ended',
      );
      await eventually(
        () => !listener.room.remoteParticipants.has(listener.connector!.identity),
        5000,
        'the connector participant left the room',
      );
    }
    assert.ok(legs.every((leg) => !leg.connected));
    assert.ok(!bridge.server.roomLegPool!.workerPids.includes(workerPid));

    // The pool starts a fresh worker for the next call.
    const next = await acceptInboundCall(bridge, { identity: 'wa-next' });
    await bridge.client.disconnectWhatsAppCall(next.userCall.id, bridge.accessToken);
    await next.listener.close();
  } finally {
    await first.listener.close();
    await second.listener.close();
  }
});

test('join errors arrive as the same ConnectorErrors as in-process', async () => {
  const pool = new RoomLegPool({ callsPerProcess: 1, logLevel: 'silent' });
  try {
    await assert.rejects(
      pool.join({
        url: bridge.lk.wsUrl,
        apiKey: bridge.lk.apiKey,
        apiSecret: bridge.lk.apiSecret,
        roomName: 'bad-rate',
        identity: 'x',
        sampleRate: 8000,
      }),
      (err: unknown) => err instanceof ConnectorError && err.code === 'invalid_argument',
    );
    await assert.rejects(
      pool.join({
        url: bridge.lk.wsUrl,
        apiKey: bridge.lk.apiKey,
        apiSecret: 'not-the-secret',
        roomName: 'bad-secret',
        identity: 'x',
        sampleRate: 16_000,
      }),
      (err: unknown) => err instanceof ConnectorError && err.code === 'unavailable',
    );
  } finally {
    await pool.close();
  }
  assert.deepEqual(pool.workerPids, []);
});

test('closing the server closes the pool and leaves no room worker processes', async () => {
  const a = await acceptInboundCall(bridge, { identity: 'wa-a' });
  const b = await acceptInboundCall(bridge, { identity: 'wa-b' });
  const c = await acceptInboundCall(bridge, { identity: 'wa-c' });
  const pids = bridge.server.roomLegPool!.workerPids;
  assert.ok(pids.length >= 2, 'three calls at two per process need two workers');
  await bridge.server.close();
  await bridge.server.close();
  for (const { userCall, listener } of [a, b, c]) {
    await userCall.waitForState('ended', 10_000);
    await listener.close();
  }
  for (const pid of pids) assert.equal(processRuns(pid), false, `worker ${pid} still runs`);
  assert.deepEqual(roomWorkerChildren(), []);
});

test('a worker left without calls is stopped after the idle timeout', async () => {
  const pool = new RoomLegPool({
    callsPerProcess: 1,
    idleTimeoutMs: 200,
    spareWorker: false,
    logLevel: 'silent',
  });
  try {
    // A failed join still starts a worker (it validates the options), which then has no calls.
    await pool
      .join({
        url: bridge.lk.wsUrl,
        apiKey: bridge.lk.apiKey,
        apiSecret: bridge.lk.apiSecret,
        roomName: 'idle',
        identity: 'x',
        sampleRate: 8000,
      })
      .catch(() => undefined);
    const [pid] = pool.workerPids;
    assert.ok(pid, 'a worker was started');
    await eventually(() => !processRuns(pid), 10_000, 'the idle worker to exit');
    assert.deepEqual(pool.workerPids, []);
  } finally {
    await pool.close();
  }
});

test('the pool keeps a started spare worker, so the next call joins without waiting for one', async () => {
  const pool = new RoomLegPool({ callsPerProcess: 1, logLevel: 'silent' });
  const join = (identity: string) =>
    pool.join({
      url: bridge.lk.wsUrl,
      apiKey: bridge.lk.apiKey,
      apiSecret: bridge.lk.apiSecret,
      roomName: 'spare',
      identity,
      sampleRate: 16_000,
    });
  try {
    const first = await join('first');
    // The only worker is full: a spare is started at once.
    const spare = await eventually(
      () => pool.workerPids.find((pid) => pid !== first.workerPid),
      5000,
      'a spare worker',
    );
    const second = await join('second');
    assert.equal(second.workerPid, spare);
    await first.close();
    await second.close();
  } finally {
    await pool.close();
  }
  assert.deepEqual(roomWorkerChildren(), []);
});
