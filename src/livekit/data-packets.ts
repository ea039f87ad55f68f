import {
  DataPacket,
  DataPacket_Kind,
  SipDTMF,
  UserPacket,
  type DataPacket as DataPacketType,
} from '@livekit/protocol';
import { LiveKitError } from './livekit-errors.js';

/**
 * LiveKit's limit for one data packet, headers included ("the protocol limit is 16KiB for the
 * entire data packet", docs: transport/data/packets); payloads of about 15 KiB fit.
 */
export const MAX_DATA_PACKET_BYTES = 16 * 1024;
/** Reliable packets kept to resend after a resume (the server tells the last one it got). */
const RESEND_BUFFER_PACKETS = 64;

/** A data message from the room, decoded. Packets of other kinds (RPC, streams...) are skipped. */
export type DataMessage =
  /** SipDTMF as rtc-node's `publishDtmf(code, digit)` sends it (code 0-15, digit '0'-'9*#A-D'). */
  | { kind: 'dtmf'; code: number; digit: string }
  /** A user packet (`publishData`), with its topic. */
  | { kind: 'user'; payload: Uint8Array; topic: string | undefined };

/** Who sent a data message; `identity` is undefined for server-sent packets (SendData API). */
export interface DataSender {
  identity: string | undefined;
  sid: string | undefined;
}

/** Options of {@link LiveKitParticipant.publishData}. */
export interface PublishDataOptions {
  /** Optional - reliable (ordered, retransmitted) or lossy delivery. Default true. */
  reliable?: boolean | undefined;
  /** Optional - topic, for receivers to filter on. */
  topic?: string | undefined;
  /** Optional - identities to deliver to. Default: everyone in the room. */
  destinationIdentities?: string[] | undefined;
}

const DTMF_DIGITS = '0123456789*#ABCD';

/** The SipDTMF packet for one DTMF event (RFC 4733 code 0-15 and its digit). */
export function dtmfPacket(code: number, digit: string, destinationIdentities: string[] = []) {
  if (!Number.isInteger(code) || code < 0 || code > 15) {
    throw new LiveKitError('invalid-argument', 'DTMF code must be an integer 0-15 (RFC 4733)');
  }
  if (digit.length !== 1 || DTMF_DIGITS[code] !== digit.toUpperCase()) {
    throw new LiveKitError('invalid-argument', `DTMF digit must be the one of code ${code}`);
  }
  return new DataPacket({
    kind: DataPacket_Kind.RELIABLE,
    destinationIdentities,
    value: { case: 'sipDtmf', value: new SipDTMF({ code, digit: DTMF_DIGITS[code] }) },
  });
}

/** A user data packet. */
export function userPacket(payload: Uint8Array, options: PublishDataOptions = {}): DataPacket {
  const reliable = options.reliable ?? true;
  const destinationIdentities = options.destinationIdentities ?? [];
  return new DataPacket({
    kind: reliable ? DataPacket_Kind.RELIABLE : DataPacket_Kind.LOSSY,
    destinationIdentities,
    value: {
      case: 'user',
      value: new UserPacket({ payload, topic: options.topic, destinationIdentities }),
    },
  });
}

/** Decode a data channel message; undefined for packets we do not handle or cannot parse. */
export function decodeDataPacket(
  bytes: Uint8Array,
): { packet: DataPacketType; message: DataMessage; sender: DataSender } | undefined {
  let packet: DataPacketType;
  try {
    packet = DataPacket.fromBinary(bytes);
  } catch {
    return undefined;
  }
  const sender: DataSender = {
    identity: packet.participantIdentity || undefined,
    sid: packet.participantSid || undefined,
  };
  switch (packet.value.case) {
    case 'sipDtmf':
      return {
        packet,
        sender,
        message: { kind: 'dtmf', code: packet.value.value.code, digit: packet.value.value.digit },
      };
    case 'user': {
      const user = packet.value.value;
      // Older senders put the sender on the user packet rather than the DataPacket.
      sender.identity ??= user.participantIdentity || undefined;
      sender.sid ??= user.participantSid || undefined;
      return {
        packet,
        sender,
        message: { kind: 'user', payload: user.payload, topic: user.topic },
      };
    }
    default:
      return undefined;
  }
}

/**
 * Sequence numbers of our reliable packets, and the last ones sent, so that after a resume the
 * packets the server did not get (ReconnectResponse.last_message_seq) can be sent again, as
 * client-sdk-js does. Sequences start at 1 per session.
 */
export class ReliableSendLog {
  #next = 1;
  #sent: { sequence: number; bytes: Uint8Array }[] = [];

  /** Stamp the next sequence number on `packet`. */
  stamp(packet: DataPacket): void {
    packet.sequence = this.#next;
    this.#next += 1;
  }

  record(sequence: number, bytes: Uint8Array): void {
    this.#sent.push({ sequence, bytes });
    if (this.#sent.length > RESEND_BUFFER_PACKETS) this.#sent.shift();
  }

  /** Packets sent after `lastReceived`, oldest first. */
  after(lastReceived: number): Uint8Array[] {
    return this.#sent.filter((entry) => entry.sequence > lastReceived).map((entry) => entry.bytes);
  }

  /** A new session numbers from 1 again. */
  reset(): void {
    this.#next = 1;
    this.#sent = [];
  }
}

/**
 * Drops reliable packets seen before: after a resume the sender may resend packets we already
 * got. Keyed by sender sid; sequence 0 means unsequenced (server-sent) and always passes.
 */
export class ReliableReceiveFilter {
  readonly #last = new Map<string, number>();

  accept(packet: DataPacketType): boolean {
    if (packet.sequence === 0 || !packet.participantSid) return true;
    const last = this.#last.get(packet.participantSid);
    if (last !== undefined && packet.sequence <= last) return false;
    this.#last.set(packet.participantSid, packet.sequence);
    return true;
  }

  forget(participantSid: string): void {
    this.#last.delete(participantSid);
  }
}
