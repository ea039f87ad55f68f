/**
 * Defaults for a call's connector participant when a request leaves them out, shared by the
 * Connector API edge and the webhook gateway so that both name rooms and participants alike.
 */
import { randomBytes } from 'node:crypto';
import type { WhatsAppUser } from '../whatsapp/whatsapp-user.js';
import type { AgentDispatch } from './call-params.js';

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';

/** `length` random lower-case base32 characters (5 bits each, from a CSPRNG). */
export function randomSuffix(length = 12): string {
  const bytes = randomBytes(length);
  let out = '';
  for (const b of bytes) out += BASE32[b & 31];
  return out;
}

/** Default room name, LiveKit's shape: `whatsapp-` followed by 12 random base32 characters. */
export function generateWhatsAppRoomName(): string {
  return `whatsapp-${randomSuffix()}`;
}

/**
 * Default identity of a dialled call's participant: `whatsapp_<digits>` for a phone number, a
 * random suffix when the number must stay private or the user is known by a BSUID only.
 */
export function defaultDialIdentity(to: WhatsAppUser, hidePhoneNumber: boolean): string {
  return hidePhoneNumber || to.phoneNumber === undefined
    ? `whatsapp_${randomSuffix()}`
    : `whatsapp_${to.phoneNumber}`;
}

/** Default identity of an accepted call's participant: `whatsapp_<call id>`. */
export function defaultAcceptIdentity(callId: string): string {
  return `whatsapp_${callId}`;
}

/** An agent dispatch with LiveKit's defaults for the fields a rule does not set. */
export function agentDispatch(agentName: string, metadata = ''): AgentDispatch {
  return { agentName, metadata, restartPolicy: 0, deployment: '', attributes: {} };
}
