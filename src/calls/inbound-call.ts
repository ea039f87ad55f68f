import { InvalidSdpError, MediaConnectError } from './call-errors.js';
import type { AcceptParams } from './call-params.js';
import type { MediaLegPort } from './call-ports.js';
import { mayHaveBeenApplied } from './graph-outcome.js';
import { WhatsAppCall, type CallDependencies, type MetaEndAction } from './whatsapp-call.js';

/** The answering actions of a user-initiated call, in the order they are sent. */
type AnswerAction = 'pre_accept' | 'accept';

/**
 * A user-initiated call. It runs the accept: our SDP answer to Meta's offer, `pre_accept` so Meta
 * starts ICE/DTLS while the connector joins the room, then `accept` (same SDP) once media is up,
 * so the caller hears the agent from the first word. It keeps what it sent to Meta and how Meta
 * answered, which decides its end: a call known never to have been (pre-)accepted is rejected;
 * one whose pre_accept or accept may have been applied (answered, timed out, 5xx, or a refusal
 * after a timed-out attempt) is terminated, since Meta refuses to reject an accepted call.
 */
export class InboundCall extends WhatsAppCall {
  readonly #offerSdp: string;
  /** Answering actions that were sent and not known to have been refused: Meta may have applied them. */
  readonly #maybeApplied = new Set<AnswerAction>();
  /** Answering requests still under way; the end waits for them before choosing reject or terminate. */
  readonly #inFlight = new Set<Promise<unknown>>();
  #acceptance: Promise<void> | undefined;

  constructor(params: AcceptParams, deps: CallDependencies) {
    super(
      {
        direction: 'inbound',
        meta: params.meta,
        user: params.caller,
        participant: params.participant,
        destinationCountry: params.destinationCountry,
        bizOpaqueCallbackData: params.bizOpaqueCallbackData,
        ringingTimeoutMs: params.ringingTimeoutMs,
      },
      deps,
    );
    this.setCallId(params.callId);
    this.#offerSdp = params.offerSdp;
  }

  /**
   * Answer the call, once; every caller gets the same promise (a repeated Accept joins the first).
   * Resolves once Meta accepted it. Rejects with {@link InvalidSdpError}, the Graph client's
   * errors, `RoomJoinError`, {@link MediaConnectError}, or — when the call ended meanwhile (ringing
   * timeout, the user hung up, a disconnect) — the error saying why it ended; the call is closed
   * before it rejects.
   */
  accept(): Promise<void> {
    this.#acceptance ??= this.#accept();
    return this.#acceptance;
  }

  async #accept(): Promise<void> {
    let answer: string;
    try {
      answer = await this.media.createAnswer(this.#offerSdp);
    } catch (err) {
      if (this.isClosed) throw this.endedError();
      await this.close('failed');
      throw new InvalidSdpError('offer', (err as Error).message, { cause: err });
    }
    this.#throwIfClosed();
    const joined = this.joinRoom();
    joined.catch(() => undefined);
    const connected = mediaConnected(this.media);
    connected.catch(() => undefined);
    try {
      await this.#answerAtMeta('pre_accept', answer);
      await joined;
      this.#throwIfClosed();
      await connected;
      this.#throwIfClosed();
      await this.#answerAtMeta('accept', answer);
      this.#throwIfClosed();
    } catch (err) {
      // A call that ended meanwhile (ringing timeout, terminate webhook, disconnect) reports why
      // it ended, not the side effect (a closed media leg, an aborted request) that woke us up.
      const mediaFailed = err instanceof MediaConnectError && err.reason !== 'closed';
      if (this.isClosed && !mediaFailed) throw this.endedError();
      this.log.warn({ err }, 'accepting the call failed');
      await this.close('failed');
      throw err;
    }
    this.log.info('call accepted');
    this.markAnswered();
  }

  #throwIfClosed(): void {
    if (this.isClosed) throw this.endedError();
  }

  /** Send `pre_accept` or `accept`, keeping track of whether Meta may have applied it. */
  async #answerAtMeta(action: AnswerAction, sdp: string): Promise<void> {
    this.#throwIfClosed();
    this.#maybeApplied.add(action);
    const request = { ...this.meta, callId: this.callId, sdp };
    const sent =
      action === 'pre_accept'
        ? this.graph.preAcceptCall(request)
        : this.graph.acceptCall({
            ...request,
            ...(this.bizOpaqueCallbackData
              ? { bizOpaqueCallbackData: this.bizOpaqueCallbackData }
              : {}),
          });
    const settled = sent.catch(() => undefined);
    this.#inFlight.add(settled);
    try {
      await sent;
    } catch (err) {
      if (!mayHaveBeenApplied(err)) this.#maybeApplied.delete(action);
      throw err;
    } finally {
      this.#inFlight.delete(settled);
    }
  }

  protected override async metaEndAction(): Promise<MetaEndAction> {
    // Decide on what Meta answered, not on a request still under way.
    await Promise.all([...this.#inFlight]);
    return this.#maybeApplied.size > 0 ? 'terminate' : 'reject';
  }
}

/** Resolves when the media leg connects; rejects with MediaConnectError when it closes first. */
function mediaConnected(media: MediaLegPort): Promise<void> {
  if (media.state === 'connected') return Promise.resolve();
  if (media.state === 'closed') return Promise.reject(new MediaConnectError('closed'));
  return new Promise((resolve, reject) => {
    media.once('connected', () => resolve());
    media.once('closed', (reason) => reject(new MediaConnectError(reason)));
  });
}
