import assert from 'node:assert/strict';
import { describe, test } from 'node:test';

import { SessionDescription as WeriftSessionDescription } from 'werift';

import { InvalidSdpError } from '../../../src/media/sdp/invalid-sdp-error.js';
import {
  DEFAULT_SDP_LIMITS,
  SessionDescription,
} from '../../../src/media/sdp/session-description.js';
import { META_BIC_ANSWERS, META_UIC_OFFERS, sdpFixture } from '../whatsapp/sdp-fixtures.js';

const ALL_CAPTURES = [
  ...META_UIC_OFFERS,
  ...META_BIC_ANSWERS,
  'doc-bic-offer.sdp',
  'doc-uic-answer.sdp',
  'cap1-aiortc-answer-accepted.sdp',
];

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidSdpError) return err.reason;
    throw err;
  }
  return undefined;
}

/** Meta's real offer with `count` extra host candidates, as in the hostile offer of issue 10. */
function offerWithCandidates(count: number): string {
  const base = sdpFixture('cap2-uic-offer-2026-10-02.sdp');
  const extra: string[] = [];
  for (let i = 0; i < count; i++) {
    extra.push(
      `a=candidate:${1000 + i} 1 udp 2122260223 10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255} ${1024 + (i % 60000)} typ host generation 0 network-cost 50`,
    );
  }
  return base.replace('a=ice-ufrag:', `${extra.join('\r\n')}\r\na=ice-ufrag:`);
}

describe('SessionDescription', () => {
  test("parse → serialise gives every capture back byte for byte; werift's model does not", () => {
    let weriftDiffers = 0;
    for (const name of ALL_CAPTURES) {
      const text = sdpFixture(name);
      // Trailing whitespace is the one thing trimmed (the aiortc capture has some).
      const trimmed = text.replace(/[ \t]+\r\n/g, '\r\n');
      assert.equal(SessionDescription.parse(text).toString(), trimmed, name);
      if (WeriftSessionDescription.parse(text).string !== text) weriftDiffers++;
    }
    // The reason this model exists: werift drops a=ptime/maxptime and candidate extensions.
    assert.ok(weriftDiffers >= META_UIC_OFFERS.length, `${weriftDiffers} captures differ`);
  });

  test("typed accessors read Meta's offer", () => {
    const sdp = SessionDescription.parse(sdpFixture('cap3-uic-offer-2025-11-05.sdp'));
    const audio = sdp.audio();
    assert.ok(audio);
    assert.equal(audio.kind, 'audio');
    assert.equal(audio.port, 3484);
    assert.deepEqual(audio.formats, ['111', '126']);
    assert.deepEqual(
      audio.codecs().map((c) => [c.payloadType, c.name, c.clockRate, c.channels]),
      [
        [111, 'opus', 48000, 2],
        [126, 'telephone-event', 8000, undefined],
      ],
    );
    assert.equal(audio.codecs()[0]?.fmtp.maxaveragebitrate, '20000');
    assert.deepEqual(
      audio.candidates().map((c) => c.address),
      ['163.70.144.130', '2a03:2880:f288:1d4:face:b00c:0:699c'],
    );
    assert.equal(sdp.setupOf(audio), 'actpass');
    assert.equal(sdp.directionOf(audio), 'sendrecv');
    assert.equal(sdp.connectionAddressOf(audio), '163.70.144.130');
    assert.deepEqual(audio.ssrcs(), [972010428]);
    assert.equal(sdp.session.hasAttribute('ice-lite'), true);
    assert.equal(sdp.fingerprintsOf(audio)[0]?.algorithm, 'sha-256');
  });

  test('edits change only what they name: a payload type with its lines, an attribute, the m= line', () => {
    const sdp = SessionDescription.parse(sdpFixture('doc-bic-offer.sdp'));
    const audio = sdp.audio();
    assert.ok(audio);
    audio.removeFormat('63');
    audio.setAttribute('setup', 'active');
    audio.addAttribute('ptime', '20', (a) => a.name === 'rtpmap');
    const out = sdp.toString();
    assert.match(out, /\r\nm=audio 9 UDP\/TLS\/RTP\/SAVPF 111 9 0 8 110 126\r\n/);
    assert.doesNotMatch(out, /red\/48000|fmtp:63/);
    assert.match(out, /\r\na=setup:active\r\n/);
    assert.match(out, /a=rtpmap:126 telephone-event\/8000\r\na=ptime:20\r\n/);
    // Everything else is untouched.
    const before = sdpFixture('doc-bic-offer.sdp').split('\r\n');
    const after = new Set(out.split('\r\n'));
    const lost = before.filter(
      (l) => !after.has(l) && !/^(m=|a=rtpmap:63|a=fmtp:63|a=setup:)/.test(l),
    );
    assert.deepEqual(lost, []);
  });

  test('LF endings are read and written back as CRLF; junk lines become warnings', () => {
    const text = `garbage before\n${sdpFixture('cap1-uic-offer-2025-10-17.sdp').replace(/\r\n/g, '\n')}not a line\n`;
    const sdp = SessionDescription.parse(text);
    assert.equal(sdp.lineEndings, 'lf');
    assert.equal(sdp.toString(), sdpFixture('cap1-uic-offer-2025-10-17.sdp'));
    assert.deepEqual(
      sdp.warnings.map((w) => w.line),
      [1, 29],
    );
  });

  test('non-SDP and malformed m= lines are refused with a typed reason', () => {
    for (const input of [undefined, null, 42, {}, '', '  \r\n', 'hello', 'm=audio 9 RTP/AVP 0']) {
      assert.equal(
        reasonOf(() => SessionDescription.parse(input)),
        'not_sdp',
        String(input),
      );
    }
    assert.equal(
      reasonOf(() => SessionDescription.parse('v=0\r\nm=audio x\r\n')),
      'malformed',
    );
    assert.equal(
      reasonOf(() => SessionDescription.parse('v=0\r\nm=audio 70000 RTP/AVP 0\r\n')),
      'malformed',
    );
  });

  test('limits: size, candidates, lines, line length and m= sections, each with an actionable message', () => {
    const big = offerWithCandidates(15_000);
    assert.ok(big.length > 700 * 1024, `${big.length} bytes`);
    let message = '';
    try {
      SessionDescription.parse(big);
    } catch (err) {
      message = (err as Error).message;
      assert.ok(err instanceof InvalidSdpError);
      assert.equal(err.reason, 'too_large');
      assert.equal(err.code, 'invalid_argument');
    }
    assert.match(message, /at most 65536 are accepted/);

    const manyCandidates = offerWithCandidates(DEFAULT_SDP_LIMITS.maxCandidates);
    assert.ok(manyCandidates.length < DEFAULT_SDP_LIMITS.maxBytes, 'under the size limit');
    assert.equal(
      reasonOf(() => SessionDescription.parse(manyCandidates)),
      'too_many_candidates',
    );
    assert.equal(
      reasonOf(() => SessionDescription.parse(offerWithCandidates(30))),
      undefined,
      '32 candidates in all are fine',
    );

    const manyLines = `v=0\r\n${'a=x\r\n'.repeat(DEFAULT_SDP_LIMITS.maxLines)}`;
    assert.equal(
      reasonOf(() => SessionDescription.parse(manyLines)),
      'too_many_lines',
    );
    const longLine = `v=0\r\na=${'x'.repeat(DEFAULT_SDP_LIMITS.maxLineLength)}\r\n`;
    assert.equal(
      reasonOf(() => SessionDescription.parse(longLine)),
      'line_too_long',
    );
    const manyMedia = `v=0\r\n${'m=audio 9 RTP/AVP 0\r\n'.repeat(DEFAULT_SDP_LIMITS.maxMediaSections + 1)}`;
    assert.equal(
      reasonOf(() => SessionDescription.parse(manyMedia)),
      'too_many_media',
    );
  });

  test('the 774 KiB offer with 15,000 candidates is refused well under 50 ms (functional bound)', () => {
    const big = offerWithCandidates(15_000);
    let worst = 0;
    for (let i = 0; i < 20; i++) {
      const started = performance.now();
      assert.equal(
        reasonOf(() => SessionDescription.parse(big)),
        'too_large',
      );
      worst = Math.max(worst, performance.now() - started);
    }
    assert.ok(worst < 50, `worst refusal took ${worst.toFixed(2)} ms`);
    // Many candidates packed under the size limit stop the scan at the 33rd.
    const packed = `v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n${'a=candidate:1 1 udp 1 1.2.3.4 5 typ host\r\n'.repeat(1500)}`;
    assert.ok(packed.length < DEFAULT_SDP_LIMITS.maxBytes);
    const started = performance.now();
    assert.equal(
      reasonOf(() => SessionDescription.parse(packed)),
      'too_many_candidates',
    );
    assert.ok(performance.now() - started < 50);
  });
});
