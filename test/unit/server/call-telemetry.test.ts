import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { CallManager } from '../../../src/calls/call-manager.js';
import type { OperationContext } from '../../../src/calls/call-params.js';
import { loadConfig } from '../../../src/config/index.js';
import { createLogger, silentLogger } from '../../../src/log/index.js';
import type { MediaQuality } from '../../../src/media/media-quality.js';
import { ConnectorMetrics } from '../../../src/metrics/index.js';
import { attachCallTelemetry } from '../../../src/server/call-telemetry.js';
import { WhatsAppGraphClient } from '../../../src/whatsapp/graph-client.js';
import { FakeGraph, FakeMediaLeg, FakeRooms, dialParams, flush } from '../calls/call-fakes.js';

/** A media leg with the counters and quality the real one reports. */
class MeasuredLeg extends FakeMediaLeg {
  counters = { sequenceGaps: 0, jitterMs: 0, framesDecoded: 0, framesConcealed: 0 };
  override stats() {
    return { packetsReceived: this.packetsReceived, ...this.counters };
  }
  quality(): MediaQuality {
    return {
      received: {
        packets: this.packetsReceived,
        packetsLost: this.counters.sequenceGaps,
        reportedLossFraction: undefined,
        jitterMs: this.counters.jitterMs,
        levelDbfs: -23.04,
      },
      sent: {
        packets: 480,
        packetsLost: 3,
        reportedLossFraction: 0,
        jitterMs: 4.5,
        levelDbfs: Number.NEGATIVE_INFINITY,
      },
    };
  }
}

const ctx: OperationContext = {
  logger: silentLogger,
  signal: new AbortController().signal,
  origin: 'api',
  requestId: 'req-1',
  requester: 'test',
};

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

function bed() {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const l of chunk.toString('utf8').split('\n').filter(Boolean)) lines.push(JSON.parse(l));
      done();
    },
  });
  const logger = createLogger({ level: 'info', destination, redactPhoneNumbers: true });
  const legs: MeasuredLeg[] = [];
  const rooms = new FakeRooms();
  const manager = new CallManager({
    config: loadConfig({
      env: { LIVEKIT_API_KEY: 'key', LIVEKIT_API_SECRET: 'secret-secret-secret-secret-secret' },
    }),
    logger: silentLogger,
    graph: new FakeGraph(),
    roomLegs: rooms.join,
    mediaLegs: () => {
      const leg = new MeasuredLeg();
      legs.push(leg);
      return leg;
    },
  });
  const metrics = new ConnectorMetrics({ processMetrics: false });
  const detach = attachCallTelemetry({ metrics, registry: manager.registry, logger });
  return { manager, legs, metrics, lines, detach };
}

describe('call telemetry', () => {
  test('a call that ends gives one quality summary line, its quality histograms and its end reason', async () => {
    const { manager, legs, metrics, lines, detach } = bed();
    const { callId } = await manager.dial(
      dialParams({
        participant: { ...dialParams().participant, roomName: 'support-4915112345678' },
      }),
      ctx,
    );
    await manager.connect({ callId, answerSdp: 'v=0 meta-answer', waitUntilAnswered: false }, ctx);
    const leg = legs[0]!;
    leg.connect();
    leg.receive(95);
    leg.counters = { sequenceGaps: 5, jitterMs: 12.345, framesDecoded: 90, framesConcealed: 10 };
    await flush();

    let text = await metrics.scrape();
    assert.equal(
      value(text, 'whatsapp_connector_calls_active{direction="outbound",state="active"}'),
      1,
    );
    assert.equal(value(text, 'whatsapp_connector_media_live_packets_received'), 95);
    assert.equal(value(text, 'whatsapp_connector_media_live_packets_lost'), 5);
    assert.equal(value(text, 'whatsapp_connector_media_live_frames_concealed'), 10);
    assert.equal(
      value(text, 'whatsapp_connector_call_setup_seconds_count{direction="outbound"}'),
      1,
    );

    await manager.disconnect({ callId, initiator: 'user' }, ctx);
    await flush();
    text = await metrics.scrape();
    assert.equal(
      value(
        text,
        'whatsapp_connector_calls_ended_total{direction="outbound",reason="user_hangup"}',
      ),
      1,
    );
    // 5 lost of 100 expected; 10 of 100 frames concealed; 12.3 ms jitter.
    assert.equal(
      value(text, 'whatsapp_connector_call_packet_loss_ratio_sum{direction="outbound"}'),
      0.05,
    );
    assert.equal(
      value(text, 'whatsapp_connector_call_concealment_ratio_sum{direction="outbound"}'),
      0.1,
    );
    assert.equal(
      value(text, 'whatsapp_connector_call_jitter_seconds_count{direction="outbound"}'),
      1,
    );
    assert.equal(value(text, 'whatsapp_connector_media_live_packets_received'), 0);

    const summaries = lines.filter((l) => l.msg === 'call quality summary');
    assert.equal(summaries.length, 1);
    const line = summaries[0]!;
    assert.equal(line.callId, callId);
    assert.equal(line.reason, 'user_hangup');
    assert.equal(line.room, 'support-49151******78', 'the number inside the room name is masked');
    assert.deepEqual(line.quality, {
      durationSeconds: (line.quality as { durationSeconds: number }).durationSeconds,
      received: {
        packets: 95,
        packetsLost: 5,
        lossRatio: 0.05,
        framesDecoded: 90,
        framesConcealed: 10,
        concealmentRatio: 0.1,
        jitterMs: 12.35,
        levelDbfs: -23,
      },
      sent: { packets: 480, packetsLost: 3, jitterMs: 4.5, levelDbfs: null },
    });
    detach();
  });

  test('a leg that measures nothing gives a summary without made-up figures', async () => {
    const { manager, lines, metrics } = bed();
    const { callId } = await manager.dial(dialParams(), ctx);
    await manager.disconnect({ callId, initiator: 'user' }, ctx);
    await flush();
    const line = lines.find((l) => l.msg === 'call quality summary');
    const quality = line?.quality as { received: Record<string, unknown> };
    assert.equal(quality.received.packets, 0);
    assert.equal(quality.received.lossRatio, undefined);
    assert.equal(quality.received.concealmentRatio, undefined);
    const text = await metrics.scrape();
    // No packets: no loss observation (absent series, or a zero count).
    assert.ok(
      !value(text, 'whatsapp_connector_call_packet_loss_ratio_count{direction="outbound"}'),
    );
  });
});

describe('Graph API failures', () => {
  test('are reported once per request with Meta’s code, the HTTP status, or the transport failure', async () => {
    const failures: Array<[string, string]> = [];
    const answers: Array<() => Response> = [
      () =>
        Response.json(
          { error: { message: 'no permission', code: 138006, fbtrace_id: 'x' } },
          { status: 400 },
        ),
      () => new Response('nope', { status: 404 }),
    ];
    const graph = new WhatsAppGraphClient({
      baseUrl: 'http://graph.test',
      accessToken: 'token',
      maxAttempts: 2,
      initialBackoffMs: 1,
      fetch: async () => {
        const next = answers.shift();
        if (next) return next();
        throw new TypeError('fetch failed');
      },
      onFailure: (operation, code) => failures.push([operation, code]),
    });
    const call = { phoneNumberId: '123', callId: 'wacid.1' };
    await assert.rejects(graph.terminateCall(call));
    await assert.rejects(graph.terminateCall(call));
    // Two network failures (retried), reported once.
    await assert.rejects(graph.terminateCall(call));
    assert.deepEqual(failures, [
      ['calls.terminate', '138006'],
      ['calls.terminate', 'http_404'],
      ['calls.terminate', 'retries_exhausted'],
    ]);
  });
});
