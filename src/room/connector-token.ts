import { SignJWT } from 'jose';
import type { RoomAgentDispatch } from '@livekit/protocol';

/** The connector a participant stands for (`ParticipantInfo.kind_details`, lower-case names). */
export type ConnectorKindDetail = 'connector_whatsapp' | 'connector_twilio';

/**
 * Options for the access token with which the connector joins a room as the caller.
 * Mirrors LiveKit's `BuildConnectorToken`: participant kind CONNECTOR with kind detail
 * CONNECTOR_WHATSAPP or CONNECTOR_TWILIO, publish/subscribe/data/own-metadata grants, agents in
 * `roomConfig`.
 */
export interface ConnectorTokenOptions {
  apiKey: string;
  apiSecret: string;
  roomName: string;
  identity: string;
  name?: string | undefined;
  metadata?: string | undefined;
  attributes?: Record<string, string> | undefined;
  /** Agents dispatched when this join creates the room. */
  agents?: RoomAgentDispatch[] | undefined;
  /** Hide the participant from others. Default false. */
  hidden?: boolean | undefined;
  /** Which connector the participant stands for. Default `connector_whatsapp`. */
  kindDetail?: ConnectorKindDetail | undefined;
  /** Token validity in seconds. Default 86 400 (24 h), as LiveKit's connector. */
  ttlSeconds?: number | undefined;
}

/**
 * Sign the connector participant's JWT (HS256). Node's `AccessToken` cannot emit `kindDetails`,
 * so the claims are built here and signed with jose, as the SDK does internally.
 */
export async function createConnectorToken(options: ConnectorTokenOptions): Promise<string> {
  const video: Record<string, unknown> = {
    roomJoin: true,
    room: options.roomName,
    canPublish: true,
    canSubscribe: true,
    canPublishData: true,
    canUpdateOwnMetadata: true,
  };
  if (options.hidden) video.hidden = true;
  const claims: Record<string, unknown> = {
    video,
    kind: 'connector',
    kindDetails: [options.kindDetail ?? 'connector_whatsapp'],
  };
  if (options.name) claims.name = options.name;
  if (options.metadata) claims.metadata = options.metadata;
  if (options.attributes && Object.keys(options.attributes).length > 0)
    claims.attributes = options.attributes;
  if (options.agents && options.agents.length > 0) {
    claims.roomConfig = { agents: options.agents.map((a) => a.toJson()) };
  }
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(options.apiKey)
    .setSubject(options.identity)
    .setNotBefore(now)
    .setIssuedAt(now)
    .setExpirationTime(now + (options.ttlSeconds ?? 86_400))
    .setJti(options.identity)
    .sign(new TextEncoder().encode(options.apiSecret));
}
