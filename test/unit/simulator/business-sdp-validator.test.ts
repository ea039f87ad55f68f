import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  SimulatedGraphError,
  validateBusinessSdp,
  validateBusinessSession,
} from '../../../src/simulator/index.js';

/** The aiortc answer Meta accepted in a real call ([CAP-1]), verbatim apart from line endings. */
const ACCEPTED_BY_META = [
  'v=0',
  'o=- 3969670312 3969670312 IN IP4 0.0.0.0',
  's=-',
  't=0 0',
  'a=group:BUNDLE audio',
  'a=msid-semantic:WMS *',
  'm=audio 51420 UDP/TLS/RTP/SAVPF 111',
  'c=IN IP4 192.168.0.105',
  'a=sendrecv',
  'a=mid:audio',
  'a=rtcp:9 IN IP4 0.0.0.0',
  'a=rtcp-mux',
  'a=ssrc:871350736 cname:571588de-f844-4e01-8bef-e64c539ea7fa',
  'a=rtpmap:111 opus/48000/2',
  'a=candidate:81e4055b388bb46e1abb9c8a0f6f87ce 1 udp 2130706431 192.168.0.105 51420 typ host',
  'a=end-of-candidates',
  'a=ice-ufrag:TJvS',
  'a=ice-pwd:KTrAGZGgLLknVI4GLfjXFp',
  'a=fingerprint:SHA-256 5C:8E:0A:DD:2B:2B:5E:AC:6C:13:71:2E:C8:E4:0A:B5:F5:2C:7D:D7:38:97:0A:B2:4F:F5:14:8E:4A:10:22:CE',
  'a=setup:active',
  '',
];

function code(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof SimulatedGraphError) return err.graphCode;
    throw err;
  }
  return undefined;
}

test('the answer Meta accepted in a real call passes (no telephone-event, uppercase SHA-256, LF or CRLF)', () => {
  assert.equal(
    code(() => validateBusinessSdp(ACCEPTED_BY_META.join('\r\n'))),
    undefined,
  );
  assert.equal(
    code(() => validateBusinessSdp(ACCEPTED_BY_META.join('\n'))),
    undefined,
  );
});

test('rejections: no ICE credentials, not SDP, wrong or missing session fields', () => {
  const noIce = ACCEPTED_BY_META.filter((l) => !l.startsWith('a=ice-pwd')).join('\r\n');
  assert.equal(
    code(() => validateBusinessSdp(noIce)),
    138008,
  );
  assert.equal(
    code(() => validateBusinessSdp('hello')),
    138008,
  );
  assert.equal(
    code(() => validateBusinessSession(undefined, 'answer')),
    100,
  );
  assert.equal(
    code(() => validateBusinessSession({ sdp: ACCEPTED_BY_META.join('\r\n') }, 'answer')),
    100,
  );
  assert.equal(
    code(() => validateBusinessSession({ sdp_type: 'answer', sdp: 42 }, 'answer')),
    100,
  );
});
