import { isCallEndReason, type CallEndReason } from '../calls/call-end-reason.js';

/** What each call end reason means, in the words the console shows next to the code. */
const DESCRIPTIONS: Readonly<Record<CallEndReason, string>> = {
  user_hangup: 'the WhatsApp user hung up',
  business_hangup: 'the business hung up (API, CLI or console)',
  rejected: 'the user declined the call',
  no_answer: 'nobody answered in time',
  busy: 'the user was in another call',
  unavailable: 'the user cannot be called',
  media_timeout: 'no audio from WhatsApp for too long',
  failed: 'setting up or running the call failed',
  room_closed: 'the LiveKit room was closed',
  participant_removed: 'the connector was removed from the room',
  max_duration: 'the call reached its maximum duration',
  shutdown: 'the connector shut down',
  transferred: 'the call moved to another room',
};

/** A sentence for an end reason code; undefined for a code this version does not know. */
export function describeEndReason(reason: string): string | undefined {
  return isCallEndReason(reason) ? DESCRIPTIONS[reason] : undefined;
}
