/**
 * Hostile input while calls are live: stalled and oversized webhook bodies, forged signatures and
 * a DTMF flood into one call each get their clear refusal, and another call's audio keeps flowing
 * both ways meanwhile (measured on what its user and its room hear during the attack).
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { dispose } from '@livekit/rtc-node';
import { windowedToneShare } from '../../../src/media/tone.js';
import {
  acceptInboundCall,
  assertTone,
  eventually,
  sleep,
  startBridge,
  type Bridge,
} from '../calls/bridge-harness.js';

let bridge: Bridge;
let port: number;
let webhookPath: string;

before(async () => {
  bridge = await startBridge({
    env: { WHATSAPP_APP_SECRET: 'attack-app-secret', WHATSAPP_VERIFY_TOKEN: 'attack-verify' },
  });
  port = Number(new URL(bridge.connectorUrl).port);
  webhookPath = bridge.config.whatsapp.webhookPath;
});

after(async () => {
  await bridge?.stop();
  await dispose();
});

/** A webhook POST that declares a body and then sends it one byte every 500 ms. */
function stalledPost(): { socket: Socket; answer: Promise<string> } {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  const answer = new Promise<string>((resolve) => {
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', () => resolve(text));
    socket.on('error', () => resolve(text));
  });
  socket.write(
    `POST ${webhookPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
      `X-Hub-Signature-256: sha256=${'0'.repeat(64)}\r\nContent-Length: 200000\r\n\r\n{`,
  );
  const drip = setInterval(() => {
    if (!socket.destroyed) socket.write(' ');
  }, 500);
  socket.on('close', () => clearInterval(drip));
  return { socket, answer };
}

/** A webhook POST declaring a 10 MiB body: the answer's status, read from the wire. */
function oversizedPost(): Promise<number> {
  const socket = connect(port, '127.0.0.1');
  let text = '';
  return new Promise<number>((resolve) => {
    const done = () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0));
    socket.on('data', (d) => (text += d.toString('latin1')));
    socket.on('close', done);
    socket.on('error', done);
    socket.write(
      `POST ${webhookPath} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n` +
        `Content-Length: ${10 << 20}\r\n\r\n{"object":`,
    );
  });
}

test("stalled and oversized webhooks, forged signatures and a DTMF flood get clear refusals while another call's audio keeps flowing", async (t) => {
  const other = await acceptInboundCall(bridge, { toneHz: 440, identity: 'wa-other' });
  const flooded = await acceptInboundCall(bridge, { toneHz: 660, identity: 'wa-flooded' });
  const stalled: Array<{ socket: Socket; answer: Promise<string> }> = [];
  try {
    await other.listener.speak(1000);
    await eventually(
      () => windowedToneShare(other.userCall.recording().pcm.subarray(-16_000), 16_000, 1000) > 0.8,
      10_000,
      'the other user hears its room before the attack',
    );

    // The attack, all at once: 16 stalled uploads, 20 oversized bodies, 50 forged signatures,
    // and 200 DTMF digits into the flooded call's room as fast as the room sends them.
    const attackStart = Date.now() - other.userCall.createdAt.valueOf();
    for (let i = 0; i < 16; i++) stalled.push(stalledPost());
    const oversized = Array.from({ length: 20 }, () => oversizedPost());
    const forged = Array.from({ length: 50 }, () =>
      fetch(`http://127.0.0.1:${port}${webhookPath}`, {
        method: 'POST',
        headers: {
          'Content-Type': 'application/json',
          'X-Hub-Signature-256': `sha256=${'1'.repeat(64)}`,
        },
        body: JSON.stringify({ object: 'whatsapp_business_account', entry: [] }),
      }).then((r) => r.status),
    );
    const flood = (async () => {
      const participant = flooded.listener.room.localParticipant!;
      for (let i = 0; i < 200; i++) await participant.publishDtmf(1 + (i % 9), String(1 + (i % 9)));
    })();

    const forgedStatuses = await Promise.all(forged);
    assert.ok(
      forgedStatuses.every((s) => s === 401 || s === 403),
      `forged signatures answered ${[...new Set(forgedStatuses)].join(', ')}`,
    );
    const oversizedStatuses = await Promise.all(oversized);
    assert.ok(
      oversizedStatuses.every((s) => s === 413),
      `oversized bodies answered ${[...new Set(oversizedStatuses)].join(', ')}`,
    );
    await flood;
    // Three seconds under the stalled uploads and the flood's aftermath.
    await sleep(3000);

    // The other call, during the attack: its user heard its room, its room heard its user.
    const heardByUser = other.userCall
      .recording()
      .chunks.filter((c) => c.atMs >= attackStart)
      .map((c) => c.samples);
    const userPcm = new Int16Array(heardByUser.reduce((n, c) => n + c.length, 0));
    heardByUser.reduce((off, c) => (userPcm.set(c, off), off + c.length), 0);
    t.diagnostic(
      `other call during the attack: user heard 1 kHz in ${windowedToneShare(userPcm, 16_000, 1000).toFixed(2)} of its windows over ${(userPcm.length / 16).toFixed(0)} ms`,
    );
    assertTone(userPcm, 16_000, 1000, 'other user during the attack');
    assertTone(
      other.listener.heard(2500),
      other.listener.sampleRate,
      440,
      'other room during the attack',
    );
    // The flooded call is still up, and its room still hears its caller.
    const floodedCall = bridge.server.calls!.registry.get(flooded.userCall.id)!;
    assert.equal(floodedCall.state, 'active');
    assertTone(
      flooded.listener.heard(1000),
      flooded.listener.sampleRate,
      660,
      'flooded room after the flood',
    );
  } finally {
    for (const s of stalled) s.socket.destroy();
    for (const c of [other, flooded]) {
      await bridge.client
        .disconnectWhatsAppCall(c.userCall.id, bridge.accessToken)
        .catch(() => undefined);
      await c.listener.close();
    }
  }
});
