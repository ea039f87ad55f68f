/**
 * The softphone's signalling without a browser: a werift peer offers the way the page does, the
 * event stream is read with fetch. Bad input gets a clear HTTP error; a tab that goes away hangs
 * up its call; a second tab of the same user takes the phone over.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from 'werift';
import { WhatsAppSimulator } from '../../../src/simulator/index.js';
import { WebhookReceiver } from './simulator-test-kit.js';

let sim: WhatsAppSimulator;
let hooks: WebhookReceiver;

before(async () => {
  hooks = await WebhookReceiver.start('simulator-app-secret');
  sim = await WhatsAppSimulator.start({ webhookUrl: hooks.url });
});

after(async () => {
  await sim.close();
  await hooks.close();
});

/** One open event stream, as the page holds it. */
class EventStream {
  readonly events: { event: string; data: Record<string, unknown> }[] = [];
  private readonly abort = new AbortController();
  private constructor() {}

  static async open(query: string): Promise<EventStream> {
    const stream = new EventStream();
    const res = await fetch(`${sim.controlUrl}/softphone/events?${query}`, {
      signal: stream.abort.signal,
    });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    void stream.read(res);
    await stream.next('hello');
    return stream;
  }

  private async read(res: Response): Promise<void> {
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffer += decoder.decode(value, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const event = /^event: (.*)$/m.exec(block)?.[1];
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (event && data) this.events.push({ event, data: JSON.parse(data) });
        }
      }
    } catch {
      // aborted
    }
  }

  get session(): string {
    return String(this.events.find((e) => e.event === 'hello')?.data.session);
  }

  async next(event: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find((e) => e.event === event);
      if (hit) return hit.data;
      if (Date.now() > deadline) throw new Error(`no ${event} event within ${timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    this.abort.abort();
  }
}

async function post(path: string, body: unknown) {
  const res = await fetch(`${sim.controlUrl}/softphone${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** A complete audio offer like the page's (Opus + telephone-event/8000). */
async function browserOffer(): Promise<{ pc: RTCPeerConnection; sdp: string }> {
  const pc = new RTCPeerConnection({
    iceAdditionalHostAddresses: ['127.0.0.1'],
    codecs: {
      audio: [
        new RTCRtpCodecParameters({ mimeType: 'audio/opus', clockRate: 48000, channels: 2 }),
        new RTCRtpCodecParameters({ mimeType: 'audio/telephone-event', clockRate: 8000 }),
      ],
    },
  });
  pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), { direction: 'sendrecv' });
  await pc.setLocalDescription(await pc.createOffer());
  await new Promise<void>((resolve) => {
    if (pc.iceGatheringState === 'complete') resolve();
    pc.iceGatheringStateChange.subscribe((s) => s === 'complete' && resolve());
  });
  return { pc, sdp: pc.localDescription?.sdp ?? '' };
}

test('bad softphone requests get clear errors', async () => {
  const noUser = await fetch(`${sim.controlUrl}/softphone/events`);
  assert.equal(noUser.status, 400);
  assert.match(((await noUser.json()) as { error: { message: string } }).error.message, /user/);
  assert.equal((await fetch(`${sim.controlUrl}/softphone/events?user=nobody`)).status, 400);

  const noSession = await post('/calls', { offer: 'v=0' });
  assert.equal(noSession.status, 400);
  const unknownSession = await post('/calls', { session: 'nope', offer: 'v=0' });
  assert.equal(unknownSession.status, 404);
  assert.match(
    String(unknownSession.body.error && (unknownSession.body.error as { message: string }).message),
    /event stream/,
  );

  const tab = await EventStream.open('user=4915112300001');
  try {
    const garbage = await post('/calls', { session: tab.session, offer: 'not an sdp' });
    assert.equal(garbage.status, 400);
    assert.match(JSON.stringify(garbage.body), /cannot be answered/);
    assert.equal((await post('/calls', { session: tab.session })).status, 400);
    const otherUsersCall = await sim.placeUserCall({ from: '4915112300002' });
    const foreign = await post(`/calls/${otherUsersCall.id}/hangup`, { session: tab.session });
    assert.equal(foreign.status, 404);
    assert.equal(otherUsersCall.state, 'ringing');
    otherUsersCall.hangUp();
    assert.equal((await post('/calls/x/transfer', { session: tab.session })).status, 404);
  } finally {
    tab.close();
  }
});

test('a tab that goes away hangs up the call it placed', async () => {
  const tab = await EventStream.open('user=4915112300003');
  const { pc, sdp } = await browserOffer();
  try {
    const placed = await post('/calls', { session: tab.session, offer: sdp });
    assert.equal(placed.status, 200, JSON.stringify(placed.body));
    assert.match(String(placed.body.answer), /^v=0/);
    const call = sim.call(String(placed.body.callId));
    assert.equal(call?.snapshot().userEnd, 'browser');
    await hooks.waitFor('connect', call?.id);
    tab.close();
    await call?.waitForState('ended', 5000);
    assert.equal(call?.endReason, 'user_hangup');
    await hooks.waitFor('terminate', call?.id);
  } finally {
    tab.close();
    await pc.close();
  }
});

test('a second tab of the same user takes the phone over; the first is told', async () => {
  const first = await EventStream.open('user=US.55500011122233344455&username=tab.one');
  const second = await EventStream.open('user=US.55500011122233344455');
  try {
    await first.next('replaced');
    const hello = await second.next('hello');
    assert.deepEqual(hello.user, {
      phoneNumber: null,
      userId: 'US.55500011122233344455',
      parentUserId: null,
      username: 'tab.one',
      name: 'tab.one',
    });
    assert.equal((await post('/calls', { session: first.session, offer: 'v=0' })).status, 404);
  } finally {
    first.close();
    second.close();
  }
});

test('the page is served from the simulator alone: a self-only CSP and no outside URL in its files', async () => {
  const redirect = await fetch(`${sim.graphUrl}/softphone`, { redirect: 'manual' });
  assert.equal(redirect.status, 308);
  assert.equal(redirect.headers.get('location'), '/softphone/');
  for (const [path, type] of [
    ['/softphone/', 'text/html'],
    ['/softphone/softphone.css', 'text/css'],
    ['/softphone/softphone.js', 'text/javascript'],
  ] as const) {
    const res = await fetch(`${sim.graphUrl}${path}`);
    assert.equal(res.status, 200, path);
    assert.match(res.headers.get('content-type') ?? '', new RegExp(`^${type}`), path);
    assert.match(res.headers.get('content-security-policy') ?? '', /default-src 'self'/, path);
    const text = await res.text();
    assert.doesNotMatch(text, /https?:\/\/|\/\/[a-z0-9.-]+\.[a-z]{2,}\//i, `${path} links outside`);
    assert.doesNotMatch(text, /@import|@font-face|fonts\.googleapis/i, path);
  }
  assert.equal((await fetch(`${sim.graphUrl}/softphone/nope.js`)).status, 404);
});
