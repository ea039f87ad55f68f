/**
 * What the service reports about its calls and webhooks, wired in one place: the calls' metrics
 * (active, setup time, end reasons, media quality live and at the end), one quality summary log
 * line per call, and the webhook gateway's counts. The metrics themselves are defined in
 * `src/metrics/`; this module only listens to the call registry and the gateway.
 */
import type { CallRegistry } from '../calls/call-registry.js';
import type { WhatsAppCall } from '../calls/whatsapp-call.js';
import type { WebhookGateway } from '../gateway/webhook-gateway.js';
import type { Logger } from '../log/index.js';
import type { DirectionQuality } from '../media/media-quality.js';
import type { CallMediaTotals, ConnectorMetrics } from '../metrics/index.js';

/** The quality summary logged once per call when it ends (the log line's `quality` field). */
export interface CallQualitySummary {
  /** Seconds from answer to end; 0 when never answered. */
  durationSeconds: number;
  /** From the WhatsApp user to the connector. */
  received: {
    packets: number;
    packetsLost: number;
    /** packetsLost / (packets + packetsLost), 0..1; undefined without packets. */
    lossRatio: number | undefined;
    /** 20 ms frames played from decoded packets and as loss concealment; absent in passthrough. */
    framesDecoded: number | undefined;
    framesConcealed: number | undefined;
    /** framesConcealed / (framesDecoded + framesConcealed), 0..1. */
    concealmentRatio: number | undefined;
    /** RFC 3550 interarrival jitter at the end, ms. */
    jitterMs: number | undefined;
    /** Audio level at the end, dBFS; null for digital silence, absent when not measured. */
    levelDbfs: number | null | undefined;
  };
  /** From the connector to the WhatsApp user, as Meta's receiver reports describe it. */
  sent: {
    packets: number;
    packetsLost: number;
    jitterMs: number | undefined;
    levelDbfs: number | null | undefined;
  };
}

/** Counters a media leg may report besides `packetsReceived` (the staged `WhatsAppMediaLeg`'s). */
interface LegCounters {
  packetsReceived?: number;
  sequenceGaps?: number;
  jitterMs?: number;
  framesDecoded?: number;
  framesConcealed?: number;
}

export interface CallTelemetryOptions {
  metrics: ConnectorMetrics;
  /** The calls of this instance. */
  registry: CallRegistry;
  logger: Logger;
  /** Optional - the webhook gateway, for signature failures and received events by type. */
  gateway?: WebhookGateway | undefined;
}

/**
 * Wire the call registry (and gateway) to the metrics and the per-call quality log. Returns a
 * function that stops listening.
 */
export function attachCallTelemetry(options: CallTelemetryOptions): () => void {
  const { metrics, registry, gateway } = options;
  const logger = options.logger.child({ component: 'call-quality' });

  metrics.setActiveCallsSource(() =>
    registry
      .list()
      .filter((c) => c.state !== 'ended')
      .map((c) => ({ direction: c.direction, state: c.state })),
  );
  metrics.setLiveMediaSource(() =>
    registry
      .all()
      .filter((c) => !c.isClosed)
      .map((c) => mediaTotals(c)),
  );

  const onAdded = (call: WhatsAppCall) => {
    const onState = (state: string) => {
      if (state === 'active') {
        metrics.observeCallSetup(call.direction, (Date.now() - call.createdAt) / 1000);
      } else if (state === 'ending') {
        call.off('state', onState);
        // Read before the media leg is released, which happens right after `ending`.
        const totals = mediaTotals(call);
        const quality = qualitySummary(call);
        if (totals.packetsReceived > 0) metrics.observeCallQuality(call.direction, totals);
        logger.info(
          {
            callId: call.callId,
            direction: call.direction,
            phoneNumberId: call.phoneNumberId,
            room: call.roomName,
            reason: call.endReason,
            quality,
          },
          'call quality summary',
        );
      }
    };
    call.on('state', onState);
    call.once('ended', (reason) => metrics.countCallEnded(call.direction, reason));
  };
  registry.on('added', onAdded);

  const onSignature = (reason: string) => metrics.countWebhookSignatureFailure(reason);
  const onProcessed = (result: { event: { kind: string } }) =>
    metrics.countWebhookReceived(result.event.kind);
  gateway?.on('signatureRefused', onSignature);
  gateway?.on('processed', onProcessed);

  return () => {
    registry.off('added', onAdded);
    gateway?.off('signatureRefused', onSignature);
    gateway?.off('processed', onProcessed);
  };
}

/**
 * The received side's counters of a call's media leg, as the metrics take them. Read from
 * `stats()` only: the leg's `quality()` turns on level metering (decoding on the passthrough
 * path) for a while, which a scrape must not cause.
 */
export function mediaTotals(call: Pick<WhatsAppCall, 'media'>): CallMediaTotals {
  const counters = safe(() => call.media.stats() as LegCounters) ?? {};
  const jitterMs = counters.packetsReceived ? counters.jitterMs : undefined;
  return {
    packetsReceived: counters.packetsReceived ?? 0,
    packetsLost: counters.sequenceGaps ?? 0,
    framesDecoded: counters.framesDecoded ?? 0,
    framesConcealed: counters.framesConcealed ?? 0,
    jitterSeconds: jitterMs !== undefined ? jitterMs / 1000 : undefined,
  };
}

/** The quality summary of a call now (logged when it ends). */
export function qualitySummary(call: Pick<WhatsAppCall, 'media' | 'summary'>): CallQualitySummary {
  const counters = safe(() => call.media.stats() as LegCounters) ?? {};
  const quality = safe(() => call.media.quality?.());
  const totals = mediaTotals(call);
  const expected = totals.packetsReceived + totals.packetsLost;
  // Frames are decoded here only when the connector handles PCM (mixing, transcoding); on the
  // passthrough path the user's audio is forwarded as Opus and concealed by the receivers.
  const hasFrames = (counters.framesDecoded ?? 0) + (counters.framesConcealed ?? 0) > 0;
  const played = totals.framesDecoded + totals.framesConcealed;
  const sent: DirectionQuality | undefined = quality?.sent;
  return {
    durationSeconds: round(call.summary().durationSeconds),
    received: {
      packets: totals.packetsReceived,
      packetsLost: totals.packetsLost,
      lossRatio: expected > 0 ? round(totals.packetsLost / expected, 4) : undefined,
      framesDecoded: hasFrames ? totals.framesDecoded : undefined,
      framesConcealed: hasFrames ? totals.framesConcealed : undefined,
      concealmentRatio:
        hasFrames && played > 0 ? round(totals.framesConcealed / played, 4) : undefined,
      jitterMs: totals.jitterSeconds !== undefined ? round(totals.jitterSeconds * 1000) : undefined,
      levelDbfs: level(quality?.received.levelDbfs),
    },
    sent: {
      packets: sent?.packets ?? 0,
      packetsLost: sent?.packetsLost ?? 0,
      jitterMs: sent?.jitterMs !== undefined ? round(sent.jitterMs) : undefined,
      levelDbfs: level(sent?.levelDbfs),
    },
  };
}

/** A level for JSON: digital silence (-Infinity) is null, an unmeasured level absent. */
function level(dbfs: number | undefined): number | null | undefined {
  if (dbfs === undefined) return undefined;
  return Number.isFinite(dbfs) ? round(dbfs, 1) : null;
}

function round(n: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

/** A leg that throws while being read (closing) reports nothing rather than breaking the call. */
function safe<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}
