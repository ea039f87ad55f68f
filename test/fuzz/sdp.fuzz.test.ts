/**
 * Fuzz target: the SDP model and Meta's rules as the connector and the simulator use them. Inputs
 * are Meta's real captures mutated at line and byte level, plus random text. Every entry point
 * must either return or throw an InvalidSdpError; an SDP the leg would accept must also parse in
 * werift (which the leg hands it to next).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

import { SessionDescription as WeriftSessionDescription } from 'werift';

import { InvalidSdpError } from '../../src/media/sdp/invalid-sdp-error.js';
import { SessionDescription } from '../../src/media/sdp/session-description.js';
import {
  checkBusinessSdp,
  normaliseMetaSdp,
  normaliseOurSdp,
  readMetaSdp,
  validateOurSdp,
} from '../../src/whatsapp/meta-sdp.js';
import { sdpFixture } from '../unit/whatsapp/sdp-fixtures.js';
import { FUZZ_SEED, mutateBytes, Prng, reproduce } from './fuzz-kit.js';

const INPUTS = 12_000;

const CAPTURES = [
  'cap1-uic-offer-2025-10-17.sdp',
  'cap2-uic-offer-2026-10-02.sdp',
  'cap3-uic-offer-2025-11-05.sdp',
  'doc-uic-offer.sdp',
  'doc-bic-answer.sdp',
  'ref-bic-connect-answer.sdp',
  'doc-bic-offer.sdp',
  'doc-uic-answer.sdp',
  'cap1-aiortc-answer-accepted.sdp',
].map(sdpFixture);

const FRAGMENTS = [
  'a=candidate:1 1 udp 2122260223 10.0.0.1 3480 typ host',
  'a=candidate:x',
  'a=candidate:1 1 udp 1 ::1 99999 typ host',
  'a=candidate:1 1 tcp 1 foo.local 9 typ host tcptype active',
  'a=fmtp:111',
  'a=fmtp:999 x=y',
  'a=rtpmap:111',
  'a=rtpmap:abc opus/x/y',
  'a=fingerprint:sha-512 00',
  'a=fingerprint:',
  'a=setup:bogus',
  'a=ssrc:notanumber cname:x',
  'a=ice-lite',
  'a=group:BUNDLE 0 1 2',
  'm=video 9 UDP/TLS/RTP/SAVPF 96',
  'm=audio 0 RTP/AVP',
  'm=audio 9',
  'c=IN IP4',
  'v=1',
  '\u0000\uffff=\ud800',
  '='.repeat(300),
];

function mutateText(random: Prng, base: string): string {
  const lines = base.split('\r\n');
  switch (random.int(0, 6)) {
    case 0:
      lines.splice(random.int(0, lines.length), 0, random.pick(FRAGMENTS));
      break;
    case 1:
      lines.splice(random.int(0, lines.length - 1), random.int(1, 4));
      break;
    case 2: {
      const line = lines[random.int(0, lines.length - 1)] ?? '';
      for (let i = random.int(1, 60); i > 0; i--)
        lines.splice(random.int(0, lines.length), 0, line);
      break;
    }
    case 3: {
      const i = random.int(0, lines.length - 1);
      const line = lines[i] ?? '';
      lines[i] =
        line.slice(0, random.int(0, line.length)) + random.pick(FRAGMENTS).slice(random.int(0, 5));
      break;
    }
    case 4:
      return Buffer.from(mutateBytes(random, Buffer.from(base))).toString('latin1');
    case 5:
      return lines.join(random.pick(['\n', '\r', '\r\n', '\n\r', ' ']));
    default:
      return Buffer.from(random.bytes(random.int(0, 400))).toString(
        random.pick(['latin1', 'utf8']),
      );
  }
  return lines.join('\r\n');
}

function expectReturnOrInvalid(fn: () => unknown, where: string): 'ok' | 'invalid' {
  try {
    fn();
    return 'ok';
  } catch (err) {
    assert.ok(err instanceof InvalidSdpError, `${where}: threw ${String(err)}`);
    return 'invalid';
  }
}

test(`SDP: ${INPUTS} mutated and random inputs, no crash, only typed errors (seed ${FUZZ_SEED})`, () => {
  const random = new Prng(FUZZ_SEED);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < INPUTS; i++) {
    const where = reproduce('sdp', i);
    let text = random.pick(CAPTURES);
    for (let m = random.int(1, 3); m > 0; m--) text = mutateText(random, text);
    expectReturnOrInvalid(() => SessionDescription.parse(text), where);
    const meta = normaliseMetaSdp(text, {
      type: random.chance(0.5) ? 'offer' : 'answer',
      allowCandidate: (a) => !a.startsWith('10.'),
    });
    assert.equal(typeof meta.ok, 'boolean', where);
    const outcome = expectReturnOrInvalid(
      () => readMetaSdp(text, { type: 'offer', allowCandidate: (a) => a !== '::1' }),
      where,
    );
    if (outcome === 'ok') {
      accepted++;
      const reading = readMetaSdp(text, { type: 'offer', allowCandidate: (a) => a !== '::1' });
      // What the leg accepts, werift must parse without throwing.
      assert.doesNotThrow(() => WeriftSessionDescription.parse(reading.sdp), where);
      // And reading it again is stable.
      assert.equal(readMetaSdp(reading.sdp, { type: 'offer' }).sdp, reading.sdp, where);
    } else {
      refused++;
    }
    validateOurSdp(text, { role: 'answer', remoteOffer: random.pick(CAPTURES) });
    normaliseOurSdp(text, { role: random.chance(0.5) ? 'offer' : 'answer' });
    checkBusinessSdp(text);
  }
  assert.ok(accepted > 500 && refused > 500, `accepted ${accepted}, refused ${refused}`);
});
