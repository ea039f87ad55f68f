import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RTCRtpSender, RtpPacket } from 'werift';
import { LocalAudioTrack } from '../../../src/livekit/local-audio-track.js';
import { LiveKitError } from '../../../src/livekit/livekit-errors.js';
import { OPUS_PAYLOAD_TYPE } from '../../../src/livekit/peer-transport.js';

/** The part of werift's RTCRtpSender the track uses, recording what it is given. */
function fakeSender(state: 'connected' | 'connecting' = 'connected') {
  const packets: RtpPacket[] = [];
  const sender = {
    codec: { payloadType: OPUS_PAYLOAD_TYPE },
    dtlsTransport: { state },
    sendRtp: async (packet: RtpPacket) => {
      packets.push(packet);
    },
  };
  return { sender: sender as unknown as RTCRtpSender, packets, transport: sender.dtlsTransport };
}

const opus = (n: number) => new Uint8Array([0x78, n]);

test('the track numbers packets itself and passes payload, timestamp and marker through', () => {
  const track = new LocalAudioTrack({ name: 'caller' });
  const { sender, packets } = fakeSender();
  track.attach(sender, 'TR_1', () => {});
  assert.equal(track.writeRtp({ payload: opus(1), timestamp: 960, marker: true }), true);
  assert.equal(track.writeRtp({ payload: opus(2), timestamp: 1920 }), true);
  assert.equal(packets.length, 2);
  const [first, second] = packets as [RtpPacket, RtpPacket];
  assert.equal(second.header.sequenceNumber, (first.header.sequenceNumber + 1) & 0xffff);
  assert.equal(first.header.timestamp, 960);
  assert.equal(first.header.marker, true);
  assert.equal(second.header.marker, false);
  assert.equal(first.header.payloadType, OPUS_PAYLOAD_TYPE);
  assert.deepEqual([...first.payload], [0x78, 1]);
  assert.deepEqual(track.stats, { packetsSent: 2, packetsDropped: 0, payloadBytesSent: 4 });
});

test('sequence numbers continue across a new sender (full reconnect)', () => {
  const track = new LocalAudioTrack({ name: 'caller' });
  const a = fakeSender();
  track.attach(a.sender, 'TR_1', () => {});
  track.writeRtp({ payload: opus(1), timestamp: 0 });
  track.detach();
  assert.equal(track.writeRtp({ payload: opus(2), timestamp: 960 }), false);
  const b = fakeSender();
  const published: string[] = [];
  track.on('published', (sid) => published.push(sid));
  track.attach(b.sender, 'TR_2', () => {});
  track.writeRtp({ payload: opus(3), timestamp: 1920 });
  assert.equal(
    b.packets[0]!.header.sequenceNumber,
    (a.packets[0]!.header.sequenceNumber + 1) & 0xffff,
  );
  assert.deepEqual(published, ['TR_2']);
  assert.equal(track.sid, 'TR_2');
});

test('packets are dropped, and counted, when not connected, muted or ended', () => {
  const track = new LocalAudioTrack({ name: 'caller' });
  assert.equal(track.writeRtp({ payload: opus(1), timestamp: 0 }), false);
  const { sender, packets, transport } = fakeSender('connecting');
  const mutes: boolean[] = [];
  track.attach(sender, 'TR_1', (muted) => mutes.push(muted));
  assert.equal(track.writeRtp({ payload: opus(1), timestamp: 0 }), false);
  transport.state = 'connected';
  track.setMuted(true);
  track.setMuted(true);
  assert.equal(track.writeRtp({ payload: opus(1), timestamp: 0 }), false);
  track.setMuted(false);
  assert.equal(track.writeRtp({ payload: opus(1), timestamp: 0 }), true);
  assert.deepEqual(mutes, [true, false]);
  track.end();
  assert.equal(track.writeRtp({ payload: opus(1), timestamp: 0 }), false);
  assert.equal(packets.length, 1);
  assert.equal(track.stats.packetsDropped, 4);
});

test('a track without a name is refused', () => {
  assert.throws(
    () => new LocalAudioTrack({ name: '' }),
    (err: unknown) => err instanceof LiveKitError && err.reason === 'invalid-argument',
  );
});

test('a forwarder may number packets itself: gaps and reordering kept, own numbering carries on after', () => {
  const track = new LocalAudioTrack({ name: 'caller' });
  const { sender, packets } = fakeSender();
  track.attach(sender, 'TR_1', () => {});
  track.writeRtp({ payload: opus(1), timestamp: 0, sequenceNumber: 65534 });
  track.writeRtp({ payload: opus(3), timestamp: 1920, sequenceNumber: 0 }); // 65535 late
  track.writeRtp({ payload: opus(2), timestamp: 960, sequenceNumber: 65535 });
  track.writeRtp({ payload: opus(4), timestamp: 2880 }); // the track's own numbering
  assert.deepEqual(
    packets.map((p) => p.header.sequenceNumber),
    [65534, 0, 65535, 1],
  );
});
