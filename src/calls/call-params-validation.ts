/**
 * Checks of call parameters, run where parameters enter the call layer and before anything is
 * reserved or started: a Dial whose user id or attributes are wrong must fail before it takes
 * capacity, a media leg or a room. Failures are `InvalidArgumentError`s naming the field.
 */
import { InvalidArgumentError } from '../errors/index.js';
import type {
  AcceptParams,
  DialParams,
  MetaContext,
  ParticipantParams,
  WhatsAppUser,
} from './call-params.js';

/** Longest `biz_opaque_callback_data` Meta takes. */
export const BIZ_OPAQUE_MAX_LENGTH = 512;

/** A phone number once separators are gone: digits with country code (E.164 is at most 15). */
const PHONE_DIGITS = /^\d{5,20}$/;
/** Separators people write in phone numbers; removed before the digits are checked. */
const PHONE_SEPARATORS = /[\s\-.()]/g;
/** A business-scoped user id: ISO country code, a dot, then one or more dot-separated parts. */
const BSUID = /^[A-Z]{2}(\.[A-Za-z0-9]+)+$/;
const BSUID_MAX_LENGTH = 128;

/**
 * Read a WhatsApp user as an API client names it: a phone number with country code (digits, an
 * optional leading "+", spaces and dashes allowed) or a BSUID such as `US.13491208655302741918`.
 * @throws InvalidArgumentError naming `field`.
 */
export function parseWhatsAppUser(raw: string, field = 'to'): WhatsAppUser {
  const text = raw.trim();
  if (text.length <= BSUID_MAX_LENGTH && BSUID.test(text)) return { userId: text };
  const digits = text.replace(/^\+/, '').replace(PHONE_SEPARATORS, '');
  if (PHONE_DIGITS.test(digits)) return { phoneNumber: digits };
  throw new InvalidArgumentError(
    `${field} must be a phone number with country code (digits, optional +) or a WhatsApp user id (e.g. US.13491208655302741918)`,
    field,
  );
}

function requireText(value: unknown, field: string): void {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new InvalidArgumentError(`${field} is required`, field);
  }
}

function checkMeta(meta: MetaContext): void {
  requireText(meta.phoneNumberId, 'phone number id');
  requireText(meta.accessToken, 'whatsapp api key');
  requireText(meta.apiVersion, 'cloud api version');
}

function checkUser(user: WhatsAppUser | undefined, field: string): void {
  if (!user) throw new InvalidArgumentError(`${field} is required`, field);
  // Re-parsing the canonical form checks it and keeps one definition of what is valid.
  const canonical = user.phoneNumber ?? user.userId;
  if (typeof canonical !== 'string') throw new InvalidArgumentError(`${field} is required`, field);
  const parsed = parseWhatsAppUser(canonical, field);
  if (parsed.phoneNumber !== user.phoneNumber || parsed.userId !== user.userId) {
    throw new InvalidArgumentError(`${field} is not in canonical form`, field);
  }
}

function checkParticipant(p: ParticipantParams): void {
  requireText(p.roomName, 'room name');
  requireText(p.identity, 'participant identity');
  if (typeof p.name !== 'string' || typeof p.metadata !== 'string') {
    throw new InvalidArgumentError('participant name and metadata must be strings', 'participant');
  }
  for (const [key, value] of Object.entries(p.attributes)) {
    if (key === '' || typeof value !== 'string') {
      throw new InvalidArgumentError(
        'participant attributes must map non-empty keys to strings',
        'participant_attributes',
      );
    }
  }
  for (const agent of p.agents) {
    if (typeof agent.agentName !== 'string' || typeof agent.metadata !== 'string') {
      throw new InvalidArgumentError('agents need a name and string metadata', 'agents');
    }
  }
}

function checkOptional(
  params: { destinationCountry?: string | undefined; bizOpaqueCallbackData?: string | undefined },
  ringingTimeoutMs: number,
): void {
  const country = params.destinationCountry;
  if (country !== undefined && !/^[A-Z]{2}$/.test(country)) {
    throw new InvalidArgumentError(
      'destination country must be an ISO 3166-1 alpha-2 code',
      'destination_country',
    );
  }
  const opaque = params.bizOpaqueCallbackData;
  if (opaque !== undefined && opaque.length > BIZ_OPAQUE_MAX_LENGTH) {
    throw new InvalidArgumentError(
      `biz opaque callback data is longer than ${BIZ_OPAQUE_MAX_LENGTH} characters`,
      'whatsapp_biz_opaque_callback_data',
    );
  }
  if (!Number.isFinite(ringingTimeoutMs) || ringingTimeoutMs <= 0) {
    throw new InvalidArgumentError('ringing timeout must be greater than 0', 'ringing_timeout');
  }
}

/** Check everything a dial needs. @throws InvalidArgumentError */
export function validateDialParams(params: DialParams): void {
  checkMeta(params.meta);
  checkUser(params.to, 'to');
  checkParticipant(params.participant);
  checkOptional(params, params.ringingTimeoutMs);
}

/** Check everything an accept needs. @throws InvalidArgumentError */
export function validateAcceptParams(params: AcceptParams): void {
  checkMeta(params.meta);
  requireText(params.callId, 'call id');
  requireText(params.offerSdp, 'sdp');
  if (params.caller) checkUser(params.caller, 'caller');
  checkParticipant(params.participant);
  checkOptional(params, params.ringingTimeoutMs);
}
