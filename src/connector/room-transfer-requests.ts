/**
 * Transfer requests sent by a participant of a call's room as a data message, so an agent can
 * hand its caller off by itself: topic {@link TRANSFER_TOPIC}, a JSON body like the HTTP
 * endpoint's (`{"room": "humans", "agents": [{"agentName": "support"}]}`). Off unless
 * `TRANSFER_DATA_MESSAGES` is on, and honoured only from participants of kind `agent` (the kind
 * is a claim of the participant's access token, which only the holder of a LiveKit API secret
 * can issue; a participant cannot change its own kind, unlike its attributes). A refusal goes
 * back to the sender on {@link TRANSFER_RESULT_TOPIC} (when the room leg can send data); a done
 * transfer shows in the connector participant's attributes before it leaves the room.
 */
import { randomUUID } from 'node:crypto';
import type { CallRegistry } from '../calls/call-registry.js';
import type { CallOperations } from '../calls/call-params.js';
import type { RoomDataMessage } from '../calls/call-ports.js';
import type { WhatsAppCall } from '../calls/whatsapp-call.js';
import type { ConnectorError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import {
  describeBodyError,
  transferParamsOf,
  transferRequestBody,
} from './call-transfer-endpoint.js';
import { toTwirpError } from './connector-errors.js';

/** Topic of a transfer request data message. */
export const TRANSFER_TOPIC = 'whatsapp-connector.transfer';
/** Topic of the answer sent back to the requester. */
export const TRANSFER_RESULT_TOPIC = 'whatsapp-connector.transfer.result';
/** Largest request payload read, bytes. */
export const MAX_TRANSFER_MESSAGE_BYTES = 16 * 1024;

/** Why a data-message transfer was not done (also the `code` of the answer). */
export type TransferRequestRefusal =
  'disabled' | 'permission_denied' | 'invalid_argument' | ConnectorError['code'];

/** What the requester gets back on {@link TRANSFER_RESULT_TOPIC}. */
export type TransferRequestAnswer =
  | { ok: true; requestId?: string; callId: string; roomName: string; participantIdentity: string }
  | { ok: false; requestId?: string; code: TransferRequestRefusal; msg: string };

export interface RoomTransferRequestsOptions {
  /** The calls of this instance; every call added is listened to. */
  registry: CallRegistry;
  /** Runs the transfers (the router; the call is held here, so it runs here). */
  calls: Pick<CallOperations, 'transfer'>;
  /** `TRANSFER_DATA_MESSAGES`: when false every request is refused with `disabled`. */
  enabled: boolean;
  logger: Logger;
}

/** Listens to the data messages of every call's room and runs the permitted transfer requests. */
export class RoomTransferRequests {
  private readonly options: RoomTransferRequestsOptions;
  private readonly log: Logger;

  constructor(options: RoomTransferRequestsOptions) {
    this.options = options;
    this.log = options.logger.child({ component: 'room-transfer-requests' });
    options.registry.on('added', (call) => this.watch(call));
    for (const call of options.registry.all()) this.watch(call);
  }

  private watch(call: WhatsAppCall): void {
    call.on('roomData', (message) => {
      if (message.topic !== TRANSFER_TOPIC) return;
      void this.handle(call, message).catch((err: unknown) => {
        this.log.error({ err }, 'transfer request handling failed');
      });
    });
  }

  /** Decide on one request and answer the sender. */
  async handle(call: WhatsAppCall, message: RoomDataMessage): Promise<TransferRequestAnswer> {
    const log = this.log.child({ callId: call.callId, from: message.from?.identity });
    const answer = await this.decide(call, message, log);
    // A transferred call has left the requester's room: its attributes there (`hangup`,
    // `transferred`, `whatsapp.transferredTo`) are the answer. A refusal is sent back.
    if (!answer.ok && message.from) {
      await call
        .sendRoomData(
          TRANSFER_RESULT_TOPIC,
          new TextEncoder().encode(JSON.stringify(answer)),
          message.from.identity,
        )
        .catch((err: unknown) => log.debug({ err }, 'answering the transfer request failed'));
    }
    return answer;
  }

  private async decide(
    call: WhatsAppCall,
    message: RoomDataMessage,
    log: Logger,
  ): Promise<TransferRequestAnswer> {
    let raw: unknown;
    let requestId: string | undefined;
    const refuse = (code: TransferRequestRefusal, msg: string): TransferRequestAnswer => {
      log.info({ code }, 'transfer request refused');
      return { ok: false, ...(requestId ? { requestId } : {}), code, msg };
    };
    if (message.payload.byteLength <= MAX_TRANSFER_MESSAGE_BYTES) {
      try {
        raw = JSON.parse(new TextDecoder().decode(message.payload));
      } catch {
        raw = undefined;
      }
    }
    if (raw !== null && typeof raw === 'object' && 'requestId' in raw) {
      const { requestId: id, ...rest } = raw as { requestId: unknown };
      if (typeof id === 'string') requestId = id.slice(0, 128);
      raw = rest;
    }
    if (!this.options.enabled) {
      return refuse('disabled', 'transfer by data message is off (TRANSFER_DATA_MESSAGES)');
    }
    if (message.from?.kind !== 'agent') {
      return refuse(
        'permission_denied',
        'only agent participants may request a transfer by data message',
      );
    }
    if (raw === undefined) return refuse('invalid_argument', 'the payload must be a JSON object');
    const parsed = transferRequestBody.safeParse(raw);
    if (!parsed.success) return refuse('invalid_argument', describeBodyError(parsed.error));
    const id = randomUUID();
    try {
      const result = await this.options.calls.transfer(transferParamsOf(call.callId, parsed.data), {
        logger: log.child({ requestId: id }),
        signal: new AbortController().signal,
        origin: 'api',
        requestId: id,
        requester: `participant:${message.from.identity}`,
      });
      return { ok: true, ...(requestId ? { requestId } : {}), ...result };
    } catch (err) {
      const e = toTwirpError(err);
      return refuse(e.code, e.message);
    }
  }
}
