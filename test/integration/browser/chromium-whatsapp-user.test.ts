/**
 * End to end with a real browser: Chromium (libwebrtc, independent of our werift leg) plays the
 * WhatsApp user's phone and Meta's media side of a user-initiated call, with an offer rewritten
 * into WhatsApp's shape. The simulator is Meta's Graph API; our service answers through the
 * official Node SDK, and audio, DTMF and hang-up are checked at both ends.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { RoomEvent, dispose } from '@livekit/rtc-node';
import { SessionDescription } from '@livekit/protocol';
import {
  RoomListener,
  assertTone,
  eventually,
  sleep,
  startBridge,
  type Bridge,
} from '../calls/bridge-harness.js';
import { META_OPUS_FMTP } from '../../../src/simulator/index.js';
import { ChromiumWhatsAppUser } from './chromium-whatsapp-user.js';

const USER_TONE_HZ = 440;
const ROOM_TONE_HZ = 1000;

let bridge: Bridge | undefined;
let phone: ChromiumWhatsAppUser | undefined;

before(async () => {
  // Both start at once; whichever succeeded is kept so after() stops it even if the other failed.
  const [started, launched] = await Promise.allSettled([
    startBridge({
      // Media flows between Chromium and our service, not through the simulator's relay, so the
      // relay's "no media from the business" watchdogs must not end the call during the test.
      simulator: { timing: { mediaStartTimeoutMs: 120_000, mediaGapTimeoutMs: 120_000 } },
    }),
    ChromiumWhatsAppUser.launch({ toneHz: USER_TONE_HZ }),
  ]);
  if (started.status === 'fulfilled') bridge = started.value;
  if (launched.status === 'fulfilled') phone = launched.value;
  if (started.status === 'rejected') throw started.reason;
  if (launched.status === 'rejected') throw launched.reason;
});

after(async () => {
  await phone?.close();
  await bridge?.stop();
  await dispose();
});

/** Our answer as Meta received it (pre_accept or accept) for `callId`. */
function businessAnswerFor(b: Bridge, callId: string): string | undefined {
  for (const r of b.simulator.requestLog) {
    const body = r.body as {
      call_id?: unknown;
      action?: unknown;
      session?: { sdp?: unknown; sdp_type?: unknown };
    } | null;
    if (
      body?.call_id === callId &&
      (body.action === 'pre_accept' || body.action === 'accept') &&
      body.session?.sdp_type === 'answer' &&
      typeof body.session.sdp === 'string'
    ) {
      return body.session.sdp;
    }
  }
  return undefined;
}

test('Chromium as the WhatsApp user: audio both ways, DTMF to the room, business hang-up', async () => {
  const b = bridge!;
  const user = phone!;
  const offer = await user.createWhatsAppOffer();
  // WhatsApp's shape: lite agent, mid "audio", Opus 111 with Meta's fmtp and DTMF 126 only,
  // loopback UDP host candidates only.
  assert.match(offer.sdp, /^a=ice-lite$/m);
  assert.match(offer.sdp, /^a=group:BUNDLE audio$/m);
  assert.match(offer.sdp, /^a=mid:audio$/m);
  assert.match(offer.sdp, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111 126$/m);
  assert.match(offer.sdp, new RegExp(`^a=fmtp:111 ${META_OPUS_FMTP}$`, 'm'));
  const candidates = offer.sdp.split('\r\n').filter((l) => l.startsWith('a=candidate:'));
  assert.ok(candidates.length > 0);
  for (const c of candidates) assert.match(c, / 1 udp \d+ 127\.0\.0\.1 \d+ typ host/);

  const userCall = await b.simulator.placeUserCall({ from: '15551239001' });
  const roomName = `chromium-${Date.now()}`;
  const listener = await RoomListener.join(b.lk, roomName);
  const digits: string[] = [];
  listener.room.on(RoomEvent.DtmfReceived, (_code, digit) => digits.push(digit));
  try {
    // The accept waits for the caller's media, which flows only once Chromium has our answer:
    // that answer reaches "Meta" in pre_accept, so it is taken from the simulator's Graph log.
    const accepted = b.client.acceptWhatsAppCall({
      whatsappPhoneNumberId: b.phoneNumberId,
      whatsappApiKey: b.accessToken,
      whatsappCloudApiVersion: '24.0',
      whatsappCallId: userCall.id,
      sdp: new SessionDescription({ type: 'offer', sdp: offer.sdp }),
      roomName,
      participantIdentity: 'wa-chromium',
      waitUntilAnswered: true,
    });
    const answer = await Promise.race([
      eventually(() => businessAnswerFor(b, userCall.id), 10_000, 'our answer at Meta'),
      accepted.then(() => undefined),
    ]);
    assert.ok(answer, 'AcceptWhatsAppCall returned before any answer reached Meta');
    assert.match(answer, /^a=setup:active$/m, 'we are the DTLS client');
    await user.applyAnswer(answer);
    const res = await accepted;
    assert.equal(res.roomName, roomName);

    // ICE and DTLS up in the browser.
    const states = (await eventually(
      async () => {
        const s = await user.states();
        return s.connection === 'connected' ? s : undefined;
      },
      10_000,
      'browser connected',
    ))!;
    assert.equal(states.dtls, 'connected');
    assert.ok(['connected', 'completed'].includes(states.ice), `ice ${states.ice}`);
    await userCall.waitForState('active', 5000);

    // User → room: Chromium's microphone tone reaches the room.
    await listener.waitForConnectorTrack();
    await sleep(1500);
    assertTone(listener.heard(1000), listener.sampleRate, USER_TONE_HZ, 'room hears Chromium');

    // Room → user: the listener's tone is heard in the page.
    await listener.speak(ROOM_TONE_HZ);
    await sleep(1000);
    const heard = await user.recordHeard(1500);
    assert.equal(heard.sampleRate, 48_000);
    assertTone(heard.pcm.subarray(-48_000), heard.sampleRate, ROOM_TONE_HZ, 'Chromium hears room');

    // Keypad: RFC 4733 from the browser arrives in the room as DTMF.
    await user.pressDigits('12#');
    await eventually(() => digits.join('') === '12#', 5000, `room digits (got ${digits.join('')})`);

    // Business hang-up: Meta ends the call, and the browser's connection goes down.
    await b.client.disconnectWhatsAppCall(userCall.id, b.accessToken);
    await userCall.waitForState('ended', 5000);
    await eventually(
      async () => (await user.states()).connection !== 'connected',
      15_000,
      'browser connection left connected',
    );
    await eventually(
      () => !listener.room.remoteParticipants.has('wa-chromium'),
      5000,
      'connector left the room',
    );
  } finally {
    await listener.close();
  }
});
