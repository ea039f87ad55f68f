/**
 * Entry of a room worker process (forked by `RoomWorker`): hosts the LiveKit legs of up to a
 * few calls with their own native LiveKit client, so the per-process cost of rtc-node (every FFI
 * event goes to every listener) stays bounded. Control arrives over IPC, audio over fd 3.
 *
 * The worker never outlives the connector: it exits when the IPC channel closes (the parent
 * exited or crashed) or the audio socket ends.
 */
import { Socket } from 'node:net';
import { RoomAgentDispatch } from '@livekit/protocol';
import { dispose } from '@livekit/rtc-node';
import { createLogger, type Logger } from '../log/logger.js';
import { RoomLeg } from './room-leg.js';
import { AUDIO_FRAME_KIND, RoomWorkerAudioChannel } from './room-worker-audio-channel.js';
import {
  serializeError,
  type ParentToWorkerMessage,
  type WorkerToParentMessage,
} from './room-worker-protocol.js';

/** How long shutdown waits for legs to leave their rooms before exiting anyway, ms. */
const SHUTDOWN_GRACE_MS = 2000;
const STATS_INTERVAL_MS = 1000;

const log: Logger = createLogger({
  level: process.env.ROOM_WORKER_LOG_LEVEL ?? 'info',
  redactPhoneNumbers: process.env.ROOM_WORKER_REDACT_PHONE_NUMBERS !== 'false',
  name: 'whatsapp-connector',
}).child({ component: 'room-worker', pid: process.pid });

const legs = new Map<number, RoomLeg>();
/** Legs whose join is in flight; a close for them waits for the join to settle. */
const joining = new Map<number, Promise<RoomLeg | undefined>>();
let exiting = false;

function send(message: WorkerToParentMessage): void {
  if (!process.connected) return;
  try {
    process.send!(message);
  } catch (err) {
    log.debug({ err }, 'send to connector failed');
  }
}

const audio = new RoomWorkerAudioChannel(
  new Socket({ fd: 3, readable: true, writable: true }),
  (kind, legId, pcm) => {
    if (kind === AUDIO_FRAME_KIND.callerAudio) legs.get(legId)?.pushCallerAudio(pcm);
  },
  (reason) => {
    log.error({ reason }, 'audio channel corrupt');
    void exit(1);
  },
);

async function join(
  requestId: number,
  legId: number,
  message: Extract<ParentToWorkerMessage, { type: 'join' }>,
): Promise<RoomLeg | undefined> {
  const { agents, logBindings, ...options } = message.options;
  try {
    const leg = await RoomLeg.join({
      ...options,
      agents: agents?.map((a) => RoomAgentDispatch.fromJson(a as never)),
      logger: log.child(logBindings ?? {}),
    });
    if (exiting) {
      await leg.close();
      throw new Error('room worker is shutting down');
    }
    legs.set(legId, leg);
    leg.on('audio', (pcm) => audio.send(AUDIO_FRAME_KIND.roomMix, legId, pcm));
    leg.on('dtmf', (digit, fromIdentity) => send({ type: 'dtmf', legId, digit, fromIdentity }));
    leg.on('data', (m) =>
      send({
        type: 'data',
        legId,
        topic: m.topic,
        payloadBase64: Buffer.from(m.payload).toString('base64'),
        from: m.from,
      }),
    );
    leg.on('participantsChanged', (participants) =>
      send({ type: 'participants', legId, participants }),
    );
    leg.on('disconnected', (reason, code) => {
      legs.delete(legId);
      send({ type: 'disconnected', legId, reason, code });
    });
    leg.on('error', (err) => send({ type: 'error', legId, error: serializeError(err) }));
    send({
      type: 'result',
      requestId,
      ok: true,
      value: { participantSid: leg.participantSid, participants: leg.participants },
    });
    return leg;
  } catch (err) {
    send({ type: 'result', requestId, ok: false, error: serializeError(err) });
    return undefined;
  }
}

async function answer(requestId: number, work: () => Promise<void>): Promise<void> {
  try {
    await work();
    send({ type: 'result', requestId, ok: true });
  } catch (err) {
    send({ type: 'result', requestId, ok: false, error: serializeError(err) });
  }
}

function requireLeg(legId: number): RoomLeg {
  const leg = legs.get(legId);
  if (!leg) throw new Error(`room worker has no leg ${legId}`);
  return leg;
}

function handle(message: ParentToWorkerMessage): void {
  switch (message.type) {
    case 'join': {
      const pending = join(message.requestId, message.legId, message);
      joining.set(message.legId, pending);
      void pending.finally(() => joining.delete(message.legId));
      return;
    }
    case 'dtmf':
      void answer(message.requestId, () => requireLeg(message.legId).sendDtmf(message.digit));
      return;
    case 'setAttributes':
      void answer(message.requestId, () =>
        requireLeg(message.legId).setAttributes(message.attributes),
      );
      return;
    case 'sendData':
      void answer(message.requestId, () =>
        requireLeg(message.legId).sendData(
          message.topic,
          new Uint8Array(Buffer.from(message.payloadBase64, 'base64')),
          message.destinationIdentity,
        ),
      );
      return;
    case 'close':
      void answer(message.requestId, async () => {
        const leg = legs.get(message.legId) ?? (await joining.get(message.legId));
        legs.delete(message.legId);
        await leg?.close();
      });
      return;
    case 'shutdown':
      void exit(0);
      return;
  }
}

async function exit(code: number): Promise<void> {
  if (exiting) return;
  exiting = true;
  clearInterval(statsTimer);
  const all = [...legs.values()];
  legs.clear();
  const timeout = new Promise<void>((resolve) => setTimeout(resolve, SHUTDOWN_GRACE_MS).unref());
  await Promise.race([
    (async () => {
      await Promise.all(all.map((leg) => leg.close()));
      await dispose();
    })().catch((err: unknown) => log.warn({ err }, 'room worker shutdown failed')),
    timeout,
  ]);
  audio.close();
  process.exit(code);
}

const statsTimer = setInterval(() => {
  if (legs.size === 0) return;
  send({ type: 'stats', legs: [...legs].map(([id, leg]) => [id, leg.stats]) });
}, STATS_INTERVAL_MS);

process.on('message', (message: ParentToWorkerMessage) => {
  if (!exiting) handle(message);
});
// The connector is gone (exited, crashed, killed): leave the rooms and exit, never linger.
process.on('disconnect', () => void exit(0));
process.on('SIGTERM', () => void exit(0));
process.on('SIGINT', () => undefined);
send({ type: 'ready' });
