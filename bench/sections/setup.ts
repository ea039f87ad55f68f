/**
 * Call setup time: inbound (AcceptWhatsAppCall request → first audio heard by the user, and by
 * the room) and outbound (DialWhatsAppCall request → ConnectWhatsAppCall → user answers → first
 * audio heard by the user). A room participant already in the room speaks a continuous tone
 * before the call starts; the user speaks one too. Lightly concurrent (2 calls in flight), after
 * two untimed warm-up calls.
 */
import { SessionDescription } from '@livekit/protocol';
import { ROOM_TONE, USER_TONE, type BenchStack } from '../lib/bench-stack.js';
import { mapLimit, percentiles, type Percentiles } from '../lib/stats.js';

export interface SetupResult {
  inbound: {
    calls: number;
    failures: number;
    /** AcceptWhatsAppCall request sent → first tone frame heard by the WhatsApp user. */
    acceptToUserAudio: Percentiles;
    /** AcceptWhatsAppCall request sent → first tone frame heard by the room participant. */
    acceptToRoomAudio: Percentiles;
    /** AcceptWhatsAppCall round trip (wait_until_answered). */
    acceptRpc: Percentiles;
  };
  outbound: {
    calls: number;
    failures: number;
    /** DialWhatsAppCall request → first tone frame heard by the user (Connect and answer at once). */
    dialToUserAudio: Percentiles;
    /** User answered → first tone frame heard by the user. */
    answerToUserAudio: Percentiles;
    /** DialWhatsAppCall round trip. */
    dialRpc: Percentiles;
  };
}

export async function runSetup(
  stack: BenchStack,
  count: number,
  log: (s: string) => void,
): Promise<SetupResult> {
  // Warm up: the first calls of a connector load code and may start helper processes.
  for (let i = 0; i < 2; i++) {
    const c = await stack.inboundCall({ userSpeaks: USER_TONE, roomSpeaks: ROOM_TONE });
    await stack.sim.call('firstTone', {
      id: c.callId,
      hz: ROOM_TONE.hz,
      fromMs: c.acceptStartMs,
      timeoutMs: 5000,
    });
    await stack.endCall(c);
  }
  log(`setup: ${count} inbound calls (2 in flight)`);
  let inFail = 0;
  const inbound = await mapLimit(Array.from({ length: count }), 2, async () => {
    try {
      const c = await stack.inboundCall({ userSpeaks: USER_TONE, roomSpeaks: ROOM_TONE });
      const [user, room] = await Promise.all([
        stack.sim.call<number | null>('firstTone', {
          id: c.callId,
          hz: ROOM_TONE.hz,
          fromMs: c.acceptStartMs,
          timeoutMs: 10_000,
        }),
        c.listener.worker.call<number | null>('firstTone', {
          key: c.listener.key,
          hz: USER_TONE.hz,
          fromMs: c.acceptStartMs,
          timeoutMs: 10_000,
        }),
      ]);
      await stack.endCall(c);
      if (user === null || room === null) {
        inFail++;
        return undefined;
      }
      return {
        user: user - c.acceptStartMs,
        room: room - c.acceptStartMs,
        rpc: c.acceptDoneMs - c.acceptStartMs,
      };
    } catch (err) {
      inFail++;
      log(`  inbound setup failed: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    }
  });
  await stack.stopIdleWorkers();

  log(`setup: ${count} outbound calls (2 in flight)`);
  let outFail = 0;
  let n = 0;
  const outbound = await mapLimit(Array.from({ length: count }), 2, async () => {
    const i = ++n;
    const roomName = `bench-out-${i}-${process.pid}`;
    const listener = await stack.join(roomName, `listener-out-${i}`, { speak: ROOM_TONE });
    let callId: string | undefined;
    try {
      const t0 = Date.now();
      const dial = await stack.client.dialWhatsAppCall({
        whatsappPhoneNumberId: stack.simInfo.phoneNumberId,
        whatsappToPhoneNumber: `1555${String(2_000_000 + i).padStart(7, '0')}`,
        whatsappApiKey: stack.simInfo.accessToken,
        whatsappCloudApiVersion: '24.0',
        roomName,
        participantIdentity: `wa-out-${i}`,
      });
      const tDial = Date.now();
      callId = dial.whatsappCallId;
      const metaSdp = await stack.sim.call<string>('metaSdp', { id: callId });
      await stack.client.connectWhatsAppCall(
        callId,
        new SessionDescription({ type: 'answer', sdp: metaSdp }),
      );
      const { answeredAtMs } = await stack.sim.call<{ answeredAtMs: number }>('answer', {
        id: callId,
        speak: USER_TONE,
      });
      const heard = await stack.sim.call<number | null>('firstTone', {
        id: callId,
        hz: ROOM_TONE.hz,
        fromMs: t0,
        timeoutMs: 10_000,
      });
      if (heard === null) {
        outFail++;
        return undefined;
      }
      return { dial: heard - t0, answer: heard - answeredAtMs, rpc: tDial - t0 };
    } catch (err) {
      outFail++;
      log(`  outbound setup failed: ${err instanceof Error ? err.message : String(err)}`);
      return undefined;
    } finally {
      if (callId) {
        await stack.client
          .disconnectWhatsAppCall(callId, stack.simInfo.accessToken)
          .catch(() => undefined);
      }
      await stack.leave(listener);
    }
  });
  await stack.stopIdleWorkers();

  const inOk = inbound.filter((x) => x !== undefined);
  const outOk = outbound.filter((x) => x !== undefined);
  return {
    inbound: {
      calls: count,
      failures: inFail,
      acceptToUserAudio: percentiles(inOk.map((x) => x.user)),
      acceptToRoomAudio: percentiles(inOk.map((x) => x.room)),
      acceptRpc: percentiles(inOk.map((x) => x.rpc)),
    },
    outbound: {
      calls: count,
      failures: outFail,
      dialToUserAudio: percentiles(outOk.map((x) => x.dial)),
      answerToUserAudio: percentiles(outOk.map((x) => x.answer)),
      dialRpc: percentiles(outOk.map((x) => x.rpc)),
    },
  };
}
