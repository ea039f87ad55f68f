import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectorMetrics, METRIC_PREFIX } from '../../../src/metrics/index.js';

/** The value of one series in exposition text, or undefined when the series is absent. */
function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

test('every metric carries the whatsapp_connector_ prefix, process metrics included', async () => {
  const metrics = new ConnectorMetrics();
  const text = await metrics.scrape();
  const names = new Set(
    text
      .split('\n')
      .filter((l) => l.startsWith('# TYPE '))
      .map((l) => l.split(' ')[2]!),
  );
  assert.ok(names.size > 20, `only ${names.size} metrics`);
  for (const name of names) assert.ok(name.startsWith(METRIC_PREFIX), name);
  // prom-client's event-loop lag, what admission control and dashboards watch.
  assert.ok(names.has('whatsapp_connector_nodejs_eventloop_lag_p99_seconds'));
  assert.ok(names.has('whatsapp_connector_process_cpu_seconds_total'));
});

test('active calls are counted by direction and state at scrape time', async () => {
  const metrics = new ConnectorMetrics({ processMetrics: false });
  let calls = [
    { direction: 'inbound' as const, state: 'active' },
    { direction: 'inbound' as const, state: 'active' },
    { direction: 'outbound' as const, state: 'ringing' },
  ];
  metrics.setActiveCallsSource(() => calls);
  let text = await metrics.scrape();
  assert.equal(
    value(text, 'whatsapp_connector_calls_active{direction="inbound",state="active"}'),
    2,
  );
  assert.equal(
    value(text, 'whatsapp_connector_calls_active{direction="outbound",state="ringing"}'),
    1,
  );
  // A state nobody is in any more disappears rather than sticking at its last value.
  calls = [{ direction: 'outbound', state: 'active' }];
  text = await metrics.scrape();
  assert.equal(
    value(text, 'whatsapp_connector_calls_active{direction="outbound",state="ringing"}'),
    undefined,
  );
  assert.equal(
    value(text, 'whatsapp_connector_calls_active{direction="outbound",state="active"}'),
    1,
  );
});

test('setup times, end reasons and Meta failures land in their series', async () => {
  const metrics = new ConnectorMetrics({ processMetrics: false });
  metrics.observeCallSetup('inbound', 0.8);
  metrics.observeCallSetup('inbound', 2.5);
  metrics.countCallEnded('outbound', 'user_hangup');
  metrics.countCallEnded('outbound', 'user_hangup');
  metrics.countGraphError('accept', 138021);
  metrics.countGraphError('terminate', 'timeout');
  metrics.countWebhookSignatureFailure('invalid');
  metrics.countWebhookReceived('call_connect');
  metrics.countForwardRetried();
  metrics.countForwardDeadLettered();
  metrics.countForwardDelivered();
  metrics.setAdmissionOpen(false);
  metrics.countAdmissionRefused('event_loop_lag');
  const text = await metrics.scrape();
  assert.equal(value(text, 'whatsapp_connector_call_setup_seconds_count{direction="inbound"}'), 2);
  assert.equal(
    value(text, 'whatsapp_connector_call_setup_seconds_bucket{le="1",direction="inbound"}'),
    1,
  );
  assert.equal(
    value(text, 'whatsapp_connector_calls_ended_total{direction="outbound",reason="user_hangup"}'),
    2,
  );
  assert.equal(
    value(text, 'whatsapp_connector_graph_api_errors_total{operation="accept",code="138021"}'),
    1,
  );
  assert.equal(
    value(text, 'whatsapp_connector_graph_api_errors_total{operation="terminate",code="timeout"}'),
    1,
  );
  assert.equal(
    value(text, 'whatsapp_connector_webhook_signature_failures_total{reason="invalid"}'),
    1,
  );
  assert.equal(value(text, 'whatsapp_connector_webhooks_received_total{type="call_connect"}'), 1);
  assert.equal(value(text, 'whatsapp_connector_webhook_forwards_retried_total'), 1);
  assert.equal(value(text, 'whatsapp_connector_webhook_forwards_dead_lettered_total'), 1);
  assert.equal(value(text, 'whatsapp_connector_webhook_forwards_delivered_total'), 1);
  assert.equal(value(text, 'whatsapp_connector_admission_open'), 0);
  assert.equal(
    value(text, 'whatsapp_connector_admission_refusals_total{reason="event_loop_lag"}'),
    1,
  );
});

test('a call quality summary is observed as loss, concealment and jitter ratios', async () => {
  const metrics = new ConnectorMetrics({ processMetrics: false });
  metrics.observeCallQuality('inbound', {
    packetsReceived: 990,
    packetsLost: 10,
    framesDecoded: 950,
    framesConcealed: 50,
    jitterSeconds: 0.012,
  });
  // A call that never got media adds no ratio (0/0 is not "no loss").
  metrics.observeCallQuality('inbound', {
    packetsReceived: 0,
    packetsLost: 0,
    framesDecoded: 0,
    framesConcealed: 0,
  });
  const text = await metrics.scrape();
  assert.equal(
    value(text, 'whatsapp_connector_call_packet_loss_ratio_sum{direction="inbound"}'),
    0.01,
  );
  assert.equal(
    value(text, 'whatsapp_connector_call_packet_loss_ratio_count{direction="inbound"}'),
    1,
  );
  assert.equal(
    value(text, 'whatsapp_connector_call_concealment_ratio_sum{direction="inbound"}'),
    0.05,
  );
  assert.equal(
    value(text, 'whatsapp_connector_call_jitter_seconds_bucket{le="0.02",direction="inbound"}'),
    1,
  );
  assert.equal(
    value(text, 'whatsapp_connector_call_jitter_seconds_bucket{le="0.01",direction="inbound"}'),
    0,
  );
});

test('live media totals sum the calls now live', async () => {
  const metrics = new ConnectorMetrics({ processMetrics: false });
  metrics.setLiveMediaSource(() => [
    {
      packetsReceived: 100,
      packetsLost: 1,
      framesDecoded: 99,
      framesConcealed: 2,
      jitterSeconds: 0.004,
    },
    {
      packetsReceived: 50,
      packetsLost: 4,
      framesDecoded: 46,
      framesConcealed: 5,
      jitterSeconds: 0.03,
    },
  ]);
  const text = await metrics.scrape();
  assert.equal(value(text, 'whatsapp_connector_media_live_packets_received'), 150);
  assert.equal(value(text, 'whatsapp_connector_media_live_packets_lost'), 5);
  assert.equal(value(text, 'whatsapp_connector_media_live_frames_concealed'), 7);
  assert.equal(value(text, 'whatsapp_connector_media_live_jitter_seconds_max'), 0.03);
});

test('queue depths are read at scrape time, and a store that cannot answer does not fail the scrape', async () => {
  const metrics = new ConnectorMetrics({ processMetrics: false });
  metrics.watchQueue('webhooks', {
    sizes: async () => ({ ready: 3, inFlight: 1, delayed: 2, dead: 4 }),
  });
  metrics.watchQueue('forwards', {
    sizes: async () => {
      throw new Error('Redis down');
    },
  });
  const text = await metrics.scrape();
  assert.equal(value(text, 'whatsapp_connector_queue_depth{queue="webhooks",state="ready"}'), 3);
  assert.equal(
    value(text, 'whatsapp_connector_queue_depth{queue="webhooks",state="in_flight"}'),
    1,
  );
  assert.equal(value(text, 'whatsapp_connector_queue_depth{queue="webhooks",state="delayed"}'), 2);
  assert.equal(value(text, 'whatsapp_connector_queue_depth{queue="webhooks",state="dead"}'), 4);
  assert.equal(
    value(text, 'whatsapp_connector_queue_depth{queue="forwards",state="ready"}'),
    undefined,
  );
});

test('two instances keep separate registries', async () => {
  const a = new ConnectorMetrics({ processMetrics: false });
  const b = new ConnectorMetrics({ processMetrics: false });
  a.countCallEnded('inbound', 'timeout');
  assert.equal(
    value(
      await b.scrape(),
      'whatsapp_connector_calls_ended_total{direction="inbound",reason="timeout"}',
    ),
    undefined,
  );
});
