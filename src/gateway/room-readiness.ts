import { ParticipantInfo_Kind, TrackType, type ParticipantInfo } from '@livekit/protocol';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { RoomJoinError, RoomNotReadyError } from '../calls/call-errors.js';
import type { LiveKitConfig } from '../config/index.js';

/** How often the room is looked at while waiting, ms. */
export const ROOM_READY_POLL_INTERVAL_MS = 250;

/** A participant that can take the call: not another connector, with a published audio track. */
export function isReadyParticipant(p: ParticipantInfo): boolean {
  if (p.kind === ParticipantInfo_Kind.CONNECTOR) return false;
  return p.tracks.some((t) => t.type === TrackType.AUDIO && !t.muted);
}

/**
 * Prepares a room before a call is accepted into it and tells when someone there is ready to
 * talk — LiveKit's connector does the same ("waits for the room to be ready") so a caller never
 * hears dead air while an agent boots. Uses livekit-server's API only; the connector participant
 * joins afterwards through the normal accept path.
 */
export class RoomReadiness {
  private readonly rooms: RoomServiceClient;
  private readonly dispatches: AgentDispatchClient;

  constructor(livekit: LiveKitConfig) {
    const httpUrl = livekit.url.replace(/^ws/, 'http');
    this.rooms = new RoomServiceClient(httpUrl, livekit.apiKey, livekit.apiSecret);
    this.dispatches = new AgentDispatchClient(httpUrl, livekit.apiKey, livekit.apiSecret);
  }

  /**
   * Create the room (no-op when it exists) and dispatch each agent into it once.
   * @throws RoomJoinError when livekit-server cannot be reached.
   */
  async prepare(
    roomName: string,
    agents: { agentName: string; metadata: string }[],
  ): Promise<void> {
    try {
      await this.rooms.createRoom({ name: roomName });
      const existing = agents.length > 0 ? await this.dispatches.listDispatch(roomName) : [];
      for (const agent of agents) {
        const already = existing.some(
          (d) => d.agentName === agent.agentName && d.metadata === agent.metadata,
        );
        if (!already) {
          await this.dispatches.createDispatch(roomName, agent.agentName, {
            metadata: agent.metadata,
          });
        }
      }
    } catch (err) {
      // livekit-server cannot be reached: the room cannot be made ready, nor joined.
      throw new RoomJoinError(roomName, { cause: err });
    }
  }

  /**
   * Resolve once a non-connector participant publishes audio in `roomName`. Rejects with
   * `RoomNotReadyError` after `timeoutMs`, or with the signal's reason when aborted (e.g. the
   * caller hung up meanwhile).
   */
  async waitUntilReady(roomName: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      signal?.throwIfAborted();
      let participants: ParticipantInfo[] = [];
      try {
        participants = await this.rooms.listParticipants(roomName);
      } catch {
        // The room may not be visible yet; keep looking until the deadline.
      }
      if (participants.some(isReadyParticipant)) return;
      const left = deadline - Date.now();
      if (left <= 0) throw new RoomNotReadyError(roomName);
      await sleep(Math.min(ROOM_READY_POLL_INTERVAL_MS, left), signal);
    }
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason instanceof Error ? signal.reason : new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
