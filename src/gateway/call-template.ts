/**
 * `{name}` placeholders in routing rules (room names, participant fields, agent metadata).
 * Unknown names are a configuration error found at start, not a surprise during a call.
 */
import { createHash } from 'node:crypto';
import { randomSuffix } from '../calls/participant-defaults.js';

/** What a template can refer to for one call. Absent values render as "". */
export interface CallTemplateValues {
  /** Caller's WhatsApp number, digits; absent for a user Meta names only by BSUID. */
  caller: string | undefined;
  /**
   * Caller's business-scoped user id (BSUID, e.g. `US.13491208655302741918`) when Meta sent one,
   * else the parent BSUID. Optional for callers of this module that predate BSUIDs.
   */
  callerUserId?: string | undefined;
  /** Caller's WhatsApp username, when they adopted one and Meta sent it. */
  callerUsername?: string | undefined;
  /** Caller's WhatsApp profile name (falls back to the username, then the number or BSUID). */
  callerName: string | undefined;
  /** Meta's call id (`wacid.…`). */
  callId: string;
  /** The business phone number id called. */
  phoneNumberId: string;
  /** The business number, digits. */
  businessNumber: string | undefined;
  /** `biz_opaque_callback_data` of the call. */
  bizOpaqueCallbackData: string | undefined;
  /** Payload of a `wa.me/call` deep link. */
  deeplinkPayload: string | undefined;
  /** Payload of a call button. */
  ctaPayload: string | undefined;
}

export const TEMPLATE_VARIABLES = [
  'caller',
  'callerId',
  'callerUsername',
  'callerName',
  'callId',
  'callHash',
  'phoneNumberId',
  'businessNumber',
  'bizOpaqueCallbackData',
  'deeplinkPayload',
  'ctaPayload',
  'random',
] as const;

const PLACEHOLDER = /\{([A-Za-z]+)\}/g;

/** Names used in `template` that are not {@link TEMPLATE_VARIABLES}. */
export function unknownTemplateVariables(template: string): string[] {
  const known = new Set<string>(TEMPLATE_VARIABLES);
  return [...template.matchAll(PLACEHOLDER)]
    .map((m) => m[1] ?? '')
    .filter((name) => !known.has(name));
}

/**
 * Render `template`. `{callHash}` is 12 hex characters derived from the call id (stable across
 * webhook redeliveries, shorter than Meta's id); `{random}` is 12 fresh base32 characters.
 */
export function renderCallTemplate(template: string, values: CallTemplateValues): string {
  return template.replace(PLACEHOLDER, (whole, name: string) => {
    switch (name) {
      case 'caller':
        return values.caller ?? '';
      case 'callerId':
        // The BSUID names the user whether or not they hide their number: stable across a
        // user adopting a username, so it is the better key for rooms and CRM lookups.
        return values.callerUserId ?? values.caller ?? '';
      case 'callerUsername':
        return values.callerUsername ?? '';
      case 'callerName':
        return (
          values.callerName ?? values.callerUsername ?? values.caller ?? values.callerUserId ?? ''
        );
      case 'callId':
        return values.callId;
      case 'callHash':
        return createHash('sha256').update(values.callId).digest('hex').slice(0, 12);
      case 'phoneNumberId':
        return values.phoneNumberId;
      case 'businessNumber':
        return values.businessNumber ?? '';
      case 'bizOpaqueCallbackData':
        return values.bizOpaqueCallbackData ?? '';
      case 'deeplinkPayload':
        return values.deeplinkPayload ?? '';
      case 'ctaPayload':
        return values.ctaPayload ?? '';
      case 'random':
        return randomSuffix();
      default:
        return whole;
    }
  });
}
