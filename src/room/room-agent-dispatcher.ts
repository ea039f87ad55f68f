import type { RoomAgentDispatch } from '@livekit/protocol';
import { AgentDispatchClient, RoomServiceClient } from 'livekit-server-sdk';
import { ConnectorError } from '../errors/connector-error.js';

/** How the requested agents reach the room for one join. */
export type AgentDispatchPlan =
  /** No agents requested. */
  | { mode: 'none' }
  /** The room does not exist yet: the join creates it and the token's `roomConfig.agents` fire. */
  | { mode: 'token'; agents: RoomAgentDispatch[] }
  /** The room is already active: livekit-server ignores token room config, dispatch via the API. */
  | { mode: 'api'; agents: RoomAgentDispatch[] };

/**
 * Decides and completes agent dispatch so that each requested agent is dispatched exactly once.
 * livekit-server applies a token's `roomConfig` only when that join creates the room
 * (`getOrCreateRoom` returns an active room as is), so the room's existence is checked first.
 */
export class RoomAgentDispatcher {
  readonly #rooms: RoomServiceClient;
  readonly #dispatches: AgentDispatchClient;

  /** @param httpUrl livekit-server base URL (http/https; ws/wss is accepted too) */
  constructor(httpUrl: string, apiKey: string, apiSecret: string) {
    this.#rooms = new RoomServiceClient(httpUrl, apiKey, apiSecret);
    this.#dispatches = new AgentDispatchClient(httpUrl, apiKey, apiSecret);
  }

  /** Before joining: decide whether the token or the API carries the dispatch. */
  async plan(
    roomName: string,
    agents: RoomAgentDispatch[] | undefined,
  ): Promise<AgentDispatchPlan> {
    const requested = (agents ?? []).filter((a) => a.agentName !== '');
    if (requested.length === 0) return { mode: 'none' };
    let exists: boolean;
    try {
      exists = (await this.#rooms.listRooms([roomName])).some((r) => r.name === roomName);
    } catch (err) {
      throw new ConnectorError('unavailable', 'cannot reach livekit-server', {}, { cause: err });
    }
    return { mode: exists ? 'api' : 'token', agents: requested };
  }

  /**
   * After joining: for `api`, create each dispatch; for `token`, create only those the join did
   * not produce — the room may have been created by someone else between the check and the join,
   * in which case the token's agents were ignored.
   */
  async complete(roomName: string, plan: AgentDispatchPlan): Promise<void> {
    if (plan.mode === 'none') return;
    try {
      let missing = plan.agents;
      if (plan.mode === 'token') {
        const existing = await this.#dispatches.listDispatch(roomName);
        const unmatched = [...existing];
        missing = plan.agents.filter((agent) => {
          const i = unmatched.findIndex(
            (d) => d.agentName === agent.agentName && d.metadata === agent.metadata,
          );
          if (i < 0) return true;
          unmatched.splice(i, 1);
          return false;
        });
      }
      for (const agent of missing) {
        await this.#dispatches.createDispatch(roomName, agent.agentName, {
          metadata: agent.metadata,
          restartPolicy: agent.restartPolicy,
          deployment: agent.deployment,
        });
      }
    } catch (err) {
      throw new ConnectorError('unavailable', 'agent dispatch failed', {}, { cause: err });
    }
  }
}
