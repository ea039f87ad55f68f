import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MediaStreamSession,
  closeReason,
  type MediaStreamEndReason,
  type MediaStreamLimits,
  type MediaStreamStart,
  type MediaStreamTransport,
} from '../../../src/twilio/media-stream-session.js';

const STREAM = 'MZ00000000000000000000000000000001';
const CALL = 'CA00000000000000000000000000000001';
const ACCOUNT = 'AC00000000000000000000000000000001';

/** An in-memory WebSocket: records what the session sends and how it closes. */
class FakeTransport implements MediaStreamTransport {
  readonly sent: Array<Record<string, unknown>> = [];
  bufferedAmount = 0;
  closed: { code: number; reason: string } | undefined;
  closeCalls = 0;

  send(text: string): void {
    this.sent.push(JSON.parse(text) as Record<string, unknown>);
  }

  close(code: number, reason: string): void {
    this.closeCalls++;
    this.closed = { code, reason };
  }

  events(event: string): Array<Record<string, unknown>> {
    return this.sent.filter((m) => m.event === event);
  }
}

/** A session on a fake transport and a manual clock, recording its events. */
function harness(limits: Partial<MediaStreamLimits> = {}) {
  const transport = new FakeTransport();
  const clock = { now: 0 };
  const session = new MediaStreamSession({
    transport,
    limits: { silenceTimeoutMs: 60_000, ...limits },
    now: () => clock.now,
  });
  const seen = {
    start: [] as MediaStreamStart[],
    audio: [] as Uint8Array[],
    dtmf: [] as string[],
    end: [] as Array<[MediaStreamEndReason, string]>,
  };
  session.on('start', (s) => seen.start.push(s));
  session.on('audio', (a) => seen.audio.push(a));
  session.on('dtmf', (d) => seen.dtmf.push(d));
  session.on('end', (r, d) => seen.end.push([r, d]));
  sessions.push(session);
  let seq = 0;
  const send = (frame: Record<string, unknown>) =>
    session.receive(JSON.stringify({ sequenceNumber: String(++seq), ...frame }), false);
  const start = (overrides: Record<string, unknown> = {}) => {
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
        accountSid: ACCOUNT,
        tracks: ['inbound'],
        customParameters: { who: 'test' },
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
        ...overrides,
      },
    });
  };
  let chunk = 0;
  const media = (bytes: number | Uint8Array, track = 'inbound') => {
    const payload = typeof bytes === 'number' ? new Uint8Array(bytes).fill(0x7f) : bytes;
    send({
      event: 'media',
      streamSid: STREAM,
      media: {
        track,
        chunk: String(++chunk),
        timestamp: String(chunk * 20),
        payload: Buffer.from(payload).toString('base64'),
      },
    });
  };
  const mark = (name: string) => send({ event: 'mark', streamSid: STREAM, mark: { name } });
  return { session, transport, clock, seen, send, start, media, mark };
}

const sessions: MediaStreamSession[] = [];
afterEach(() => {
  for (const s of sessions.splice(0)) s.close(1000, 'test over');
});

describe('MediaStreamSession: from Twilio', () => {
  it('emits start with the stream details, then 20 ms caller frames from media of any size', () => {
    const h = harness();
    h.start();
    assert.deepEqual(h.seen.start, [
      {
        streamSid: STREAM,
        callSid: CALL,
        accountSid: ACCOUNT,
        tracks: ['inbound'],
        customParameters: { who: 'test' },
      },
    ]);
    h.media(160);
    h.media(100);
    h.clock.now += 40;
    h.media(new Uint8Array(220).map((_, i) => i));
    assert.equal(h.seen.audio.length, 3);
    assert.ok(h.seen.audio.every((a) => a.length === 160));
    // Frame 2 is the 100 bytes of the second message, then the first 60 of the third.
    assert.deepEqual([...h.seen.audio[1]!.subarray(98, 102)], [0x7f, 0x7f, 0, 1]);
    assert.equal(h.seen.audio[2]![0], 60);
    assert.equal(h.session.stats.audioFramesReceived, 3);
    assert.equal(h.session.stats.malformedFrames, 0);
  });

  it('ignores media of another track than the caller', () => {
    const h = harness();
    h.start();
    h.media(160, 'outbound');
    assert.equal(h.seen.audio.length, 0);
  });

  it('emits DTMF digits in upper case', () => {
    const h = harness();
    h.start();
    for (const digit of ['1', '#', 'a']) {
      h.send({ event: 'dtmf', streamSid: STREAM, dtmf: { track: 'inbound_track', digit } });
    }
    assert.deepEqual(h.seen.dtmf, ['1', '#', 'A']);
  });

  it('counts frames out of order or for another stream as malformed, without acting on them', () => {
    const h = harness();
    h.media(160); // before start
    h.start();
    h.start(); // connected and start, again: two
    h.send({ event: 'dtmf', streamSid: 'MZother', dtmf: { track: 'inbound_track', digit: '1' } });
    h.session.receive(
      JSON.stringify({ event: 'connected', protocol: 'Call', version: '1' }),
      false,
    );
    assert.equal(h.session.stats.malformedFrames, 5);
    assert.equal(h.seen.start.length, 1);
    assert.deepEqual(h.seen.dtmf, []);
    assert.equal(h.seen.audio.length, 0);
    assert.equal(h.transport.closed, undefined);
  });

  it('closes with 1008 and the last problem once malformed frames pass the limit', () => {
    const h = harness({ maxMalformedFrames: 3 });
    h.start();
    h.session.receive('not json', false);
    h.session.receive(Buffer.from([1, 2, 3]), true);
    h.send({ event: 'nonsense' });
    assert.equal(h.transport.closed, undefined, 'three are tolerated');
    h.send({ event: 'media', streamSid: STREAM, media: { track: 'inbound' } });
    assert.deepEqual(h.transport.closed, {
      code: 1008,
      reason: 'too many malformed frames (last: media.chunk: Required)',
    });
    assert.deepEqual(h.seen.end, [
      ['protocol_error', 'too many malformed frames (last: media.chunk: Required)'],
    ]);
    h.media(160);
    assert.equal(h.seen.audio.length, 0, 'nothing is processed after the end');
  });

  it('refuses a start whose audio is not 8 kHz μ-law mono', () => {
    const h = harness();
    h.start({ mediaFormat: { encoding: 'audio/x-l16', sampleRate: 16000, channels: 1 } });
    assert.equal(h.seen.start.length, 0);
    assert.equal(h.transport.closed?.code, 1008);
    assert.match(
      h.transport.closed?.reason ?? '',
      /^unsupported media format audio\/x-l16\/16000\/1/,
    );
    assert.equal(h.seen.end[0]?.[0], 'protocol_error');
  });

  it('ends on stop (1000) and on a closed socket, once', () => {
    const h = harness();
    h.start();
    h.send({ event: 'stop', streamSid: STREAM, stop: { accountSid: ACCOUNT, callSid: CALL } });
    assert.deepEqual(h.transport.closed, { code: 1000, reason: 'stream stopped' });
    h.session.transportClosed(1000);
    assert.deepEqual(h.seen.end, [['stream_stopped', 'stream stopped']]);

    const g = harness();
    g.start();
    g.session.transportClosed(1006);
    assert.deepEqual(g.seen.end, [['stream_closed', 'websocket closed (1006)']]);
    assert.equal(g.transport.closeCalls, 0, 'an already closed socket is not closed again');
  });

  it('ends with media_timeout (1001) when no media arrives for the silence timeout', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    const transport = new FakeTransport();
    const session = new MediaStreamSession({
      transport,
      limits: { silenceTimeoutMs: 5000 },
      now: () => Date.now(),
    });
    const ends: string[] = [];
    session.on('end', (reason, detail) => ends.push(`${reason}: ${detail}`));
    let seq = 0;
    const send = (frame: Record<string, unknown>) =>
      session.receive(JSON.stringify({ sequenceNumber: String(++seq), ...frame }), false);
    t.mock.timers.tick(4000);
    send({
      event: 'start',
      streamSid: STREAM,
      start: {
        streamSid: STREAM,
        callSid: CALL,
        accountSid: ACCOUNT,
        tracks: ['inbound'],
        mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      },
    });
    const media = () =>
      send({
        event: 'media',
        streamSid: STREAM,
        media: { track: 'inbound', chunk: '1', timestamp: '0', payload: 'AAAA' },
      });
    // Media keeps it alive...
    for (let i = 0; i < 10; i++) {
      t.mock.timers.tick(4000);
      media();
    }
    assert.deepEqual(ends, []);
    // ...other frames (mark echoes) do not.
    for (let i = 0; i < 4; i++) {
      t.mock.timers.tick(1000);
      send({ event: 'mark', streamSid: STREAM, mark: { name: 'lk-1' } });
    }
    t.mock.timers.tick(999);
    assert.deepEqual(ends, []);
    t.mock.timers.tick(1);
    assert.deepEqual(ends, ['media_timeout: no media for 5000 ms']);
    assert.equal(transport.closed?.code, 1001);
  });

  it('bounds the wait for start by the silence timeout', (t) => {
    t.mock.timers.enable({ apis: ['setTimeout', 'Date'], now: 0 });
    const transport = new FakeTransport();
    const session = new MediaStreamSession({
      transport,
      limits: { silenceTimeoutMs: 5000 },
      now: () => Date.now(),
    });
    session.receive(
      JSON.stringify({ event: 'connected', protocol: 'Call', version: '1.0.0' }),
      false,
    );
    t.mock.timers.tick(5000);
    assert.equal(session.ended, true);
    assert.deepEqual(transport.closed, { code: 1001, reason: 'no media for 5000 ms' });
  });

  it('takes real-time audio and a burst up to maxBurstMs, drops the excess, closes a sustained flood', () => {
    const h = harness({ maxBurstMs: 200, maxFloodMs: 300, floodWindowMs: 5000 });
    h.start();
    // Real time for 10 s: nothing dropped.
    for (let i = 0; i < 500; i++) {
      h.clock.now += 20;
      h.media(160);
    }
    assert.equal(h.seen.audio.length, 500);
    // A network stall of 200 ms, then Twilio catches up at once: within the allowance.
    h.clock.now += 200;
    for (let i = 0; i < 10; i++) h.media(160);
    assert.equal(h.seen.audio.length, 510);
    assert.equal(h.session.stats.floodDroppedMs, 0);
    // More than that at once is ahead of real time: dropped...
    for (let i = 0; i < 10; i++) h.media(160);
    assert.equal(h.seen.audio.length, 510);
    assert.equal(h.session.stats.floodDroppedMs, 200);
    assert.equal(h.transport.closed, undefined);
    // ...and going on like that is a flood.
    for (let i = 0; i < 10; i++) h.media(160);
    assert.deepEqual(h.transport.closed as unknown, {
      code: 1008,
      reason: 'media flood: more than 300 ms of audio beyond real time',
    });
    assert.deepEqual(
      h.seen.end.map((e) => e[0]),
      ['media_flood'],
    );
  });

  it('forgives occasional excess: flood drops are counted per window', () => {
    const h = harness({ maxBurstMs: 100, maxFloodMs: 100, floodWindowMs: 1000 });
    h.start();
    // A source running 1 % fast for a minute: 0.2 ms over per frame.
    for (let i = 0; i < 3000; i++) {
      h.clock.now += 19.8;
      h.media(160);
    }
    assert.equal(h.transport.closed, undefined);
    assert.ok(h.session.stats.floodDroppedMs > 0);
    assert.ok(h.seen.audio.length > 2900);
  });
});

describe('MediaStreamSession: to Twilio', () => {
  const frame = new Uint8Array(160).fill(0xff);

  it('sends nothing before start, then media frames with the streamSid', () => {
    const h = harness();
    h.session.sendAudio(frame);
    assert.deepEqual(h.transport.sent, []);
    h.start();
    h.session.sendAudio(frame);
    assert.deepEqual(h.transport.sent, [
      {
        event: 'media',
        streamSid: STREAM,
        media: { payload: Buffer.from(frame).toString('base64') },
      },
    ]);
  });

  it('drops frames rather than queue them when the socket is backed up', () => {
    const h = harness({ maxSendQueueMs: 100 });
    h.start();
    h.session.sendAudio(frame);
    const size = JSON.stringify(h.transport.sent[0]).length;
    h.transport.bufferedAmount = size * 5; // 100 ms waiting: still fine
    h.session.sendAudio(frame);
    h.transport.bufferedAmount = size * 6; // 120 ms
    h.session.sendAudio(frame);
    assert.equal(h.transport.events('media').length, 2);
    assert.equal(h.session.stats.framesDropped, 1);
  });

  it('sends a mark every markIntervalFrames and measures the audio queued when it comes back', () => {
    const h = harness({ markIntervalFrames: 5, maxPlayoutBacklogMs: 1000 });
    h.start();
    for (let i = 0; i < 10; i++) h.session.sendAudio(frame);
    const marks = h.transport.events('mark').map((m) => (m.mark as { name: string }).name);
    assert.deepEqual(marks, ['lk-1', 'lk-2']);
    // Twilio played up to lk-1 while we had sent 10 frames: 5 frames (100 ms) still queued.
    h.mark('lk-1');
    assert.equal(h.session.stats.playoutBacklogMs, 100);
    assert.equal(h.session.stats.marksAcknowledged, 1);
    assert.equal(h.transport.events('clear').length, 0);
  });

  it('clears Twilio’s queue when a mark shows more than maxPlayoutBacklogMs queued', () => {
    const h = harness({ markIntervalFrames: 10, maxPlayoutBacklogMs: 500 });
    h.start();
    for (let i = 0; i < 40; i++) h.session.sendAudio(frame); // marks lk-1..lk-4
    h.mark('lk-1'); // 30 frames = 600 ms still queued at Twilio
    assert.equal(h.session.stats.playoutBacklogMs, 600);
    assert.equal(h.transport.events('clear').length, 1);
    assert.deepEqual(h.transport.sent.at(-1), { event: 'clear', streamSid: STREAM });
    // Twilio echoes the marks it dropped at once: they measure nothing and clear nothing.
    h.mark('lk-2');
    h.mark('lk-3');
    h.mark('lk-4');
    assert.equal(h.session.stats.marksAcknowledged, 1);
    assert.equal(h.transport.events('clear').length, 1);
    // After the clear, marks measure again.
    for (let i = 0; i < 10; i++) h.session.sendAudio(frame); // lk-5
    h.mark('lk-5');
    assert.equal(h.session.stats.playoutBacklogMs, 0);
    assert.equal(h.transport.events('clear').length, 1);
  });

  it('counts marks it never sent', () => {
    const h = harness();
    h.start();
    h.mark('someone-else');
    assert.equal(h.session.stats.unknownMarks, 1);
    assert.equal(h.session.stats.malformedFrames, 0);
  });

  it('close() closes the socket once and emits nothing', () => {
    const h = harness();
    h.start();
    h.session.close(1000, 'room closed');
    h.session.close(1011, 'again');
    assert.equal(h.transport.closeCalls, 1);
    assert.deepEqual(h.transport.closed, { code: 1000, reason: 'room closed' });
    h.session.sendAudio(frame);
    assert.equal(h.transport.events('media').length, 0);
    assert.equal(h.session.clear(), false);
    assert.deepEqual(h.seen.end, []);
  });
});

describe('closeReason', () => {
  it('keeps close reasons within 123 bytes of UTF-8', () => {
    assert.equal(closeReason('short'), 'short');
    const long = closeReason('é'.repeat(100));
    assert.ok(Buffer.byteLength(long) <= 123);
    assert.equal(long, 'é'.repeat(61));
  });
});
