import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  clearMessage,
  markMessage,
  mediaMessage,
  parseInboundFrame,
} from '../../../src/twilio/media-stream-messages.js';

// Shapes of Twilio's documented examples ("Media Streams - WebSocket Messages").
const STREAM = 'MZ18ad3ab5a668481ce02b83e7395059f0';
const CALL = 'CA5e5bd4e4b2e1b1bcb0a5f5ef3e9e0f4a';
const ACCOUNT = 'AC25e16e9a716a4a1786a7c83f58e30482';

const twilioFrames = {
  connected: { event: 'connected', protocol: 'Call', version: '1.0.0' },
  start: {
    event: 'start',
    sequenceNumber: '1',
    start: {
      accountSid: ACCOUNT,
      streamSid: STREAM,
      callSid: CALL,
      tracks: ['inbound'],
      mediaFormat: { encoding: 'audio/x-mulaw', sampleRate: 8000, channels: 1 },
      customParameters: { FirstName: 'Jane', LastName: 'Doe', RemoteParty: 'Bob' },
    },
    streamSid: STREAM,
  },
  media: {
    event: 'media',
    sequenceNumber: '3',
    media: {
      track: 'inbound',
      chunk: '1',
      timestamp: '5',
      payload:
        'no+JhoaJjpzSHxAKBgYJDhtEopGKh4aIjZm7JhILBwYIDRg1qZSLh4aIjJevLBUMBwYHChUqr5iMiIaHi5Sk',
    },
    streamSid: STREAM,
  },
  dtmf: {
    event: 'dtmf',
    streamSid: STREAM,
    sequenceNumber: '5',
    dtmf: { track: 'inbound_track', digit: '1' },
  },
  mark: { event: 'mark', sequenceNumber: '4', streamSid: STREAM, mark: { name: 'my label' } },
  stop: {
    event: 'stop',
    sequenceNumber: '5',
    stop: { accountSid: ACCOUNT, callSid: CALL },
    streamSid: STREAM,
  },
};

function parse(value: unknown) {
  return parseInboundFrame(JSON.stringify(value), false);
}

describe('parseInboundFrame', () => {
  it('accepts every message Twilio sends, as documented', () => {
    for (const [event, frame] of Object.entries(twilioFrames)) {
      const parsed = parse(frame);
      assert.ok(parsed.ok, `${event}: ${parsed.ok ? '' : parsed.problem}`);
      assert.equal(parsed.frame.event, event);
    }
  });

  it('defaults missing custom parameters and ignores unknown extra fields', () => {
    const { customParameters: _omit, ...start } = twilioFrames.start.start;
    const parsed = parse({ ...twilioFrames.start, start, futureField: 1 });
    assert.ok(parsed.ok);
    assert.equal(parsed.frame.event, 'start');
    if (parsed.frame.event === 'start') assert.deepEqual(parsed.frame.start.customParameters, {});
  });

  it('reads a Buffer like a string', () => {
    const parsed = parseInboundFrame(Buffer.from(JSON.stringify(twilioFrames.mark)), false);
    assert.ok(parsed.ok);
  });

  it('names the problem of a bad frame without echoing its values', () => {
    const cases: Array<[unknown, RegExp]> = [
      ['{not json', /not JSON/],
      [{ event: 'hello' }, /unknown or missing "event"/],
      [{ noEvent: true }, /unknown or missing "event"/],
      [
        { ...twilioFrames.media, media: { ...twilioFrames.media.media, payload: 'a$b=' } },
        /^media\.payload: expected base64$/,
      ],
      [{ ...twilioFrames.media, sequenceNumber: 3 }, /^sequenceNumber: /],
      [
        { ...twilioFrames.media, media: { ...twilioFrames.media.media, track: 'sideways' } },
        /^media\.track: /,
      ],
      [
        { ...twilioFrames.dtmf, dtmf: { track: 'inbound_track', digit: '12' } },
        /^dtmf\.digit: expected one DTMF digit$/,
      ],
      [{ ...twilioFrames.start, streamSid: 'MZ secret <script>' }, /^streamSid: expected an id/],
      [{ ...twilioFrames.mark, mark: {} }, /^mark\.name: /],
      [{ ...twilioFrames.stop, stop: { callSid: CALL } }, /^stop\.accountSid: /],
    ];
    for (const [frame, problem] of cases) {
      const parsed = typeof frame === 'string' ? parseInboundFrame(frame, false) : parse(frame);
      assert.equal(parsed.ok, false);
      if (!parsed.ok) {
        assert.match(parsed.problem, problem);
        assert.doesNotMatch(parsed.problem, /secret|script|a\$b/);
      }
    }
  });

  it('refuses binary frames', () => {
    const parsed = parseInboundFrame(Buffer.from(JSON.stringify(twilioFrames.mark)), true);
    assert.deepEqual(parsed, { ok: false, problem: 'binary frame (Twilio sends JSON text)' });
  });
});

describe('messages to Twilio', () => {
  it('builds media, mark and clear as Twilio expects them', () => {
    const bytes = new Uint8Array([0xff, 0x7f, 0x00, 0x80]);
    assert.deepEqual(JSON.parse(mediaMessage(STREAM, bytes)), {
      event: 'media',
      streamSid: STREAM,
      media: { payload: Buffer.from(bytes).toString('base64') },
    });
    assert.deepEqual(JSON.parse(markMessage(STREAM, 'lk-1')), {
      event: 'mark',
      streamSid: STREAM,
      mark: { name: 'lk-1' },
    });
    assert.deepEqual(JSON.parse(clearMessage(STREAM)), { event: 'clear', streamSid: STREAM });
  });

  it('encodes only the view of a subarray', () => {
    const backing = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const view = backing.subarray(2, 4);
    const payload = (JSON.parse(mediaMessage(STREAM, view)) as { media: { payload: string } }).media
      .payload;
    assert.deepEqual([...Buffer.from(payload, 'base64')], [3, 4]);
  });
});
