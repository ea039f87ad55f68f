/**
 * Checks of call parameters, run where parameters enter the call layer and before anything is
 * reserved or started: a Dial whose user id or attributes are wrong must fail before it takes
 * capacity, a media leg or a room. Failures are `InvalidArgumentError`s naming the field.
 */
import { InvalidArgumentError } from '../errors/index.js';
import {
  phoneNumberDigits,
  whatsAppUserIdKind,
  type WhatsAppUser,
} from '../whatsapp/whatsapp-user.js';
import type {
  AcceptParams,
  DialParams,
  MetaContext,
  ParticipantParams,
  TransferParams,
} from './call-params.js';

/** Longest `biz_opaque_callback_data` Meta takes. */
export const BIZ_OPAQUE_MAX_LENGTH = 512;

/**
 * Read a WhatsApp user as an API client names it: a phone number with country code (digits, an
 * optional leading "+", spaces and dashes allowed), a BSUID such as `US.13491208655302741918`,
 * or a parent BSUID (`US.ENT.…`), by Meta's rules (`src/whatsapp/whatsapp-user.ts`). Phone
 * numbers come back as digits; BSUIDs exactly as given.
 * @throws InvalidArgumentError naming `field`.
 */
export function parseWhatsAppUser(raw: string, field = 'to'): WhatsAppUser {
  const text = raw.trim();
  switch (whatsAppUserIdKind(text)) {
    case 'phone_number':
      return { phoneNumber: phoneNumberDigits(text) };
    case 'bsuid':
      return { userId: text };
    case 'parent_bsuid':
      return { parentUserId: text };
    default:
      throw new InvalidArgumentError(
        `${field} must be a phone number with country code (digits, optional +) or a WhatsApp user id (e.g. US.13491208655302741918)`,
        field,
      );
  }
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

/** A user must be named, and every name it carries must be of its kind (phone: digits only). */
function checkUser(user: WhatsAppUser | undefined, field: string): void {
  const named = user && (user.phoneNumber ?? user.userId ?? user.parentUserId);
  if (!user || !named) throw new InvalidArgumentError(`${field} is required`, field);
  const wrong =
    (user.phoneNumber !== undefined &&
      (!/^\d+$/.test(user.phoneNumber) ||
        whatsAppUserIdKind(user.phoneNumber) !== 'phone_number')) ||
    (user.userId !== undefined && whatsAppUserIdKind(user.userId) !== 'bsuid') ||
    (user.parentUserId !== undefined && whatsAppUserIdKind(user.parentUserId) !== 'parent_bsuid');
  if (wrong) {
    throw new InvalidArgumentError(
      `${field} must be a phone number (digits with country code) or a WhatsApp user id`,
      field,
    );
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

/** Longest room name and identity a transfer takes (LiveKit's own limits are not documented). */
export const TRANSFER_NAME_MAX_LENGTH = 256;

/** Check a transfer request: a room, and well-formed optional fields. @throws InvalidArgumentError */
export function validateTransferParams(params: TransferParams): void {
  requireText(params.callId, 'call id');
  requireText(params.roomName, 'room');
  if (params.roomName.length > TRANSFER_NAME_MAX_LENGTH) {
    throw new InvalidArgumentError(
      `room must be at most ${TRANSFER_NAME_MAX_LENGTH} characters`,
      'room',
    );
  }
  if (params.identity !== undefined) {
    requireText(params.identity, 'identity');
    if (params.identity.length > TRANSFER_NAME_MAX_LENGTH) {
      throw new InvalidArgumentError(
        `identity must be at most ${TRANSFER_NAME_MAX_LENGTH} characters`,
        'identity',
      );
    }
  }
  checkParticipant({
    roomName: params.roomName,
    identity: params.identity ?? 'unchanged',
    name: params.name ?? '',
    metadata: params.metadata ?? '',
    attributes: params.attributes ?? {},
    agents: params.agents ?? [],
  });
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
