import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildMetaAnswer, buildMetaOffer, META_OPUS_FMTP } from '../../../src/whatsapp/meta-sdp.js';

/** A werift local description, as the relay peer produces it (trimmed from a real run). */
const WERIFT_OFFER = [
  'v=0',
  'o=- 62227592 0 IN IP4 0.0.0.0',
  's=-',
  't=0 0',
  'a=group:BUNDLE audio',
  'a=extmap-allow-mixed',
  'a=msid-semantic:WMS *',
  'm=audio 9 UDP/TLS/RTP/SAVPF 111 126',
  'c=IN IP4 0.0.0.0',
  'a=candidate:626da4e5384a0ce2d0d93678a 1 udp 2116026367 127.0.0.1 56024 typ host generation 0 ufrag 0bd5',
  'a=candidate:32b1715da3b0ef8ba684454eb 1 udp 2116026367 192.0.2.2 33535 typ host generation 0 ufrag 0bd5',
  'a=end-of-candidates',
  'a=ice-ufrag:0bd5',
  'a=ice-pwd:ad48b3eb2652a54d8cf3be',
  'a=ice-lite',
  'a=ice-options:trickle',
  'a=fingerprint:sha-256 8D:7D:39:C6:E3:A4:F6:1D:E6:F3:14:AB:64:0F:FE:F1:06:05:18:68:75:07:F1:9C:8F:63:0C:7D:78:62:3A:FF',
  'a=setup:actpass',
  'a=sendrecv',
  'a=mid:audio',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=rtcp-mux',
  'a=ssrc:2715600276 cname:effb90f0-d48e-40ff-b71b-8061bec5bdbc',
  'a=rtpmap:111 opus/48000/2',
  'a=rtcp-fb:111 transport-cc',
  `a=fmtp:111 ${META_OPUS_FMTP}`,
  'a=rtpmap:126 telephone-event/8000',
  '',
].join('\r\n');

test("the offer has the line sequence of Meta's captured user-initiated offers", () => {
  const sdp = buildMetaOffer(WERIFT_OFFER, '127.0.0.1');
  assert.ok(sdp.endsWith('\r\n'));
  const lines = sdp.trimEnd().split('\r\n');
  const shape = lines.map((l) =>
    l
      .replace(/^o=- \d+ /, 'o=- N ')
      .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/, 'UUID')
      .replace(/^a=candidate:\d+ /, 'a=candidate:F ')
      .replace(/^(a=fingerprint:sha-256) .*/, '$1 FP'),
  );
  assert.deepEqual(shape, [
    'v=0',
    'o=- N 2 IN IP4 127.0.0.1',
    's=-',
    't=0 0',
    'a=group:BUNDLE audio',
    'a=msid-semantic: WMS UUID',
    'a=ice-lite',
    'm=audio 56024 UDP/TLS/RTP/SAVPF 111 126',
    'c=IN IP4 127.0.0.1',
    'a=rtcp:9 IN IP4 0.0.0.0',
    'a=candidate:F 1 udp 2122260223 127.0.0.1 56024 typ host generation 0 network-cost 50',
    'a=ice-ufrag:0bd5',
    'a=ice-pwd:ad48b3eb2652a54d8cf3be',
    'a=fingerprint:sha-256 FP',
    'a=setup:actpass',
    'a=mid:audio',
    'a=sendrecv',
    'a=msid:UUID WhatsAppTrack1',
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    'a=fmtp:111 maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1',
    'a=rtpmap:126 telephone-event/8000',
    'a=maxptime:20',
    'a=ptime:20',
    'a=ssrc:2715600276 cname:WhatsAppAudioStream1',
  ]);
});

test('the answer keeps the mid, DTLS role and payload types werift negotiated, in the doc-sample shape', () => {
  const weriftAnswer = WERIFT_OFFER.replace('a=mid:audio', 'a=mid:0')
    .replace('a=group:BUNDLE audio', 'a=group:BUNDLE 0')
    .replace('a=setup:actpass', 'a=setup:active')
    .replace('111 126', '109 101')
    .replace(/rtpmap:111/g, 'rtpmap:109')
    .replace(/rtcp-fb:111|fmtp:111/g, (m) => m.replace('111', '109'))
    .replace('rtpmap:126', 'rtpmap:101');
  const sdp = buildMetaAnswer(weriftAnswer, '127.0.0.1');
  for (const line of [
    'a=group:BUNDLE 0',
    'a=ice-lite',
    'm=audio 56024 UDP/TLS/RTP/SAVPF 109 101',
    'a=ice-options:trickle',
    'a=setup:active',
    'a=mid:0',
    'a=rtpmap:109 opus/48000/2',
    'a=rtpmap:101 telephone-event/8000',
  ]) {
    assert.ok(sdp.includes(`\r\n${line}\r\n`), `answer lacks ${line}`);
  }
  assert.match(
    sdp,
    /a=candidate:\d+ 1 udp 2113937151 127\.0\.0\.1 56024 typ host generation 0 network-cost 50 ufrag 0bd5\r\n/,
  );
  assert.equal(sdp.match(/a=candidate/g)?.length, 1);
});

test('a relay without a candidate on its address is a programming error, not a silent bad SDP', () => {
  assert.throws(() => buildMetaOffer(WERIFT_OFFER, '10.9.9.9'), /no UDP candidate on 10\.9\.9\.9/);
});
