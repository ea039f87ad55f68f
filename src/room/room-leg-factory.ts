import type { Logger } from '../log/logger.js';
import {
  RoomLeg,
  type RoomLegEvents,
  type RoomLegOptions,
  type RoomLegParticipant,
  type RoomLegStats,
} from './room-leg.js';

/**
 * What the bridge holds for the LiveKit side of a call, wherever it runs: a {@link RoomLeg} in
 * this process or a `RemoteRoomLeg` in a room worker process. Same events and semantics.
 */
export interface RoomLegHandle {
  readonly roomName: string;
  readonly participantIdentity: string;
  readonly sampleRate: number;
  /** Server-assigned sid of the connector participant. */
  readonly participantSid: string;
  /** Whether the leg is still in the room. */
  readonly connected: boolean;
  /** The other participants. */
  readonly participants: RoomLegParticipant[];
  readonly stats: RoomLegStats;
  /** One 20 ms mono Int16 frame of the caller's voice; dropped rather than delayed when full. */
  pushCallerAudio(pcm: Int16Array): void;
  sendDtmf(digit: string): Promise<void>;
  setAttributes(attrs: Record<string, string>): Promise<void>;
  /** Leave the room. Idempotent; never rejects. */
  close(): Promise<void>;
  on<K extends keyof RoomLegEvents & string>(
    event: K,
    listener: (...args: RoomLegEvents[K]) => void,
  ): this;
  off<K extends keyof RoomLegEvents & string>(
    event: K,
    listener: (...args: RoomLegEvents[K]) => void,
  ): this;
}

/**
 * Joins a room leg. Rejects with the same `ConnectorError`s as {@link RoomLeg.join}
 * (`invalid_argument`, `unavailable`).
 */
export type RoomLegFactory = (options: RoomLegOptions) => Promise<RoomLegHandle>;

/** The in-process factory: every leg shares this process's native LiveKit client. */
export const joinRoomLegInProcess: RoomLegFactory = (options) => RoomLeg.join(options);

/** The logger fields a leg's log lines carry, to re-create its context in another process. */
export function loggerBindings(logger: Logger | undefined): Record<string, unknown> {
  if (!logger) return {};
  try {
    return { ...logger.bindings() };
  } catch {
    return {};
  }
}
