/**
 * Ending a call at Meta, as a policy of its own: `terminate` or `reject`, repeated in rounds with
 * backoff for as long as Meta's answer leaves the end unconfirmed (no answer, 5xx, throttling),
 * until Meta confirms, refuses for good, or the caller stops waiting. Each round is one Graph
 * request, which the Graph client itself may repeat a few times (see `graph-client.ts`).
 */
import type { Logger } from '../log/index.js';
import { GraphApiError } from '../whatsapp/graph-api-error.js';
import type { CallIdRequest } from '../whatsapp/graph-client.js';
import type { GraphCallsPort } from './call-ports.js';

/** Rounds of ending a call at Meta. */
export interface MetaEndRetry {
  /** First wait between rounds, ms; doubles each round. */
  initialDelayMs: number;
  /** Longest wait between rounds, ms. */
  maxDelayMs: number;
  /** Stop this long after the first round started, ms. */
  giveUpAfterMs: number;
}

/** How ending the call at Meta went. */
export type MetaEndOutcome =
  /** Meta confirmed (its answer, an "already ended" after a retry, or a terminate webhook). */
  | { kind: 'confirmed' }
  /** Nothing had to be sent. */
  | { kind: 'not_needed' }
  /** Meta refused for good (a 4xx): the call is over here; `error` says why Meta refused. */
  | { kind: 'refused'; error: GraphApiError }
  /** Still unconfirmed after the retry window, or abandoned (shutdown). */
  | { kind: 'gave_up' };

export interface MetaCallEnd {
  graph: GraphCallsPort;
  /** `reject` for a call Meta surely never answered, else `terminate`. */
  action: 'terminate' | 'reject';
  /** The call and the credentials to end it with; `signal` is replaced by `stop`. */
  request: Omit<CallIdRequest, 'signal'>;
  retry: MetaEndRetry;
  /**
   * Aborted when there is nothing more to do: Meta confirmed by other means (`confirmed()` then
   * says so), or the retries were abandoned. Aborts a request under way and any wait.
   */
  stop: AbortSignal;
  /** Whether Meta has confirmed the end by other means (a terminate webhook). */
  confirmed: () => boolean;
  logger: Logger;
}

/** End a call at Meta (see the module comment). Never rejects. */
export async function endCallAtMeta(end: MetaCallEnd): Promise<MetaEndOutcome> {
  const { graph, retry, stop, logger } = end;
  const request = { ...end.request, signal: stop };
  let action = end.action;
  const started = Date.now();
  let delay = retry.initialDelayMs;
  for (;;) {
    try {
      if (action === 'reject') await graph.rejectCall(request);
      else await graph.terminateCall(request);
      logger.info({ action }, 'call ended at Meta');
      return { kind: 'confirmed' };
    } catch (err) {
      if (end.confirmed()) return { kind: 'confirmed' };
      if (err instanceof GraphApiError && !isTransientRefusal(err)) {
        // A refusal after an attempt whose outcome was unknown: that attempt did it.
        if (err.afterUncertainAttempt) return { kind: 'confirmed' };
        if (action === 'reject') {
          // Meta would not decline it (it may have moved on to answered): terminate instead.
          logger.warn({ err }, 'reject refused at Meta; terminating instead');
          action = 'terminate';
          continue;
        }
        logger.warn({ err, action }, 'Meta refused to end the call');
        return { kind: 'refused', error: err };
      }
      if (stop.aborted) return { kind: 'gave_up' };
      if (Date.now() - started + delay > retry.giveUpAfterMs) {
        logger.error(
          { err, action },
          'could not end the call at Meta; giving up (Meta ends it once media stops)',
        );
        return { kind: 'gave_up' };
      }
      logger.warn({ err, action, retryInMs: delay }, 'ending the call at Meta failed; retrying');
      await sleep(delay, stop);
      if (end.confirmed()) return { kind: 'confirmed' };
      if (stop.aborted) return { kind: 'gave_up' };
      delay = Math.min(delay * 2, retry.maxDelayMs);
    }
  }
}

/**
 * Meta refusals worth another round: rate limits (HTTP 429) and errors Meta marks transient.
 * Every other 4xx is final.
 */
function isTransientRefusal(err: GraphApiError): boolean {
  return err.graphStatus === 429 || err.graph.is_transient === true;
}

/** Resolves after `ms`, or at once when `signal` aborts. The timer does not hold the process. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    timer.unref();
    signal.addEventListener('abort', done, { once: true });
  });
}
