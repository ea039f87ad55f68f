/**
 * The softphone page as the user's end of the simulator's Meta relay: Chromium (fake microphone
 * at 440 Hz) places and takes calls through the page, and a business (a werift peer speaking
 * 1 kHz, driving Graph) sees exactly what it sees with a simulated user — Meta-shaped webhooks and
 * relay SDP — while audio and keys cross the bridge both ways.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, test } from 'node:test';
import { dispose } from '@livekit/rtc-node';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import { analyseTone } from '../../../src/media/tone.js';
import type {
  CallConnectWebhook,
  CallStatusWebhook,
  CallsWebhookValue,
} from '../../../src/whatsapp/webhook-payloads.js';
import { eventually, sleep } from '../calls/bridge-harness.js';
import { graph, WebhookReceiver, WeriftBusinessLeg } from '../simulator/simulator-test-kit.js';
import { SoftphoneTab } from './softphone-tab.js';

const USER_TONE_HZ = 440;
const BUSINESS_TONE_HZ = 1000;

let sim: WhatsAppSimulator | undefined;
let hooks: WebhookReceiver | undefined;
let tab: SoftphoneTab | undefined;

before(async () => {
  hooks = await WebhookReceiver.start('simulator-app-secret');
  sim = await WhatsAppSimulator.start({ webhookUrl: hooks.url });
  tab = await SoftphoneTab.open(sim.softphoneUrl, { toneHz: USER_TONE_HZ });
  // A pure tone is what noise suppression removes: the test listens to the raw microphone.
  await tab.page.getByLabel('Echo cancellation and noise suppression').uncheck();
});

// Each test looks for its own webhooks from the first one on.
beforeEach(() => {
  hooks?.received.splice(0);
});

after(async () => {
  await tab?.close();
  await sim?.close();
  await hooks?.close();
  // The shared test helpers load rtc-node, whose native side holds the process until disposed.
  await dispose();
});

function callsValue(payload: { entry: { changes: { value: unknown }[] }[] }): CallsWebhookValue {
  return payload.entry[0]?.changes[0]?.value as CallsWebhookValue;
}

async function graphCall(body: Record<string, unknown>) {
  return graph(sim!.graphUrl, 'POST', `/v24.0/${sim!.defaultPhoneNumberId}/calls`, {
    messaging_product: 'whatsapp',
    ...body,
  });
}

/**
 * Asserts the page plays a steady `hz` tone: the last 800 ms of a 1 s recording of what it plays.
 * On this shared machine a recording can catch a stall of the test process (which also runs the
 * business and the relay), so up to three recordings are made; one must hold the tone.
 */
async function assertPagePlays(hz: number): Promise<void> {
  const seen: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const heard = await tab!.recordHeard(1000);
    const tone = analyseTone(
      heard.pcm.subarray(-Math.round(heard.sampleRate * 0.8)),
      heard.sampleRate,
      hz,
    );
    if (tone.levelDbfs > -30 && Math.abs(tone.frequencyHz - hz) < 30) return;
    seen.push(`${tone.levelDbfs.toFixed(1)} dBFS at ${tone.frequencyHz} Hz`);
  }
  assert.fail(`the page did not play ${hz} Hz: ${seen.join('; ')}`);
}

/** Waits until the page's meter for `direction` shows more than -30 dBFS. */
async function assertMeterShows(direction: 'sent' | 'heard'): Promise<void> {
  let last: number | null = null;
  await eventually(
    async () => {
      last = (await tab!.levels())[direction];
      return last !== null && last > -30;
    },
    5000,
    `the ${direction} meter (last ${String(last)} dBFS)`,
  );
}

/** After a test: no call left at the simulator, the page back to ready. */
async function settle(): Promise<void> {
  for (const call of sim!.activeCalls()) call.hangUp();
  await tab!.waitForView('ready').catch(() => undefined);
}

test('a call from the page reaches the business as a WhatsApp call: Meta-shaped connect, tones both ways, keys as RFC 4733, the business hangs up', async () => {
  const page = tab!;
  await page.useUser('4915112340001');
  await page.click('Call the business');
  await page.waitForView('outgoing');

  const connect = await hooks!.waitFor('connect');
  const value = callsValue(connect.payload);
  const call = value.calls?.[0] as CallConnectWebhook;
  assert.equal(call.from, '4915112340001');
  assert.equal(call.direction, 'USER_INITIATED');
  // The relay's offer, not the browser's: ICE-lite, Meta's stream names, Opus 111 + DTMF 126.
  assert.match(call.session.sdp, /^a=ice-lite\r$/m);
  assert.match(call.session.sdp, /^m=audio \d+ UDP\/TLS\/RTP\/SAVPF 111 126\r$/m);
  assert.match(call.session.sdp, /cname:WhatsAppAudioStream1/);
  assert.doesNotMatch(call.session.sdp, /Chrom|goog/i);
  assert.equal(sim!.call(call.id)?.snapshot().userEnd, 'browser');

  const business = new WeriftBusinessLeg(BUSINESS_TONE_HZ);
  try {
    const answer = await business.answer(call.session.sdp);
    const session = { sdp_type: 'answer', sdp: answer };
    assert.equal(
      (await graphCall({ call_id: call.id, action: 'pre_accept', session })).status,
      200,
    );
    assert.equal((await graphCall({ call_id: call.id, action: 'accept', session })).status, 200);
    await page.waitForView('active');

    await sleep(1500);
    const byBusiness = analyseTone(business.pcm().subarray(-48_000 * 0.8), 48_000, USER_TONE_HZ);
    assert.ok(byBusiness.levelDbfs > -30, `business heard ${byBusiness.levelDbfs} dBFS`);
    assert.ok(Math.abs(byBusiness.frequencyHz - USER_TONE_HZ) < 20, `${byBusiness.frequencyHz} Hz`);
    await assertPagePlays(BUSINESS_TONE_HZ);
    await assertMeterShows('heard');
    await assertMeterShows('sent');

    for (const key of ['1', '5', '#']) await page.click(key);
    await eventually(() => business.digits === '15#', 5000, `business digits ${business.digits}`);

    assert.equal((await graphCall({ call_id: call.id, action: 'terminate' })).status, 200);
    await page.waitForView('ready');
    assert.match(
      (await page.page.locator('#call-status').textContent()) ?? '',
      /the business hung up/,
    );
    await hooks!.waitFor('terminate', call.id);
  } finally {
    await business.close();
    await settle();
  }
});

test('a username-only user calls from the page: the connect webhook names them by BSUID only', async () => {
  const page = tab!;
  const state = await page.useUser('US.13491208655302741918', 'ada.lovelace');
  assert.deepEqual(state.user, {
    phoneNumber: null,
    userId: 'US.13491208655302741918',
    parentUserId: null,
    username: 'ada.lovelace',
    name: 'ada.lovelace',
  });
  await page.click('Call the business');
  const connect = await hooks!.waitFor('connect');
  const value = callsValue(connect.payload);
  const call = value.calls?.[0] as CallConnectWebhook;
  assert.equal(call.from, undefined);
  assert.equal(call.from_user_id, 'US.13491208655302741918');
  assert.deepEqual(value.contacts, [
    {
      profile: { name: 'ada.lovelace', username: 'ada.lovelace' },
      user_id: 'US.13491208655302741918',
    },
  ]);
  try {
    assert.equal((await graphCall({ call_id: call.id, action: 'reject' })).status, 200);
    await page.waitForView('ready');
  } finally {
    await settle();
  }
  assert.match(
    (await page.page.locator('#call-status').textContent()) ?? '',
    /the business declined/,
  );
});

test('the business calls the page by BSUID: it rings, the user answers, audio flows, the user hangs up', async () => {
  const page = tab!;
  const bsuid = 'US.13491208655302741918';
  sim!.findUser(bsuid)?.setPermission(sim!.defaultPhoneNumberId, 'temporary');
  const business = new WeriftBusinessLeg(BUSINESS_TONE_HZ);
  try {
    const offer = await business.offer();
    const placed = await graphCall({
      recipient: bsuid,
      action: 'connect',
      session: { sdp_type: 'offer', sdp: offer },
    });
    assert.equal(placed.status, 200, JSON.stringify(placed.body));
    const callId = (placed.body as { calls: { id: string }[] }).calls[0]?.id ?? '';
    const connect = await hooks!.waitFor('connect', callId);
    const answerWebhook = callsValue(connect.payload).calls?.[0] as CallConnectWebhook;
    assert.equal(answerWebhook.to, undefined);
    assert.equal(answerWebhook.to_user_id, bsuid);
    await business.applyAnswer(answerWebhook.session.sdp);

    await page.waitForView('incoming');
    await page.click('Answer');
    await page.waitForView('active');
    const accepted = await hooks!.waitFor('status:ACCEPTED', callId);
    const status = callsValue(accepted.payload).statuses?.[0] as CallStatusWebhook;
    assert.equal(status.recipient_id, undefined);
    assert.equal(status.recipient_user_id, bsuid);

    await sleep(1500);
    await assertPagePlays(BUSINESS_TONE_HZ);
    const byBusiness = analyseTone(business.pcm().subarray(-48_000 * 0.8), 48_000, USER_TONE_HZ);
    assert.ok(byBusiness.levelDbfs > -30, `business heard ${byBusiness.levelDbfs} dBFS`);

    await page.click('Hang up');
    await page.waitForView('ready');
    await hooks!.waitFor('terminate', callId);
    assert.equal(sim!.call(callId)?.endReason, 'user_hangup');
  } finally {
    await business.close();
    await settle();
  }
});

test('the page declines a business call: REJECTED, then terminate', async () => {
  const page = tab!;
  const business = new WeriftBusinessLeg(undefined);
  try {
    const placed = await graphCall({
      recipient: 'US.13491208655302741918',
      action: 'connect',
      session: { sdp_type: 'offer', sdp: await business.offer() },
    });
    const callId = (placed.body as { calls: { id: string }[] }).calls[0]?.id ?? '';
    await page.waitForView('incoming');
    await page.click('Decline');
    await hooks!.waitFor('status:REJECTED', callId);
    await hooks!.waitFor('terminate', callId);
    await page.waitForView('ready');
    assert.equal(sim!.call(callId)?.endReason, 'user_reject');
  } finally {
    await business.close();
    await settle();
  }
});
