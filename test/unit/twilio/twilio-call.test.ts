import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DisconnectReason } from '@livekit/protocol';
import { silentLogger } from '../../../src/log/index.js';
import type { RoomLegDisconnectReason, RoomLegEvents } from '../../../src/room/room-leg.js';
import { SafeEventEmitter } from '../../../src/util/typed-emitter.js';
import type { MediaStreamTransport } from '../../../src/twilio/media-stream-session.js';
import {
  TwilioCall,
  type TwilioCallState,
  type TwilioRoomLeg,
} from '../../../src/twilio/twilio-call.js';
import { TwilioCallRegistry } from '../../../src/twilio/twilio-call-registry.js';
import type { TwilioEndReason } from '../../../src/twilio/twilio-call-attributes.js';

const STREAM = 'MZ00000000000000000000000000000002';
const CALL = 'CA00000000000000000000000000000002';

/** The room leg's PCM interface in memory: records what the call does to it, in order. */
class FakeLeg extends SafeEventEmitter<RoomLegEvents> implements TwilioRoomLeg {
  readonly roomName = 'room-1';
  readonly participantIdentity = 'twilio-caller';
  readonly sampleRate = 16_000;
  connected = true;
  readonly ops: string[] = [];
  readonly attributes: Array<Record<string, string>> = [];
  readonly pushed: Int16Array[] = [];
  readonly dtmf: string[] = [];

  pushCallerAudio(pcm: Int16Array): void {
    this.pushed.push(pcm);
  }

  async sendDtmf(digit: string): Promise<void> {
    this.dtmf.push(digit);
  }

  async setAttributes(attrs: Record<string, string>): Promise<void> {
    this.ops.push(`attributes:${attrs['twilio.callStatus'] ?? ''}`);
    this.attributes.push(attrs);
  }

  async close(): Promise<void> {
    this.ops.push('close');
    this.connected = false;
  }

  mix(pcm: Int16Array): void {
    this.emit('audio', pcm);
  }

  roomEnds(reason: RoomLegDisconnectReason): void {
    this.connected = false;
    this.emit('disconnected', reason, DisconnectReason.ROOM_DELETED);
  }
}

class FakeTransport implements MediaStreamTransport {
  readonly sent: Array<Record<string, unknown>> = [];
  bufferedAmount = 0;
  closed: { code: number; reason: string } | undefined;
  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }
  close(code: number, reason: string): void {
    this.closed = { code, reason };
  }
}

const calls: TwilioCall[] = [];
afterEach(async () => {
  await Promise.all(calls.splice(0).map((c) => c.end('shutdown')));
});

function makeCall(
  options: {
    expiresInMs?: number;
    reveal?: () => Promise<void>;
    direction?: 'inbound' | 'outbound';
    sessionId?: string;
  } = {},
) {
  const leg = new FakeLeg();
  const ops = leg.ops;
  const call = new TwilioCall({
    sessionId: options.sessionId ?? 'AAAAAAAAAAAAAAAAAAAAAA',
    direction: options.direction ?? 'outbound',
    roomName: leg.roomName,
    participantIdentity: leg.participantIdentity,
    expiresAtMs: Date.now() + (options.expiresInMs ?? 60_000),
    room: {
      leg,
      reveal:
        options.reveal ??
        (async () => {
          ops.push('reveal');
        }),
    },
    limits: { silenceTimeoutMs: 60_000 },
    logger: silentLogger,
  });
  calls.push(call);
  const states: TwilioCallState[] = [];
  const ended: TwilioEndReason[] = [];
  call.on('state', (s) => states.push(s));
  call.on('ended', (r) => ended.push(r));
  return { call, leg, states, ended };
}

/** Attach a fake socket and play Twilio's connected + start on it. */
function connect(call: TwilioCall) {
  const transport = new FakeTransport();
  const session = call.attach(transport);
  let seq = 0;
  const send = (frame: Record<string, unknown>) =>
    session.receive(JSON.stringify({ sequenceNumber: String(++seq), ...frame }), false);
  session.receive(
    JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }),
    false,
  );
  send({
    event: 'start',
    streamSid: STREAM,
    start: {
      streamSid: STREAM,
      callSid: CALL,
      accountSid: 'AC00000000000000000000000000000002',
      tracks: ['inbound'],
      customParameters: {},
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
    },
  });
  return { transport, session, send };
}

const tick = () => new Promise((r) => setImmediate(r));

describe('TwilioCall', () => {
  it('ends an unused connect URL at its expiry: url_expired set, then the participant leaves', async () => {
    const { call, leg, ended } = makeCall({ expiresInMs: 30 });
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(ended, ['url_expired']);
    assert.equal(call.state, 'ended');
    assert.deepEqual(leg.ops, ['attributes:hangup', 'close']);
    assert.deepEqual(leg.attributes[0], {
      'twilio.callStatus': 'hangup',
      'twilio.endReason': 'url_expired',
    });
  });

  it('on start sets the active attributes, then reveals the participant', async () => {
    const { call, leg, states } = makeCall({ direction: 'outbound' });
    connect(call);
    await tick();
    assert.deepEqual(states, ['connected', 'active']);
    assert.deepEqual(leg.ops, ['attributes:active', 'reveal']);
    const attrs = leg.attributes[0]!;
    assert.equal(attrs['twilio.callSid'], CALL);
    assert.equal(attrs['twilio.streamSid'], STREAM);
    assert.match(attrs['lk.connector.answerTime'] ?? '', /^\d{13}$/);
    assert.equal(call.summary().callSid, CALL);
  });

  it('does not set an answer time for inbound calls', async () => {
    const { call, leg } = makeCall({ direction: 'inbound' });
    connect(call);
    await tick();
    assert.equal(leg.attributes[0]?.['lk.connector.answerTime'], undefined);
  });

  it('carries audio both ways a 20 ms frame at a time, and DTMF into the room', async () => {
    const { call, leg } = makeCall();
    const { transport, send } = connect(call);
    await tick();
    send({
      event: 'media',
      streamSid: STREAM,
      media: {
        track: 'inbound',
        chunk: '1',
        timestamp: '20',
        payload: Buffer.alloc(160, 0xff).toString('base64'),
      },
    });
    assert.equal(leg.pushed.length, 1);
    assert.equal(leg.pushed[0]!.length, 320, '20 ms at 16 kHz');
    leg.mix(new Int16Array(320));
    const media = transport.sent.filter((m) => m.event === 'media');
    assert.equal(media.length, 1);
    const payload = (media[0]!.media as { payload: string }).payload;
    assert.equal(Buffer.from(payload, 'base64').length, 160, '20 ms of 8 kHz μ-law');
    send({ event: 'dtmf', streamSid: STREAM, dtmf: { track: 'inbound_track', digit: '#' } });
    assert.deepEqual(leg.dtmf, ['#']);
  });

  it('sends no room audio before Twilio’s start', () => {
    const { call, leg } = makeCall();
    const transport = new FakeTransport();
    call.attach(transport);
    leg.mix(new Int16Array(320));
    assert.deepEqual(transport.sent, []);
  });

  it('on stop sets hangup and stream_stopped before leaving, and closes the socket with 1000', async () => {
    const { call, leg, ended } = makeCall();
    const { transport, send } = connect(call);
    await tick();
    send({
      event: 'stop',
      streamSid: STREAM,
      stop: { accountSid: 'AC00000000000000000000000000000002', callSid: CALL },
    });
    await call.end('failed'); // resolves with the first end; the reason stays
    assert.deepEqual(ended, ['stream_stopped']);
    assert.deepEqual(leg.ops, ['attributes:active', 'reveal', 'attributes:hangup', 'close']);
    assert.equal(leg.attributes.at(-1)?.['twilio.endReason'], 'stream_stopped');
    assert.deepEqual(transport.closed, { code: 1000, reason: 'stream stopped' });
  });

  it('when the room ends the leg, closes the socket (1000, room closed) and ends as room_closed', async () => {
    const { call, leg, ended } = makeCall();
    const { transport } = connect(call);
    await tick();
    leg.roomEnds('room-deleted');
    await call.end('failed');
    assert.deepEqual(ended, ['room_closed']);
    assert.deepEqual(transport.closed, { code: 1000, reason: 'room closed' });
    // No attributes on a leg the room already ended.
    assert.deepEqual(leg.ops, ['attributes:active', 'reveal', 'close']);
  });

  it('maps a removed participant to participant_removed and a lost connection to failed (1011)', async () => {
    const a = makeCall();
    a.leg.roomEnds('participant-removed');
    await a.call.end('shutdown');
    assert.deepEqual(a.ended, ['participant_removed']);

    const b = makeCall();
    const { transport } = connect(b.call);
    await tick();
    b.leg.roomEnds('connection-lost');
    await b.call.end('shutdown');
    assert.deepEqual(b.ended, ['failed']);
    assert.deepEqual(transport.closed, { code: 1011, reason: 'room connection failed' });
  });

  it('ends as failed when the participant cannot be revealed', async () => {
    const { call, ended } = makeCall({
      reveal: async () => {
        throw new Error('livekit-server said no');
      },
    });
    const { transport } = connect(call);
    await tick();
    await tick();
    await call.end('shutdown');
    assert.deepEqual(ended, ['failed']);
    assert.equal(transport.closed?.code, 1011);
  });

  it('stays ended when the stream closes while the reveal is in flight', async () => {
    let finishReveal: () => void = () => undefined;
    const { call, leg, ended } = makeCall({
      reveal: () => new Promise<void>((resolve) => (finishReveal = resolve)),
    });
    const { session } = connect(call);
    await tick();
    session.transportClosed(1006);
    await call.end('shutdown');
    finishReveal();
    await tick();
    assert.deepEqual(ended, ['stream_closed']);
    assert.equal(call.state, 'ended');
    assert.equal(leg.ops.filter((o) => o === 'close').length, 1);
  });

  it('takes one stream only', () => {
    const { call } = makeCall();
    call.attach(new FakeTransport());
    assert.throws(
      () => call.attach(new FakeTransport()),
      /cannot attach a stream in state connected/,
    );
  });
});

describe('TwilioCallRegistry', () => {
  it('lets a connect URL be claimed once', () => {
    const registry = new TwilioCallRegistry({ maxCalls: 10 });
    const { call } = makeCall();
    registry.add(call);
    assert.deepEqual(registry.claim(call.sessionId), { ok: true, call });
    assert.deepEqual(registry.claim(call.sessionId), { ok: false, reason: 'used' });
    assert.deepEqual(registry.claim('BBBBBBBBBBBBBBBBBBBBBB'), { ok: false, reason: 'unknown' });
  });

  it('remembers after the end whether the URL was used or the call ended unused', async () => {
    const registry = new TwilioCallRegistry({ maxCalls: 10 });
    const used = makeCall();
    const unused = makeCall({ sessionId: 'CCCCCCCCCCCCCCCCCCCCCC' });
    registry.add(used.call);
    registry.add(unused.call);
    assert.ok(registry.claim(used.call.sessionId).ok);
    used.call.attach(new FakeTransport());
    await used.call.end('stream_closed');
    await unused.call.end('room_closed');
    assert.deepEqual(registry.claim(used.call.sessionId), { ok: false, reason: 'used' });
    assert.deepEqual(registry.claim(unused.call.sessionId), { ok: false, reason: 'ended' });
    assert.equal(registry.get(used.call.sessionId), undefined);
  });

  it('counts calls not yet ended against the capacity', async () => {
    const registry = new TwilioCallRegistry({ maxCalls: 2 });
    const a = makeCall();
    registry.add(a.call);
    assert.equal(registry.hasCapacity(), true);
    assert.equal(registry.hasCapacity(1), false, 'a call being set up counts');
    await a.call.end('stream_closed');
    assert.equal(registry.hasCapacity(1), true);
  });
});
