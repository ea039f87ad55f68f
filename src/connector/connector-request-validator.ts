import { Duration } from '@bufbuild/protobuf';
import {
  DisconnectWhatsAppCallRequest_DisconnectReason,
  type AcceptWhatsAppCallRequest,
  type ConnectWhatsAppCallRequest,
  type DialWhatsAppCallRequest,
  type DisconnectWhatsAppCallRequest,
} from '@livekit/protocol';
import { parseWhatsAppUser } from '../calls/call-params-validation.js';
import {
  defaultAcceptIdentity,
  defaultDialIdentity,
  generateWhatsAppRoomName,
} from '../calls/participant-defaults.js';
import { normaliseCloudApiVersion } from '../whatsapp/api-version.js';
import { connectorErrors } from './connector-errors.js';
import { isIsoCountryCode } from './iso-country-codes.js';

/** Request defaults and limits applied by {@link ConnectorRequestValidator}. */
export interface ConnectorRequestDefaults {
  /**
   * Ringing timeout for Dial/Accept requests that leave `ringing_timeout` unset, in seconds.
   * Pass `Config.calls.ringingTimeoutSeconds`. Default 30 (what every LiveKit SDK assumes).
   */
  ringingTimeoutSeconds?: number;
  /** Largest `ringing_timeout` accepted, in seconds. Default 300. */
  maxRingingTimeoutSeconds?: number;
  /**
   * Keep the phone number out of the default Dial identity (use a random suffix instead of the
   * callee's digits). Pass `Config.calls.hidePhoneNumber`. Default false.
   */
  hidePhoneNumber?: boolean;
  /** Room name for requests without one. Default `whatsapp-<12 random base32 chars>`. */
  generateRoomName?: () => string;
}

const isBlank = (value: string): boolean => value.trim() === '';

/**
 * Checks and normalises decoded Connector requests before they reach the backend. Checks run in
 * a fixed order and the first failure is thrown as a catalogue `ConnectorError`:
 * - Dial: phone number id, to number, api key, cloud api version, destination country,
 *   ringing timeout, then (ours) the to number's form: a phone number or a BSUID
 *   (`InvalidArgumentError`).
 * - Accept: sdp type ("offer") first — LiveKit answers "incorrect sdp type" before looking at
 *   the call id — then phone number id, api key, call id, cloud api version, sdp text,
 *   destination country, ringing timeout.
 * - Connect: sdp type ("answer"), call id, sdp text.
 * - Disconnect: call id, disconnect reason, api key (only for BUSINESS_INITIATED).
 * The request object is normalised in place and returned.
 */
export class ConnectorRequestValidator {
  private readonly ringingTimeoutSeconds: number;
  private readonly maxRingingTimeoutSeconds: number;
  private readonly hidePhoneNumber: boolean;
  private readonly generateRoomName: () => string;

  constructor(defaults: ConnectorRequestDefaults = {}) {
    this.ringingTimeoutSeconds = defaults.ringingTimeoutSeconds ?? 30;
    this.maxRingingTimeoutSeconds = defaults.maxRingingTimeoutSeconds ?? 300;
    if (!(this.ringingTimeoutSeconds > 0))
      throw new RangeError('ringingTimeoutSeconds must be > 0');
    if (this.ringingTimeoutSeconds > this.maxRingingTimeoutSeconds) {
      throw new RangeError('ringingTimeoutSeconds exceeds maxRingingTimeoutSeconds');
    }
    this.hidePhoneNumber = defaults.hidePhoneNumber ?? false;
    this.generateRoomName = defaults.generateRoomName ?? generateWhatsAppRoomName;
  }

  dial(req: DialWhatsAppCallRequest): DialWhatsAppCallRequest {
    if (isBlank(req.whatsappPhoneNumberId)) throw connectorErrors.missingPhoneNumberId();
    if (isBlank(req.whatsappToPhoneNumber)) throw connectorErrors.missingToNumber();
    if (isBlank(req.whatsappApiKey)) throw connectorErrors.missingApiKey();
    req.whatsappCloudApiVersion = this.cloudApiVersion(req.whatsappCloudApiVersion);
    req.destinationCountry = this.destinationCountry(req.destinationCountry);
    req.ringingTimeout = this.ringingTimeout(req.ringingTimeout);
    // Ours, after LiveKit's checks: the callee must be a phone number or a BSUID.
    const to = parseWhatsAppUser(req.whatsappToPhoneNumber, 'whatsapp_to_phone_number');
    if (isBlank(req.roomName)) req.roomName = this.generateRoomName();
    if (isBlank(req.participantIdentity)) {
      req.participantIdentity = defaultDialIdentity(to, this.hidePhoneNumber);
    }
    return req;
  }

  accept(req: AcceptWhatsAppCallRequest): AcceptWhatsAppCallRequest {
    if (req.sdp?.type !== 'offer') throw connectorErrors.incorrectSdpType();
    if (isBlank(req.whatsappPhoneNumberId)) throw connectorErrors.missingPhoneNumberId();
    if (isBlank(req.whatsappApiKey)) throw connectorErrors.missingApiKey();
    if (isBlank(req.whatsappCallId)) throw connectorErrors.missingCallId();
    req.whatsappCloudApiVersion = this.cloudApiVersion(req.whatsappCloudApiVersion);
    if (isBlank(req.sdp.sdp)) throw connectorErrors.missingSdp();
    req.destinationCountry = this.destinationCountry(req.destinationCountry);
    req.ringingTimeout = this.ringingTimeout(req.ringingTimeout);
    if (isBlank(req.roomName)) req.roomName = this.generateRoomName();
    if (isBlank(req.participantIdentity))
      req.participantIdentity = defaultAcceptIdentity(req.whatsappCallId);
    return req;
  }

  connect(req: ConnectWhatsAppCallRequest): ConnectWhatsAppCallRequest {
    if (req.sdp?.type !== 'answer') throw connectorErrors.incorrectSdpType();
    if (isBlank(req.whatsappCallId)) throw connectorErrors.missingCallId();
    if (isBlank(req.sdp.sdp)) throw connectorErrors.missingSdp();
    return req;
  }

  disconnect(req: DisconnectWhatsAppCallRequest): DisconnectWhatsAppCallRequest {
    if (isBlank(req.whatsappCallId)) throw connectorErrors.missingCallId();
    const reason = req.disconnectReason;
    if (
      reason !== DisconnectWhatsAppCallRequest_DisconnectReason.BUSINESS_INITIATED &&
      reason !== DisconnectWhatsAppCallRequest_DisconnectReason.USER_INITIATED
    ) {
      throw connectorErrors.invalidDisconnectReason();
    }
    if (
      reason === DisconnectWhatsAppCallRequest_DisconnectReason.BUSINESS_INITIATED &&
      isBlank(req.whatsappApiKey)
    ) {
      throw connectorErrors.missingApiKey();
    }
    return req;
  }

  /**
   * "23.0", "v23.0" (and "23") → "23.0"; anything outside `SUPPORTED_CLOUD_API_VERSIONS`
   * (23.0, 24.0, 25.0, shared with the Graph client) is rejected.
   */
  private cloudApiVersion(raw: string): string {
    const version = normaliseCloudApiVersion(raw);
    if (version === undefined) throw connectorErrors.cloudApiVersionNotSupported();
    return version;
  }

  private destinationCountry(raw: string): string {
    if (raw === '') return '';
    if (!isIsoCountryCode(raw)) throw connectorErrors.invalidDestinationCountry(raw);
    return raw.toUpperCase();
  }

  private ringingTimeout(value: Duration | undefined): Duration {
    if (!value || (value.seconds === 0n && value.nanos === 0)) {
      const whole = Math.floor(this.ringingTimeoutSeconds);
      const nanos = Math.round((this.ringingTimeoutSeconds - whole) * 1e9);
      return new Duration({ seconds: BigInt(whole), nanos });
    }
    const seconds = Number(value.seconds) + value.nanos / 1e9;
    if (!(seconds > 0) || seconds > this.maxRingingTimeoutSeconds) {
      throw connectorErrors.invalidRingingTimeout(this.maxRingingTimeoutSeconds);
    }
    return value;
  }
}
