import { GraphApiError } from '../whatsapp/graph-api-error.js';
import { endReasonOfDialRefusal, type CallEndReason } from './call-end-reason.js';
import {
  CallEndedError,
  InvalidSdpError,
  NO_CALL_PERMISSION_GRAPH_CODE,
  NoCallPermissionError,
  type RoomJoinError,
} from './call-errors.js';
import type { DialParams } from './call-params.js';
import { mayHaveBeenApplied } from './graph-outcome.js';
import { WhatsAppCall, type CallDependencies, type MetaEndAction } from './whatsapp-call.js';

/**
 * A business-initiated call. It runs the dial — our SDP offer to Meta's `connect` while the
 * connector joins the room, so that agents are dispatched during the first ring — applies Meta's
 * answer once (from the API or the connect webhook, whichever comes first), follows Meta's call
 * statuses, and ends the call at Meta with `terminate` once Meta has given it an id. A `connect`
 * that may have reached Meta without an answer leaves a call we cannot name: it is reported, and
 * the dial is never repeated for it.
 */
export class OutboundCall extends WhatsAppCall {
  readonly #params: DialParams;
  /** Meta's `connect`, once sent: the end waits for it to know whether a call exists. */
  #placing: Promise<unknown> | undefined;
  /** The `connect` failed in a way that may have placed a call anyway (timeout, 5xx). */
  #placedUnknown = false;
  #answering: Promise<void> | undefined;
  #roomJoinError: RoomJoinError | undefined;

  constructor(params: DialParams, deps: CallDependencies) {
    super(
      {
        direction: 'outbound',
        meta: params.meta,
        user: params.to,
        participant: params.participant,
        destinationCountry: params.destinationCountry,
        bizOpaqueCallbackData: params.bizOpaqueCallbackData,
        ringingTimeoutMs: params.ringingTimeoutMs,
      },
      deps,
    );
    this.#params = params;
  }

  /**
   * Place the call: offer → Meta `connect` → `onPlaced(call)` as soon as Meta named the call (so
   * webhooks and requests for it find it) → the room leg joined. Runs once. Rejects with the
   * Graph client's errors for Meta's refusals (138006 as {@link NoCallPermissionError}),
   * {@link RoomJoinError}, or {@link CallEndedError} when the call was closed before `connect`
   * was sent; the call is closed (and ended at Meta if it exists there) before it rejects.
   */
  async dial(onPlaced: (call: OutboundCall) => void): Promise<void> {
    // Join while Meta places the call: both take a round trip, and agents get dispatched earlier,
    // so audio can start as soon as the user picks up.
    const joined = this.joinRoom().catch((err: unknown) => {
      this.#roomJoinError = err as RoomJoinError;
      this.log.warn({ err }, 'joining the room failed');
      void this.close('failed');
    });
    let offer = '';
    try {
      offer = await this.media.createOffer();
    } catch (err) {
      if (!this.isClosed) {
        await this.close('failed');
        throw err;
      }
    }
    // Closed before anything was sent to Meta (room join failed, ringing timeout, shutdown).
    if (this.isClosed) throw this.#roomJoinError ?? new CallEndedError('', this.endReason);
    const to = this.#params.to;
    const placing = this.graph.connectCall({
      ...this.meta,
      // Meta takes a phone number in `to` and a BSUID (or parent BSUID) in `recipient`.
      ...(to.phoneNumber !== undefined
        ? { to: to.phoneNumber }
        : { recipient: to.userId ?? to.parentUserId }),
      sdp: offer,
      ...(this.bizOpaqueCallbackData ? { bizOpaqueCallbackData: this.bizOpaqueCallbackData } : {}),
    });
    this.#placing = placing.catch(() => undefined);
    let callId: string;
    try {
      ({ callId } = await placing);
    } catch (err) {
      this.#placedUnknown = mayHaveBeenApplied(err);
      await this.close(dialFailureReason(err));
      throw dialError(err, this.meta.phoneNumberId);
    }
    this.setCallId(callId);
    this.log.info('call placed at Meta');
    // Registered even when it closed meanwhile: its end at Meta (terminate, now that it has an
    // id) is under way, and webhooks for it must find it.
    onPlaced(this);
    if (this.isClosed && !this.#roomJoinError) {
      throw new CallEndedError(callId, this.endReason);
    }
    await joined;
    if (this.#roomJoinError) {
      // Meta is ringing the user already: the close terminates the call there.
      await this.close('failed');
      throw this.#roomJoinError;
    }
  }

  /**
   * Apply Meta's SDP answer (from ConnectWhatsAppCall or the connect webhook, possibly both): the
   * first one is applied, later ones join it. The phone is ringing from then on.
   * @throws CallEndedError when the call has ended; InvalidSdpError when the answer is unusable
   * (a later, correct answer may still be applied).
   */
  applyAnswer(sdp: string): Promise<void> {
    if (this.isClosed) return Promise.reject(new CallEndedError(this.callId, this.endReason));
    this.#answering ??= (async () => {
      try {
        await this.media.setRemoteAnswer(sdp);
      } catch (err) {
        this.#answering = undefined;
        if (this.isClosed) throw new CallEndedError(this.callId, this.endReason);
        throw new InvalidSdpError('answer', (err as Error).message, { cause: err });
      }
      this.markRinging();
    })();
    return this.#answering;
  }

  /** Meta's call status webhook (`RINGING`, `ACCEPTED`, `REJECTED`). Idempotent. */
  applyStatus(status: 'RINGING' | 'ACCEPTED' | 'REJECTED'): void {
    if (this.isClosed) return;
    if (status === 'RINGING') this.markRinging();
    else if (status === 'ACCEPTED') this.markAnswered();
    else void this.close('rejected', { endedAtMeta: true });
  }

  /** Meta relays the user's audio only once the call is picked up: the first frame answers it. */
  protected override onFirstCallerAudio(): void {
    this.markAnswered();
  }

  protected override async metaEndAction(): Promise<MetaEndAction> {
    await this.#placing;
    if (this.callId) return 'terminate';
    if (this.#placedUnknown) {
      this.log.warn(
        'the dial may have placed a call at Meta whose id never reached us; it cannot be ended from here',
      );
    }
    return 'none';
  }
}

/** Why a dial that Meta did not place ends. */
function dialFailureReason(err: unknown): CallEndReason {
  if (err instanceof GraphApiError && err.graphStatus < 500) {
    return endReasonOfDialRefusal(err.graphCode);
  }
  return 'failed';
}

/** Meta's refusal of a dial, in the call layer's terms where it has them. */
function dialError(err: unknown, phoneNumberId: string): unknown {
  if (err instanceof GraphApiError && err.graphCode === NO_CALL_PERMISSION_GRAPH_CODE) {
    return new NoCallPermissionError(phoneNumberId, 'no_permission', undefined, { cause: err });
  }
  return err;
}
