import { afterEach, beforeEach, describe, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConnectTwilioCallRequest, ConnectTwilioCallResponse } from '@livekit/protocol';
import { CallManager } from '../../../src/calls/call-manager.js';
import { CapacityError, OverloadedError } from '../../../src/calls/call-errors.js';
import type { OperationContext } from '../../../src/calls/call-params.js';
import { loadConfig } from '../../../src/config/index.js';
import { toTwirpError } from '../../../src/connector/connector-errors.js';
import { decodeError, encodeError } from '../../../src/cluster/cluster-error-codec.js';
import { silentLogger } from '../../../src/log/index.js';
import { ConnectorMetrics } from '../../../src/metrics/index.js';
import {
  ADMISSION_WINDOW_SAMPLES,
  AdmissionControl,
  ProcessLoadSource,
  admittedTwilioCalls,
  type LoadSample,
  type LoadSource,
} from '../../../src/server/admission-control.js';
import {
  FakeGraph,
  FakeMediaLeg,
  FakeRooms,
  acceptParams,
  dialParams,
  flush,
} from '../calls/call-fakes.js';

/** A load source whose next samples the test sets. */
class FakeLoad implements LoadSource {
  next: LoadSample = { eventLoopLagMs: 0, cpu: 0 };
  closed = false;
  sample(): LoadSample {
    return this.next;
  }
  close(): void {
    this.closed = true;
  }
}

const SETTINGS = { enabled: true, maxEventLoopLagMs: 100, maxCpu: 0.9 };

/** Fill the whole window with one sample. */
function load(control: AdmissionControl, source: FakeLoad, sample: LoadSample): void {
  source.next = sample;
  for (let i = 0; i < ADMISSION_WINDOW_SAMPLES; i++) control.sampleNow();
}

function value(text: string, series: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe('admission control', () => {
  test('refuses while the mean event-loop lag of the window is over the limit, naming the setting', () => {
    const source = new FakeLoad();
    const control = new AdmissionControl({ settings: SETTINGS, logger: silentLogger, source });
    load(control, source, { eventLoopLagMs: 20, cpu: 0.3 });
    assert.equal(control.overload(), undefined);
    load(control, source, { eventLoopLagMs: 250, cpu: 0.3 });
    const refusal = control.overload();
    assert.ok(refusal instanceof OverloadedError);
    assert.equal(refusal.reason, 'event_loop_lag');
    assert.match(
      refusal.message,
      /event-loop lag 250 ms .*ADMISSION_MAX_EVENT_LOOP_LAG_MS \(100 ms\)/,
    );
  });

  test('refuses while CPU of the window is over the limit', () => {
    const source = new FakeLoad();
    const control = new AdmissionControl({ settings: SETTINGS, logger: silentLogger, source });
    load(control, source, { eventLoopLagMs: 5, cpu: 0.97 });
    assert.equal(control.overload()?.reason, 'cpu');
    assert.match(control.overload()!.message, /main-thread CPU 97 % .*ADMISSION_MAX_CPU \(90 %\)/);
  });

  test('one bad second in the window does not close the door', () => {
    const source = new FakeLoad();
    const control = new AdmissionControl({ settings: SETTINGS, logger: silentLogger, source });
    load(control, source, { eventLoopLagMs: 10, cpu: 0.2 });
    source.next = { eventLoopLagMs: 300, cpu: 0.2 };
    control.sampleNow();
    // (4 × 10 + 300) / 5 = 68 ms.
    assert.equal(control.overload(), undefined);
    assert.equal(Math.round(control.load().eventLoopLagMs), 68);
  });

  test('a closed door opens only once the load is clearly below the limit', () => {
    const source = new FakeLoad();
    const control = new AdmissionControl({ settings: SETTINGS, logger: silentLogger, source });
    load(control, source, { eventLoopLagMs: 150, cpu: 0.2 });
    assert.equal(control.open, false);
    // Just under the limit: still refused (hysteresis).
    load(control, source, { eventLoopLagMs: 90, cpu: 0.2 });
    assert.equal(control.open, false);
    load(control, source, { eventLoopLagMs: 40, cpu: 0.2 });
    assert.equal(control.open, true);
  });

  test('disabled, it measures but never refuses', () => {
    const source = new FakeLoad();
    const control = new AdmissionControl({
      settings: { ...SETTINGS, enabled: false },
      logger: silentLogger,
      source,
    });
    load(control, source, { eventLoopLagMs: 900, cpu: 1 });
    assert.equal(control.overload(), undefined);
    assert.equal(control.load().eventLoopLagMs, 900);
  });

  test('reports the door, the load and refusals by reason in /metrics', async () => {
    const metrics = new ConnectorMetrics({ processMetrics: false });
    const source = new FakeLoad();
    const control = new AdmissionControl({
      settings: SETTINGS,
      logger: silentLogger,
      source,
      metrics,
    });
    load(control, source, { eventLoopLagMs: 200, cpu: 0.5 });
    control.refused('event_loop_lag');
    control.refused('calls');
    const text = await metrics.scrape();
    assert.equal(value(text, 'whatsapp_connector_admission_open'), 0);
    assert.equal(value(text, 'whatsapp_connector_event_loop_lag_seconds'), 0.2);
    assert.equal(value(text, 'whatsapp_connector_event_loop_utilization'), 0.5);
    assert.equal(
      value(text, 'whatsapp_connector_admission_refusals_total{reason="event_loop_lag"}'),
      1,
    );
    assert.equal(value(text, 'whatsapp_connector_admission_refusals_total{reason="calls"}'), 1);
    load(control, source, { eventLoopLagMs: 1, cpu: 0.1 });
    assert.equal(value(await metrics.scrape(), 'whatsapp_connector_admission_open'), 1);
    control.close();
    assert.equal(source.closed, true);
  });

  test('the process source measures a blocked event loop as lag', async () => {
    const source = new ProcessLoadSource();
    try {
      source.sample();
      // Block the loop for 150 ms a few times, letting its timer run between the blocks.
      for (let i = 0; i < 3; i++) {
        const until = Date.now() + 150;
        while (Date.now() < until);
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      const sample = source.sample();
      assert.ok(sample.eventLoopLagMs > 10, `lag ${sample.eventLoopLagMs} ms`);
      assert.ok(sample.cpu > 0.2, `cpu ${sample.cpu}`);
    } finally {
      source.close();
    }
  });
});

describe('admission control in the call manager', () => {
  beforeEach(() => mock.timers.enable({ apis: ['setTimeout', 'setInterval'] }));
  afterEach(() => mock.timers.reset());

  const ctx: OperationContext = {
    logger: silentLogger,
    signal: new AbortController().signal,
    origin: 'api',
    requestId: 'req-1',
    requester: 'test',
  };

  function bed() {
    const source = new FakeLoad();
    const metrics = new ConnectorMetrics({ processMetrics: false });
    const admission = new AdmissionControl({
      settings: SETTINGS,
      logger: silentLogger,
      source,
      metrics,
    });
    const graph = new FakeGraph();
    const rooms = new FakeRooms();
    const legs: FakeMediaLeg[] = [];
    const manager = new CallManager({
      config: loadConfig({
        env: {
          LIVEKIT_API_KEY: 'key',
          LIVEKIT_API_SECRET: 'secret-secret-secret-secret-secret',
          MAX_CONCURRENT_CALLS: '4',
        },
      }),
      logger: silentLogger,
      graph,
      roomLegs: rooms.join,
      mediaLegs: () => {
        const leg = new FakeMediaLeg();
        legs.push(leg);
        return leg;
      },
      admission,
    });
    return { manager, admission, source, graph, legs, metrics };
  }

  test('an overloaded instance refuses Dial and Accept before anything is made, and takes them again once the load drops', async () => {
    const { manager, admission, source, graph, legs, metrics } = bed();
    load(admission, source, { eventLoopLagMs: 400, cpu: 0.4 });
    assert.equal(manager.hasCapacity(), false);
    await assert.rejects(manager.dial(dialParams(), ctx), OverloadedError);
    await assert.rejects(manager.accept(acceptParams(), ctx), OverloadedError);
    assert.equal(legs.length, 0);
    assert.deepEqual(graph.actions(), []);
    assert.equal(
      value(
        await metrics.scrape(),
        'whatsapp_connector_admission_refusals_total{reason="event_loop_lag"}',
      ),
      2,
    );
    load(admission, source, { eventLoopLagMs: 5, cpu: 0.4 });
    assert.equal(manager.hasCapacity(), true);
    const dial = manager.dial(dialParams(), ctx);
    await flush();
    assert.equal((await dial).callId, 'wacid.fake-outbound');
  });

  test('ConnectTwilioCall is refused with resource_exhausted while busy, before the Twilio side is asked', async () => {
    const { admission, source, metrics } = bed();
    let asked = 0;
    const twilio = admittedTwilioCalls(
      {
        connectTwilioCall: async () => {
          asked++;
          return new ConnectTwilioCallResponse({ connectUrl: 'wss://x/twilio/stream/v1.t' });
        },
      },
      admission,
    );
    const ctx = {} as Parameters<typeof twilio.connectTwilioCall>[1];
    load(admission, source, { eventLoopLagMs: 2, cpu: 0.99 });
    await assert.rejects(
      twilio.connectTwilioCall(new ConnectTwilioCallRequest(), ctx),
      (err: Error & { code?: string }) =>
        err.code === 'resource_exhausted' && /ADMISSION_MAX_CPU/.test(err.message),
    );
    assert.equal(asked, 0);
    assert.equal(
      value(await metrics.scrape(), 'whatsapp_connector_admission_refusals_total{reason="cpu"}'),
      1,
    );
    load(admission, source, { eventLoopLagMs: 2, cpu: 0.1 });
    await twilio.connectTwilioCall(new ConnectTwilioCallRequest(), ctx);
    assert.equal(asked, 1);
  });

  test('the refusal is Twirp resource_exhausted with the reason, and survives the trip between instances', () => {
    const refusal = new OverloadedError('cpu', 0.95, 0.9);
    const twirp = toTwirpError(refusal);
    assert.equal(twirp.code, 'resource_exhausted');
    assert.match(twirp.message, /instance overloaded: main-thread CPU 95 %/);
    const back = decodeError(encodeError(refusal));
    assert.ok(back instanceof OverloadedError);
    assert.ok(back instanceof CapacityError, 'handled wherever a full instance is');
    assert.equal(back.message, refusal.message);
  });
});
