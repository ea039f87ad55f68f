/**
 * Typed errors of the call layer. They describe what happened to a call in the call's terms; the
 * API edges map them to wire codes and messages (LiveKit's catalogue for the Connector API). Meta's
 * own refusals stay the Graph client's `GraphApiError` / `GraphTransportError`.
 */
import { ServiceError } from '../errors/index.js';
import type { CallEndReason } from './call-end-reason.js';

/** No call with this id is held (here or, in a cluster, anywhere), or it was already disconnected. */
export class CallNotFoundError extends ServiceError {
  override readonly name: string = 'CallNotFoundError';
  readonly retryable = false;

  constructor(
    readonly callId: string,
    message = 'whatsapp call not found',
  ) {
    super(message);
  }
}

/** The instance that held the call stopped heartbeating: the call went with it. */
export class CallOwnerGoneError extends CallNotFoundError {
  override readonly name = 'CallOwnerGoneError';

  constructor(
    callId: string,
    readonly instanceId: string,
  ) {
    super(
      callId,
      `whatsapp call not found: instance ${instanceId} that held it is no longer running`,
    );
  }
}

/** The call has ended (or is ending), so the request cannot apply to it any more. */
export class CallEndedError extends ServiceError {
  override readonly name = 'CallEndedError';
  readonly retryable = false;

  constructor(
    readonly callId: string,
    readonly reason: CallEndReason | undefined,
  ) {
    super(`call ${callId} has ended (${reason ?? 'unknown reason'})`);
  }
}

/**
 * Nobody answered in time: the ringing timeout ended the call while a request waited for it to be
 * answered (Dial/Connect `wait_until_answered`, or Accept waiting for media and Meta's accept).
 */
export class AcceptTimeoutError extends ServiceError {
  override readonly name = 'AcceptTimeoutError';
  readonly retryable = false;

  constructor(readonly callId: string) {
    super(`call ${callId} was not answered within its ringing timeout`);
  }
}

/** The error a request waiting on a call gets when the call ends with `reason`. */
export function endedCallError(callId: string, reason: CallEndReason | undefined): ServiceError {
  return reason === 'no_answer'
    ? new AcceptTimeoutError(callId)
    : new CallEndedError(callId, reason);
}

/** This instance holds as many calls as it may (`MAX_CONCURRENT_CALLS`). Nothing was started. */
export class CapacityError extends ServiceError {
  override readonly name: string = 'CapacityError';
  readonly retryable = true;

  constructor(
    /** The limit that was reached, when one instance's limit is meant. */
    readonly maxConcurrentCalls?: number,
  ) {
    super(
      maxConcurrentCalls === undefined
        ? 'no instance has room for another call'
        : `at the call limit (${maxConcurrentCalls} calls)`,
    );
  }
}

/** What admission control found over its limit: event-loop lag or CPU. */
export type OverloadReason = 'event_loop_lag' | 'cpu';

/**
 * Admission control refused a new call: this instance is too busy (its event loop lags or its CPU
 * is at the limit) to set up another call without hurting the calls it has. Nothing was started;
 * another instance, or a retry later, may take it. A {@link CapacityError}, so every path that
 * handles a full instance (placing on a peer, rejecting a webhook's call at Meta) handles it.
 */
export class OverloadedError extends CapacityError {
  override readonly name = 'OverloadedError';

  constructor(
    readonly reason: OverloadReason,
    /** The measured value and the limit, in the setting's unit (ms of lag, CPU share 0..1). */
    readonly measured: number,
    readonly limit: number,
  ) {
    super();
    this.message =
      reason === 'event_loop_lag'
        ? `instance overloaded: event-loop lag ${Math.round(measured)} ms is over ADMISSION_MAX_EVENT_LOOP_LAG_MS (${limit} ms); retry later or on another instance`
        : `instance overloaded: main-thread CPU ${Math.round(measured * 100)} % is over ADMISSION_MAX_CPU (${Math.round(limit * 100)} %); retry later or on another instance`;
  }
}

/** This instance is shutting down and takes no new calls. Nothing was started. */
export class DrainingError extends ServiceError {
  override readonly name = 'DrainingError';
  readonly retryable = true;

  constructor() {
    super('this instance is shutting down and takes no new calls');
  }
}

/** An SDP from Meta (offer for an accept, answer for a dial) that the media leg cannot use. */
export class InvalidSdpError extends ServiceError {
  override readonly name = 'InvalidSdpError';
  readonly retryable = false;

  constructor(
    readonly kind: 'offer' | 'answer',
    readonly detail: string,
    options?: { cause?: unknown },
  ) {
    super(`invalid sdp ${kind}: ${detail}`, options);
  }
}

/** Meta's code for a business-initiated call without the user's permission. */
export const NO_CALL_PERMISSION_GRAPH_CODE = 138006;

/**
 * A dial to a user who has not granted (or has revoked) call permission: found by the permission
 * check before dialling, or Meta refused the dial with code 138006. Nothing was placed.
 */
export class NoCallPermissionError extends ServiceError {
  override readonly name = 'NoCallPermissionError';
  readonly retryable = false;

  constructor(
    readonly phoneNumberId: string,
    /** Meta's permission status, e.g. "no_permission". */
    readonly permissionStatus: string,
    /** Whether a permission request may be sent now, when Meta said so. */
    readonly canSendPermissionRequest?: boolean | undefined,
    options?: { cause?: unknown },
  ) {
    const next =
      canSendPermissionRequest === false
        ? 'a permission request cannot be sent right now either (Meta limits them per user); ask the user to allow calls from your business profile'
        : `send a call permission request first (whatsapp-connector permissions request <number> --phone-number-id ${phoneNumberId}) and dial once the user accepts`;
    super(
      `the WhatsApp user has not given this business permission to call (status ${permissionStatus}): ${next}`,
      options,
    );
  }
}

/** The connector participant could not join the call's LiveKit room. */
export class RoomJoinError extends ServiceError {
  override readonly name = 'RoomJoinError';
  readonly retryable = false;

  constructor(
    readonly roomName: string,
    options?: { cause?: unknown },
  ) {
    super('could not join the livekit room', options);
  }
}

/** A gated accept: nobody in the room published audio before the deadline. */
export class RoomNotReadyError extends ServiceError {
  override readonly name = 'RoomNotReadyError';
  readonly retryable = false;

  constructor(
    readonly roomName: string,
    options?: { cause?: unknown },
  ) {
    super(
      'timeout waiting for participants to publish in the livekit room before accepting the call',
      options,
    );
  }
}

/** The WebRTC leg to Meta closed before it connected (ICE/DTLS failure). */
export class MediaConnectError extends ServiceError {
  override readonly name = 'MediaConnectError';
  readonly retryable = false;

  constructor(readonly reason: string) {
    super(`media connection failed: ${reason}`);
  }
}

/**
 * A Dial with the same idempotency key is still running (elsewhere, or here): its result is not
 * known yet. Retrying later answers that Dial's result; nothing new is placed.
 */
export class DialInProgressError extends ServiceError {
  override readonly name = 'DialInProgressError';
  readonly retryable = true;

  constructor() {
    super('a Dial with this request id is still in progress; retry to get its result');
  }
}

// ---- routing (see `call-router.ts`) --------------------------------------------------------------

/** The directory of which instance holds which call (Redis) cannot be asked. */
export class DirectoryUnavailableError extends ServiceError {
  override readonly name: string = 'DirectoryUnavailableError';
  readonly retryable = true;
}

/** A peer instance could not be reached, or its answer was lost. */
export class PeerUnreachableError extends ServiceError {
  override readonly name = 'PeerUnreachableError';
  /** Only a request that never left may be sent again (to this peer or another). */
  readonly retryable: boolean;

  constructor(
    readonly instanceId: string,
    readonly url: string,
    /** The request may have reached the peer (it was sent, and then the answer was lost). */
    readonly requestSent: boolean,
    options?: { cause?: unknown },
  ) {
    super(
      `instance ${instanceId} holding this call is unreachable at ${url} (check INSTANCE_URL and that instances can reach each other); retry shortly`,
      options,
    );
    this.retryable = !requestSent;
  }
}

/** A forwarded request found the call held by yet another instance: the directory changed. */
export class CallMovedError extends ServiceError {
  override readonly name = 'CallMovedError';
  readonly retryable = true;

  constructor(readonly callId: string) {
    super('the call changed owner while the request was forwarded between instances; retry');
  }
}

/**
 * A transfer cannot run on this call now: it has no room leg yet (still being set up), another
 * transfer is under way, or the target is the room and identity the call is in already.
 */
export class TransferNotPossibleError extends ServiceError {
  override readonly name = 'TransferNotPossibleError';
  readonly retryable = false;

  constructor(
    readonly callId: string,
    readonly reason: 'not_in_a_room' | 'transfer_in_progress' | 'same_room',
  ) {
    super(
      reason === 'not_in_a_room'
        ? `call ${callId} is not in a room yet; transfer it once it is`
        : reason === 'transfer_in_progress'
          ? `call ${callId} is being transferred already`
          : `call ${callId} is in that room already`,
    );
  }
}
