/**
 * Every Prometheus metric of the connector, defined in one place with typed helpers, on the
 * registry the internal listener serves at `/metrics`. Code that has something to report calls a
 * helper (`countCallEnded`, `observeCallSetup`, …) or registers a source that is read at scrape
 * time (`setActiveCallsSource`, `watchQueue`, …); nothing else creates metrics.
 *
 * Names follow Prometheus conventions: prefix `whatsapp_connector_`, base units (seconds, ratios
 * 0..1), `_total` on counters. Label values are bounded sets (directions, states, reasons, codes),
 * never call ids, numbers or rooms.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HttpListenerMetrics } from '../server/http-server.js';

export const METRIC_PREFIX = 'whatsapp_connector_';

/** Who placed the call: the WhatsApp user (`inbound`) or the business through the API. */
export type CallDirection = 'inbound' | 'outbound';

/** One live call as the active-calls gauge counts it. */
export interface ActiveCallSample {
  direction: CallDirection;
  /** The call's state name (e.g. `ringing`, `active`, `ending`). */
  state: string;
}

/**
 * Media counters of one call's leg to Meta (received side), since the leg started. Units: packets
 * and 20 ms frames.
 */
export interface CallMediaTotals {
  /** Opus RTP packets received from Meta. */
  packetsReceived: number;
  /** Packets missing from the received sequence. */
  packetsLost: number;
  /** Frames played from decoded packets. */
  framesDecoded: number;
  /** Frames played as loss concealment. */
  framesConcealed: number;
  /** RFC 3550 interarrival jitter, seconds, when the leg measures it. */
  jitterSeconds?: number | undefined;
}

/** The load admission control decides on (see `src/server/admission-control.ts`). */
export interface LoadFigures {
  /** Mean event-loop lag over the admission window, seconds. */
  eventLoopLagSeconds: number;
  /** Busy share of the main thread over the admission window (event-loop utilization, 0..1). */
  cpuRatio: number;
}

/** Sizes of a durable queue (see `src/store/durable-queue.ts`). */
export interface QueueDepthSource {
  sizes(): Promise<{ ready: number; inFlight: number; delayed: number; dead: number }>;
}

/** A listener whose open connections are reported. */
export interface ListenerSource {
  readonly name: string;
  connections(): Promise<number>;
}

export interface ConnectorMetricsOptions {
  /**
   * Optional - also collect prom-client's default process metrics (CPU, memory, handles, GC,
   * event-loop lag as `whatsapp_connector_nodejs_eventloop_lag_*`). Default true.
   */
  processMetrics?: boolean;
  /** Optional - resolution of the event-loop lag histogram, ms. Default 10. */
  eventLoopMonitoringPrecisionMs?: number;
}

/** Setup time buckets, seconds: from an instant accept to a user who lets it ring. */
const SETUP_BUCKETS = [0.25, 0.5, 1, 1.5, 2, 3, 5, 8, 13, 20, 30, 45, 60];
/** Ratio buckets (loss, concealment): 0.1 % steps where calls still sound fine, coarse above. */
const RATIO_BUCKETS = [0, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];
/** Jitter buckets, seconds. */
const JITTER_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.02, 0.04, 0.08, 0.16, 0.32];

/**
 * The connector's metrics. One instance per service instance (its own registry), so tests can run
 * several side by side.
 */
export class ConnectorMetrics implements HttpListenerMetrics {
  /** The registry `/metrics` serves. Other modules may register on it (the cluster does). */
  readonly registry = new Registry();

  private activeCallsSource: (() => Iterable<ActiveCallSample>) | undefined;
  private liveMediaSource: (() => Iterable<CallMediaTotals>) | undefined;
  private loadSource: (() => LoadFigures) | undefined;
  private readonly queues = new Map<string, QueueDepthSource>();
  private readonly listeners = new Map<string, ListenerSource>();

  private readonly callsEnded: Counter<'direction' | 'reason'>;
  private readonly callSetup: Histogram<'direction'>;
  private readonly lossRatio: Histogram<'direction'>;
  private readonly concealmentRatio: Histogram<'direction'>;
  private readonly jitter: Histogram<'direction'>;
  private readonly graphErrors: Counter<'operation' | 'code'>;
  private readonly signatureFailures: Counter<'reason'>;
  private readonly webhooksReceived: Counter<'type'>;
  private readonly forwardsDelivered: Counter;
  private readonly forwardsRetried: Counter;
  private readonly forwardsDeadLettered: Counter;
  private readonly orphansCleaned: Counter<'outcome'>;
  private readonly ready: Gauge;
  private readonly admissionOpen: Gauge;
  private readonly admissionRefusals: Counter<'reason'>;
  private readonly connectionsDropped: Counter<'listener'>;
  private readonly bodiesTooLarge: Counter<'listener'>;

  constructor(options: ConnectorMetricsOptions = {}) {
    const registers = [this.registry];
    if (options.processMetrics ?? true) {
      collectDefaultMetrics({
        register: this.registry,
        prefix: METRIC_PREFIX,
        eventLoopMonitoringPrecision: options.eventLoopMonitoringPrecisionMs ?? 10,
      });
    }
    const name = (n: string) => `${METRIC_PREFIX}${n}`;
    const calls = () => this.activeCallsSource?.() ?? [];
    const media = () => this.liveMediaSource?.() ?? [];
    const load = () => this.loadSource?.();
    const queues = this.queues;
    const listeners = this.listeners;

    new Gauge({
      name: name('calls_active'),
      help: 'Calls this instance holds that have not ended, by direction and state',
      labelNames: ['direction', 'state'],
      registers,
      collect() {
        this.reset();
        for (const c of calls()) this.inc({ direction: c.direction, state: c.state });
      },
    });
    this.callSetup = new Histogram({
      name: name('call_setup_seconds'),
      help: 'Time from the start of a call (webhook or Dial request) until media flows both ways, seconds',
      labelNames: ['direction'],
      buckets: SETUP_BUCKETS,
      registers,
    });
    this.callsEnded = new Counter({
      name: name('calls_ended_total'),
      help: 'Calls ended, by direction and end reason',
      labelNames: ['direction', 'reason'],
      registers,
    });
    this.lossRatio = new Histogram({
      name: name('call_packet_loss_ratio'),
      help: 'Per call at its end: share of audio packets from WhatsApp that were lost (0..1)',
      labelNames: ['direction'],
      buckets: RATIO_BUCKETS,
      registers,
    });
    this.concealmentRatio = new Histogram({
      name: name('call_concealment_ratio'),
      help: 'Per call at its end: share of audio frames played as loss concealment (0..1)',
      labelNames: ['direction'],
      buckets: RATIO_BUCKETS,
      registers,
    });
    this.jitter = new Histogram({
      name: name('call_jitter_seconds'),
      help: 'Per call at its end: interarrival jitter of audio from WhatsApp (RFC 3550), seconds',
      labelNames: ['direction'],
      buckets: JITTER_BUCKETS,
      registers,
    });
    const liveGauge = (metric: string, help: string, pick: (t: CallMediaTotals) => number) =>
      new Gauge({
        name: name(metric),
        help,
        registers,
        collect() {
          let sum = 0;
          for (const t of media()) sum += pick(t);
          this.set(sum);
        },
      });
    liveGauge(
      'media_live_packets_received',
      'Audio packets received from WhatsApp so far by the calls now live',
      (t) => t.packetsReceived,
    );
    liveGauge(
      'media_live_packets_lost',
      'Audio packets from WhatsApp lost so far by the calls now live',
      (t) => t.packetsLost,
    );
    liveGauge(
      'media_live_frames_concealed',
      'Audio frames played as loss concealment so far by the calls now live',
      (t) => t.framesConcealed,
    );
    new Gauge({
      name: name('media_live_jitter_seconds_max'),
      help: 'Highest interarrival jitter among the calls now live, seconds',
      registers,
      collect() {
        let max = 0;
        for (const t of media()) max = Math.max(max, t.jitterSeconds ?? 0);
        this.set(max);
      },
    });
    this.graphErrors = new Counter({
      name: name('graph_api_errors_total'),
      help: 'Failed Graph API requests, by operation and Meta error code (or timeout, network, http_<status>)',
      labelNames: ['operation', 'code'],
      registers,
    });
    this.signatureFailures = new Counter({
      name: name('webhook_signature_failures_total'),
      help: 'Webhook POSTs refused because X-Hub-Signature-256 was missing or wrong, by reason',
      labelNames: ['reason'],
      registers,
    });
    this.webhooksReceived = new Counter({
      name: name('webhooks_received_total'),
      help: 'Webhook events received with a valid signature, by type',
      labelNames: ['type'],
      registers,
    });
    this.forwardsDelivered = new Counter({
      name: name('webhook_forwards_delivered_total'),
      help: 'Webhooks delivered to the forward URL',
      registers,
    });
    this.forwardsRetried = new Counter({
      name: name('webhook_forwards_retried_total'),
      help: 'Webhook forward attempts that failed and were scheduled again',
      registers,
    });
    this.forwardsDeadLettered = new Counter({
      name: name('webhook_forwards_dead_lettered_total'),
      help: 'Webhooks moved to the dead-letter list after the last forward attempt failed',
      registers,
    });
    this.orphansCleaned = new Counter({
      name: name('orphan_calls_cleaned_total'),
      help: 'Calls of a dead process (this one before a restart, or a peer) ended at Meta and removed from their room, by how Meta was told',
      labelNames: ['outcome'],
      registers,
    });
    new Gauge({
      name: name('queue_depth'),
      help: 'Entries of a durable queue, by queue and state (ready, in_flight, delayed, dead)',
      labelNames: ['queue', 'state'],
      registers,
      async collect() {
        this.reset();
        await Promise.all(
          [...queues].map(async ([queue, source]) => {
            // A store that cannot answer now leaves the series out rather than failing the scrape.
            const sizes = await source.sizes().catch(() => undefined);
            if (!sizes) return;
            this.set({ queue, state: 'ready' }, sizes.ready);
            this.set({ queue, state: 'in_flight' }, sizes.inFlight);
            this.set({ queue, state: 'delayed' }, sizes.delayed);
            this.set({ queue, state: 'dead' }, sizes.dead);
          }),
        );
      },
    });
    this.ready = new Gauge({
      name: name('ready'),
      help: '1 while the instance takes new calls and webhooks (/readyz answers 200), 0 while starting or draining',
      registers,
    });
    this.admissionOpen = new Gauge({
      name: name('admission_open'),
      help: '1 while admission control lets new calls in, 0 while it refuses them (instance full)',
      registers,
    });
    this.admissionOpen.set(1);
    new Gauge({
      name: name('event_loop_lag_seconds'),
      help: 'Mean event-loop lag over the last 5 s (perf_hooks monitorEventLoopDelay), seconds; admission control refuses calls above ADMISSION_MAX_EVENT_LOOP_LAG_MS',
      registers,
      collect() {
        const figures = load();
        if (figures) this.set(figures.eventLoopLagSeconds);
      },
    });
    new Gauge({
      name: name('event_loop_utilization'),
      help: 'Busy share of the main thread over the last 5 s (perf_hooks eventLoopUtilization, 0..1); admission control refuses calls above ADMISSION_MAX_CPU',
      registers,
      collect() {
        const figures = load();
        if (figures) this.set(figures.cpuRatio);
      },
    });
    this.admissionRefusals = new Counter({
      name: name('admission_refusals_total'),
      help: 'New calls refused by admission control, by reason (calls, event_loop_lag, cpu, draining)',
      labelNames: ['reason'],
      registers,
    });
    this.connectionsDropped = new Counter({
      name: name('http_connections_dropped_total'),
      help: 'Connections closed at accept because the listener was at its connection cap',
      labelNames: ['listener'],
      registers,
    });
    this.bodiesTooLarge = new Counter({
      name: name('http_bodies_too_large_total'),
      help: 'Requests refused because their body was over the cap of the endpoint',
      labelNames: ['listener'],
      registers,
    });
    new Gauge({
      name: name('http_open_connections'),
      help: 'Open connections per listener',
      labelNames: ['listener'],
      registers,
      async collect() {
        this.reset();
        for (const [listener, source] of listeners) {
          this.set({ listener }, await source.connections());
        }
      },
    });
  }

  // ---- sources read at scrape time ------------------------------------------------------------

  /** Where the live calls come from (the call registry). Replaces a previous source. */
  setActiveCallsSource(source: () => Iterable<ActiveCallSample>): void {
    this.activeCallsSource = source;
  }

  /** Where the live calls' media counters come from. Replaces a previous source. */
  setLiveMediaSource(source: () => Iterable<CallMediaTotals>): void {
    this.liveMediaSource = source;
  }

  /** Where the load admission control sees comes from. Replaces a previous source. */
  setLoadSource(source: () => LoadFigures): void {
    this.loadSource = source;
  }

  /** Report the depth of a durable queue as `queue_depth{queue=name}`. */
  watchQueue(name: string, queue: QueueDepthSource): void {
    this.queues.set(name, queue);
  }

  /** Report a listener's open connections as `http_open_connections{listener}`. */
  watchListener(listener: ListenerSource): void {
    this.listeners.set(listener.name, listener);
  }

  // ---- calls ------------------------------------------------------------------------------------

  /** A call reached media both ways `seconds` after it started. */
  observeCallSetup(direction: CallDirection, seconds: number): void {
    this.callSetup.observe({ direction }, seconds);
  }

  /** A call ended; `reason` is its end reason (a bounded set, e.g. `user_hangup`). */
  countCallEnded(direction: CallDirection, reason: string): void {
    this.callsEnded.inc({ direction, reason });
  }

  /** A call's media quality at its end (one observation per call). */
  observeCallQuality(direction: CallDirection, totals: CallMediaTotals): void {
    const expected = totals.packetsReceived + totals.packetsLost;
    if (expected > 0) this.lossRatio.observe({ direction }, totals.packetsLost / expected);
    const played = totals.framesDecoded + totals.framesConcealed;
    if (played > 0) {
      this.concealmentRatio.observe({ direction }, totals.framesConcealed / played);
    }
    if (totals.jitterSeconds !== undefined)
      this.jitter.observe({ direction }, totals.jitterSeconds);
  }

  // ---- Meta -------------------------------------------------------------------------------------

  /**
   * A Graph API request failed. `code` is Meta's error code when it sent one (`138021`), else
   * `timeout`, `network` or `http_<status>`; `operation` the action (`accept`, `terminate`, …).
   */
  countGraphError(operation: string, code: string | number): void {
    this.graphErrors.inc({ operation, code: String(code) });
  }

  /** A webhook POST failed its signature check (`missing`, `invalid`, `no_secret`). */
  countWebhookSignatureFailure(reason: string): void {
    this.signatureFailures.inc({ reason });
  }

  /** A signed webhook event arrived (`call_connect`, `call_terminate`, `call_status`, `messages`, …). */
  countWebhookReceived(type: string): void {
    this.webhooksReceived.inc({ type });
  }

  /** A forward reached the forward URL. */
  countForwardDelivered(): void {
    this.forwardsDelivered.inc();
  }

  /** A forward attempt failed and another is scheduled. */
  countForwardRetried(): void {
    this.forwardsRetried.inc();
  }

  /** A forward gave up and went to the dead-letter list. */
  countForwardDeadLettered(): void {
    this.forwardsDeadLettered.inc();
  }

  /**
   * A call left by a dead process was cleaned up; `outcome` is how it ended at Meta
   * (`terminated`, `rejected`, `already_ended`, `no_token`).
   */
  countOrphanCleaned(outcome: string): void {
    this.orphansCleaned.inc({ outcome });
  }

  // ---- readiness and admission --------------------------------------------------------------------

  setReady(ready: boolean): void {
    this.ready.set(ready ? 1 : 0);
  }

  /** Admission control opened (true) or closed (false) the door to new calls. */
  setAdmissionOpen(open: boolean): void {
    this.admissionOpen.set(open ? 1 : 0);
  }

  /** A new call was refused (`calls`, `event_loop_lag`, `cpu`, `draining`). */
  countAdmissionRefused(reason: string): void {
    this.admissionRefusals.inc({ reason });
  }

  // ---- HTTP (HttpListenerMetrics) -----------------------------------------------------------------

  connectionDropped(listener: string): void {
    this.connectionsDropped.inc({ listener });
  }

  bodyTooLarge(listener: string): void {
    this.bodiesTooLarge.inc({ listener });
  }

  /** The exposition text `/metrics` answers. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
