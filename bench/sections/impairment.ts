/**
 * Quality under impairment on the WhatsApp leg (simulator faults: packet loss each direction,
 * random extra delay up to 30 ms on what the user sends): the share of frames the connector's
 * jitter buffer concealed, and the tone's SNR after the bridge at both ends.
 */
import { ROOM_TONE, USER_TONE, type BenchStack } from '../lib/bench-stack.js';
import { sleep } from '../lib/stats.js';

export interface ImpairmentLevel {
  packetLossPercent: number;
  jitterMs: number;
  /** Connector (WhatsApp → room): concealed / (decoded + concealed) over the window. */
  concealedShare: number;
  framesDecoded: number;
  framesConcealed: number;
  /** User's tone as heard in the room (after jitter buffer, PLC, rtc-node, livekit), dB. */
  snrUserToRoomDb: number;
  /** Room's tone as heard by the user (after the bridge and the lossy leg), dB. */
  snrRoomToUserDb: number;
}

export async function runImpairment(
  stack: BenchStack,
  opts: { levels: { lossPercent: number; jitterMs: number }[]; windowSeconds: number },
  log: (s: string) => void,
): Promise<ImpairmentLevel[]> {
  const out: ImpairmentLevel[] = [];
  try {
    for (const level of opts.levels) {
      const loss = level.lossPercent;
      log(`impairment: ${loss} % loss, ${level.jitterMs} ms jitter, ${opts.windowSeconds} s`);
      await stack.sim.call('setFaults', { packetLossPercent: loss, jitterMs: level.jitterMs });
      const call = await stack.inboundCall({ userSpeaks: USER_TONE, roomSpeaks: ROOM_TONE });
      try {
        await call.listener.worker.call('waitTrack', { key: call.listener.key, timeoutMs: 10_000 });
        await sleep(3000);
        const legBefore = (await stack.connectorStats())?.legs.find(
          (l) => l.callId === call.callId,
        );
        const from = Date.now();
        await sleep(opts.windowSeconds * 1000);
        const to = Date.now();
        const legAfter = (await stack.connectorStats())?.legs.find((l) => l.callId === call.callId);
        const decoded =
          (legAfter?.media.framesDecoded ?? 0) - (legBefore?.media.framesDecoded ?? 0);
        const concealed =
          (legAfter?.media.framesConcealed ?? 0) - (legBefore?.media.framesConcealed ?? 0);
        const [room, user] = await Promise.all([
          call.listener.worker.call<{ snrDb: number }>('snr', {
            key: call.listener.key,
            hz: USER_TONE.hz,
            fromMs: from,
            toMs: to,
          }),
          stack.sim.call<{ snrDb: number }>('snr', {
            id: call.callId,
            hz: ROOM_TONE.hz,
            fromMs: from,
            toMs: to,
          }),
        ]);
        out.push({
          packetLossPercent: loss,
          jitterMs: level.jitterMs,
          concealedShare: concealed / Math.max(1, decoded + concealed),
          framesDecoded: decoded,
          framesConcealed: concealed,
          snrUserToRoomDb: room.snrDb,
          snrRoomToUserDb: user.snrDb,
        });
        log(
          `  concealed ${((concealed / Math.max(1, decoded + concealed)) * 100).toFixed(1)} %, SNR user→room ${room.snrDb.toFixed(1)} dB, room→user ${user.snrDb.toFixed(1)} dB`,
        );
      } finally {
        await stack.endCall(call);
      }
    }
  } finally {
    await stack.sim.call('setFaults', { packetLossPercent: 0, jitterMs: 0 });
    await stack.stopIdleWorkers();
  }
  return out;
}
