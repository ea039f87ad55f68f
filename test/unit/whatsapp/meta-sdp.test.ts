import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  normaliseMetaSdp,
  normaliseOurSdp,
  parseSdp,
  readMetaSdp,
  serialiseSdp,
  validateOurSdp,
  type MetaSdpProblem,
} from '../../../src/whatsapp/meta-sdp.js';
import { InvalidSdpError } from '../../../src/media/sdp/invalid-sdp-error.js';
import { META_BIC_ANSWERS, META_UIC_OFFERS, sdpFixture } from './sdp-fixtures.js';

function errorCodes(problems: MetaSdpProblem[]): string[] {
  return [...new Set(problems.filter((p) => p.severity === 'error').map((p) => p.code))].sort();
}

/** A conforming answer of ours, built from Meta's doc answer plus ptime. */
function goodAnswer(): string {
  return sdpFixture('doc-uic-answer.sdp').replace(
    'a=rtpmap:126 telephone-event/8000\r\n',
    'a=rtpmap:126 telephone-event/8000\r\na=ptime:20\r\n',
  );
}

describe('parsing', () => {
  test('every captured SDP parses into one audio section with CRLF endings', () => {
    for (const name of [
      ...META_UIC_OFFERS,
      ...META_BIC_ANSWERS,
      'doc-bic-offer.sdp',
      'doc-uic-answer.sdp',
      'cap1-aiortc-answer-accepted.sdp',
    ]) {
      const { sdp, problems } = parseSdp(sdpFixture(name));
      assert.ok(sdp, name);
      assert.deepEqual(problems, [], name);
      assert.equal(sdp.media.length, 1, name);
      assert.equal(sdp.media[0]?.kind, 'audio', name);
      assert.equal(sdp.lineEndings, 'crlf', name);
    }
  });

  test('parsing and serialising a capture gives back the same text', () => {
    for (const name of META_UIC_OFFERS) {
      const text = sdpFixture(name);
      const { sdp } = parseSdp(text);
      assert.ok(sdp);
      assert.equal(serialiseSdp(sdp), text, name);
    }
  });

  test('garbage is reported, never thrown', () => {
    const inputs: unknown[] = [
      undefined,
      null,
      42,
      {},
      '',
      '   ',
      'hello world',
      'm=audio 9 RTP/AVP 0\r\n',
      '\u0000\u0001\u0002=\uffff',
      'v=0\r\nm=audio notaport\r\n',
      'v=0',
    ];
    for (const input of inputs) {
      const parsed = parseSdp(input);
      assert.ok(parsed.problems.length > 0 || parsed.sdp !== undefined, String(input));
      const meta = normaliseMetaSdp(input, { type: 'offer' });
      assert.equal(meta.ok, false, String(input));
      const ours = validateOurSdp(input as string, { role: 'answer' });
      assert.equal(ours.ok, false, String(input));
      const normalised = normaliseOurSdp(input as string, { role: 'answer' });
      assert.equal(normalised.ok, false, String(input));
    }
  });

  test('a malformed m= line is an error, not a crash', () => {
    const { problems } = parseSdp('v=0\r\nm=audio notaport\r\n');
    assert.ok(problems.some((p) => p.code === 'malformed_line' && p.severity === 'error'));
  });
});

describe("Meta's SDP", () => {
  test('real user-initiated offers read as ICE-lite actpass Opus offers with DTMF', () => {
    for (const name of META_UIC_OFFERS) {
      const reading = normaliseMetaSdp(sdpFixture(name), { type: 'offer' });
      assert.equal(reading.ok, true, `${name}: ${JSON.stringify(reading.problems)}`);
      const s = reading.summary;
      assert.ok(s, name);
      assert.equal(s.iceLite, true, name);
      assert.equal(s.setup, 'actpass', name);
      assert.equal(reading.remoteSetup, 'actpass', name);
      assert.equal(s.mid, 'audio', name);
      assert.equal(s.opus?.payloadType, 111, name);
      assert.equal(s.telephoneEvent?.payloadType, 126, name);
      assert.equal(s.fingerprints.length, 1, name);
      assert.equal(s.fingerprints[0]?.algorithm, 'sha-256', name);
      assert.equal(s.candidates.length, 2, name);
      assert.equal(s.ssrcs.length, 1, name);
      assert.deepEqual(reading.changes, [], name);
    }
  });

  test('the current capture format carries the 16 kHz Opus constraints and ptime 20', () => {
    const s = normaliseMetaSdp(sdpFixture('cap2-uic-offer-2026-10-02.sdp'), {
      type: 'offer',
    }).summary;
    assert.equal(s?.opus?.fmtp.maxplaybackrate, '16000');
    assert.equal(s?.opus?.fmtp.useinbandfec, '1');
    assert.equal(s?.ptime, 20);
    assert.deepEqual(
      s?.candidates.map((c) => [c.address, c.port, c.type]),
      [
        ['57.144.43.49', 3480, 'host'],
        ['2a03:2880:f312:131:face:b00c:0:699c', 3480, 'host'],
      ],
    );
  });

  test('business-initiated answers read as active with candidates carrying a ufrag suffix', () => {
    for (const name of META_BIC_ANSWERS) {
      const reading = normaliseMetaSdp(sdpFixture(name), {
        type: 'answer',
        localSetup: 'actpass',
      });
      assert.equal(reading.ok, true, `${name}: ${JSON.stringify(reading.problems)}`);
      assert.equal(reading.remoteSetup, 'active', name);
      assert.equal(reading.summary?.mid, '0', name);
      assert.equal(reading.summary?.candidates.length, 2, name);
      assert.equal(reading.summary?.iceLite, true, name);
    }
  });

  test('an actpass answer is read as the complement of our role', () => {
    const answer = sdpFixture('doc-bic-answer.sdp').replace('a=setup:active', 'a=setup:actpass');
    const weAreClient = normaliseMetaSdp(answer, { type: 'answer' });
    assert.equal(weAreClient.remoteSetup, 'passive');
    assert.match(weAreClient.sdp, /\r\na=setup:passive\r\n/);
    assert.doesNotMatch(weAreClient.sdp, /actpass/);
    const weOfferedActpass = normaliseMetaSdp(answer, { type: 'answer', localSetup: 'actpass' });
    assert.equal(weOfferedActpass.remoteSetup, 'active');
    assert.match(weOfferedActpass.sdp, /\r\na=setup:active\r\n/);
  });

  test('an answer taking the same DTLS role as ours is an error', () => {
    const reading = normaliseMetaSdp(sdpFixture('doc-bic-answer.sdp'), {
      type: 'answer',
      localSetup: 'active',
    });
    assert.equal(reading.ok, false);
    assert.deepEqual(errorCodes(reading.problems), ['setup_role']);
  });

  test('unparseable and, on request, IPv6 candidates are dropped', () => {
    const text = sdpFixture('cap1-uic-offer-2025-10-17.sdp').replace(
      'a=ice-ufrag:',
      'a=candidate:broken\r\na=ice-ufrag:',
    );
    const reading = normaliseMetaSdp(text, { type: 'offer', dropIpv6Candidates: true });
    assert.equal(reading.ok, true);
    assert.deepEqual(
      reading.summary?.candidates.map((c) => c.address),
      ['57.144.215.49'],
    );
    assert.doesNotMatch(reading.sdp, /candidate:broken/);
    assert.ok(reading.problems.some((p) => p.code === 'candidate'));
  });

  test('LF-only Meta SDP is accepted and rewritten with CRLF', () => {
    const text = sdpFixture('cap3-uic-offer-2025-11-05.sdp').replace(/\r\n/g, '\n');
    const reading = normaliseMetaSdp(text, { type: 'offer' });
    assert.equal(reading.ok, true);
    assert.equal(reading.sdp, sdpFixture('cap3-uic-offer-2025-11-05.sdp'));
  });

  test('Meta SDP without fingerprint, credentials or Opus cannot connect', () => {
    const base = sdpFixture('cap1-uic-offer-2025-10-17.sdp');
    const cases: [string, string][] = [
      [base.replace(/a=fingerprint:[^\r]*\r\n/, ''), 'fingerprint_missing'],
      [base.replace(/a=ice-pwd:[^\r]*\r\n/, ''), 'ice_credentials'],
      [base.replace('opus/48000/2', 'PCMU/8000'), 'no_opus'],
      [
        base
          .replace(/a=candidate:[^\r]*\r\n/g, '')
          .replace('c=IN IP4 57.144.215.49', 'c=IN IP4 0.0.0.0'),
        'no_address',
      ],
    ];
    for (const [text, code] of cases) {
      const reading = normaliseMetaSdp(text, { type: 'offer' });
      assert.equal(reading.ok, false, code);
      assert.ok(errorCodes(reading.problems).includes(code), code);
    }
  });
});

describe('our SDP rules', () => {
  test('a conforming answer passes', () => {
    const result = validateOurSdp(goodAnswer(), {
      role: 'answer',
      remoteOffer: sdpFixture('cap1-uic-offer-2025-10-17.sdp'),
    });
    assert.deepEqual(errorCodes(result.problems), []);
    assert.equal(result.ok, true);
  });

  test('three fingerprints as aiortc emits them are rejected, as Meta does', () => {
    const text = goodAnswer().replace(
      /(a=fingerprint:[^\r]*\r\n)/,
      '$1a=fingerprint:sha-384 AA:BB\r\na=fingerprint:sha-512 CC:DD\r\n',
    );
    const result = validateOurSdp(text, { role: 'answer' });
    assert.deepEqual(errorCodes(result.problems), [
      'fingerprint_algorithm',
      'fingerprint_multiple',
    ]);
  });

  test('the answer aiortc got past Meta still misses our DTMF and ptime rules', () => {
    const result = validateOurSdp(sdpFixture('cap1-aiortc-answer-accepted.sdp'), {
      role: 'answer',
    });
    assert.deepEqual(errorCodes(result.problems), ['no_telephone_event', 'ptime']);
    // Uppercase "SHA-256" is still sha-256.
    assert.equal(result.summary?.fingerprints[0]?.algorithm, 'sha-256');
  });

  test('each rule is enforced', () => {
    const good = goodAnswer();
    const cases: [string, string, 'offer' | 'answer'][] = [
      [good.replace('a=setup:active', 'a=setup:passive'), 'setup_role', 'answer'],
      [good.replace('a=setup:active', 'a=setup:passive'), 'setup_role', 'offer'],
      [good.replace(/a=setup:active\r\n/, ''), 'setup_missing', 'answer'],
      [good.replace('t=0 0\r\n', 't=0 0\r\na=ice-lite\r\n'), 'ice_lite', 'answer'],
      [good.replace(/a=ice-ufrag:[^\r]*\r\n/, ''), 'ice_credentials', 'answer'],
      [good.replace(/a=ice-pwd:[^\r]*\r\n/, 'a=ice-pwd:short\r\n'), 'ice_credentials', 'answer'],
      [good.replace('a=ptime:20', 'a=ptime:40'), 'ptime', 'answer'],
      [good.replace(/a=fingerprint:[^\r]*\r\n/, ''), 'fingerprint_missing', 'answer'],
      [good.replace('opus/48000/2', 'opus/48000/1'), 'no_opus', 'answer'],
      [
        good.replace('telephone-event/8000', 'telephone-event/48000'),
        'telephone_event_rate',
        'answer',
      ],
      [good.replace('a=rtcp-mux\r\n', ''), 'rtcp_mux', 'answer'],
      [good.replace('a=sendrecv', 'a=recvonly'), 'direction', 'answer'],
      [good.replace(/a=mid:audio\r\n/, ''), 'mid', 'answer'],
      [good.replace('UDP/TLS/RTP/SAVPF', 'RTP/SAVP'), 'media_protocol', 'answer'],
      [good.replace(/\r\n/g, '\n'), 'line_endings', 'answer'],
      [good.slice(0, -2), 'line_endings', 'answer'],
      [
        good.replace(
          /(a=ssrc:330833028 cname:[^\r]*\r\n)/,
          '$1a=ssrc:42 cname:x\r\na=ssrc-group:FID 330833028 42\r\n',
        ),
        'ssrc_count',
        'answer',
      ],
      [
        `${good}m=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n`,
        'media_count',
        'answer',
      ],
    ];
    for (const [text, code, role] of cases) {
      const result = validateOurSdp(text, { role });
      assert.equal(result.ok, false, code);
      assert.ok(
        errorCodes(result.problems).includes(code),
        `${code}: ${errorCodes(result.problems).join()}`,
      );
    }
  });

  test('an answer must keep the offer mid and payload types', () => {
    const offer = sdpFixture('cap1-uic-offer-2025-10-17.sdp');
    const wrongMid = validateOurSdp(goodAnswer().replace('a=mid:audio', 'a=mid:0'), {
      role: 'answer',
      remoteOffer: offer,
    });
    assert.ok(errorCodes(wrongMid.problems).includes('mid'));
    const wrongPt = validateOurSdp(
      goodAnswer().replace('SAVPF 111 126', 'SAVPF 96 126').replace(/:111 /g, ':96 '),
      { role: 'answer', remoteOffer: offer },
    );
    assert.ok(errorCodes(wrongPt.problems).includes('extra_codec'));
  });
});

describe('normalising our SDP', () => {
  test("Meta's stock Chrome offer is reduced to Opus and 8 kHz DTMF and then conforms", () => {
    const result = normaliseOurSdp(sdpFixture('doc-bic-offer.sdp'), { role: 'offer' });
    assert.deepEqual(errorCodes(result.problems), []);
    assert.equal(result.ok, true);
    assert.match(result.sdp, /\r\nm=audio 9 UDP\/TLS\/RTP\/SAVPF 111 126\r\n/);
    for (const gone of ['G722', 'PCMU', 'PCMA', 'red/48000', 'telephone-event/48000', 'extmap']) {
      assert.ok(!result.sdp.includes(gone), gone);
    }
    assert.match(result.sdp, /\r\na=ptime:20\r\n/);
    assert.ok(result.sdp.endsWith('\r\n'));
  });

  test('extra fingerprints, ice-lite, LF endings and extra SSRCs are fixed', () => {
    const broken = goodAnswer()
      .replace('a=ptime:20\r\n', '')
      .replace('t=0 0\r\n', 't=0 0\r\na=ice-lite\r\n')
      .replace(
        /(a=fingerprint:[^\r]*\r\n)/,
        'a=fingerprint:sha-512 CC:DD\r\n$1a=fingerprint:sha-384 AA:BB\r\n',
      )
      .replace(
        /(a=ssrc:330833028 cname:[^\r]*\r\n)/,
        '$1a=ssrc:42 cname:x\r\na=ssrc-group:FID 330833028 42\r\n',
      )
      .replace(/\r\n/g, '\n');
    assert.equal(validateOurSdp(broken, { role: 'answer' }).ok, false);
    const result = normaliseOurSdp(broken, { role: 'answer' });
    assert.deepEqual(errorCodes(result.problems), []);
    const summary = validateOurSdp(result.sdp, { role: 'answer' }).summary;
    assert.deepEqual(
      summary?.fingerprints.map((f) => f.algorithm),
      ['sha-256'],
    );
    assert.deepEqual(summary?.ssrcs, [330833028]);
    assert.equal(summary?.iceLite, false);
    assert.ok(result.changes.length >= 5, result.changes.join('; '));
  });

  test('an answer without DTMF gets the offer payload type for telephone-event', () => {
    const noDtmf = goodAnswer()
      .replace('SAVPF 111 126', 'SAVPF 111')
      .replace('a=rtpmap:126 telephone-event/8000\r\n', '');
    const result = normaliseOurSdp(noDtmf, {
      role: 'answer',
      remoteOffer: sdpFixture('cap2-uic-offer-2026-10-02.sdp'),
    });
    assert.equal(result.ok, true, JSON.stringify(result.problems));
    assert.equal(
      validateOurSdp(result.sdp, { role: 'answer' }).summary?.telephoneEvent?.payloadType,
      126,
    );
  });

  test('a passive answer is reported, not silently rewritten', () => {
    const result = normaliseOurSdp(goodAnswer().replace('a=setup:active', 'a=setup:passive'), {
      role: 'answer',
    });
    assert.equal(result.ok, false);
    assert.deepEqual(errorCodes(result.problems), ['setup_role']);
    assert.match(result.sdp, /a=setup:passive/);
  });
});

describe('reading Meta SDP for the media leg', () => {
  const isInvalid =
    (reason: string, message?: RegExp) =>
    (err: unknown): boolean =>
      err instanceof InvalidSdpError &&
      err.reason === reason &&
      err.code === 'invalid_argument' &&
      (message === undefined || message.test(err.message));

  test('candidates outside the allowed networks are removed and counted', () => {
    const reading = readMetaSdp(sdpFixture('cap2-uic-offer-2026-10-02.sdp'), {
      type: 'offer',
      allowCandidate: (address) => !address.includes(':'),
      allowedNetworksDescription: 'ipv4-only',
    });
    assert.equal(reading.disallowedCandidates, 1);
    assert.deepEqual(
      reading.summary?.candidates.map((c) => c.address),
      ['57.144.43.49'],
    );
    assert.doesNotMatch(reading.sdp, /2a03:2880/);
  });

  test('an SDP left without any allowed candidate is refused with an actionable message', () => {
    assert.throws(
      () =>
        readMetaSdp(sdpFixture('cap2-uic-offer-2026-10-02.sdp'), {
          type: 'offer',
          allowCandidate: () => false,
          allowedNetworksDescription: '10.0.0.0/8',
        }),
      isInvalid('unusable', /MEDIA_ALLOWED_CANDIDATE_NETWORKS/),
    );
  });

  test('limits, a second m= line and missing Opus are typed errors', () => {
    const capture = sdpFixture('cap1-uic-offer-2025-10-17.sdp');
    assert.throws(
      () => readMetaSdp(capture + 'a=x\r\n'.repeat(20_000), { type: 'offer' }),
      isInvalid('too_large'),
    );
    const candidates = Array.from(
      { length: 40 },
      (_, i) => `a=candidate:${i} 1 udp 1 57.144.0.${i} 3480 typ host\r\n`,
    ).join('');
    assert.throws(
      () =>
        readMetaSdp(capture.replace('a=ice-ufrag:', `${candidates}a=ice-ufrag:`), {
          type: 'offer',
        }),
      isInvalid('too_many_candidates', /more than 32 ICE candidates/),
    );
    assert.throws(
      () => readMetaSdp(`${capture}m=video 9 UDP/TLS/RTP/SAVPF 96\r\n`, { type: 'offer' }),
      isInvalid('unusable', /exactly one/),
    );
    assert.throws(
      () => readMetaSdp(capture.replace('opus/48000/2', 'PCMU/8000'), { type: 'offer' }),
      isInvalid('unusable', /opus/i),
    );
    assert.throws(() => readMetaSdp('hello', { type: 'offer' }), isInvalid('not_sdp'));
  });
});
