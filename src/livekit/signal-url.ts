import {
  ClientInfo,
  ClientInfo_SDK,
  ConnectionSettings,
  JoinRequest,
  ReconnectReason,
  WrappedJoinRequest,
  WrappedJoinRequest_Compression,
  type AddTrackRequest,
  type SessionDescription,
} from '@livekit/protocol';

/**
 * Signal protocol version we speak. 15: the server acknowledges requests with RequestResponse
 * (also OK ones), sends leave requests with an action, participant updates with DISCONNECTED
 * state. Not 16: that promises handling `roomMoved` (MoveParticipant), which we do not.
 */
export const SIGNAL_PROTOCOL_VERSION = 15;
/** Identifies us in ClientInfo.other_sdks (the SDK enum has no value for us). */
export const CLIENT_NAME = 'whatsapp-connector';
export const CLIENT_VERSION = '0.1.0';

/** Which signal endpoint: `/rtc/v1` (single peer connection) or `/rtc` (two). */
export type SignalPath = 'v1' | 'v0';

export interface SignalUrlParams {
  /** ws(s):// or http(s):// base URL of livekit-server (any path is kept as a prefix). */
  url: string;
  token: string;
  path: SignalPath;
  autoSubscribe: boolean;
  /** Resume an existing session (`reconnect=1`), with the participant sid. */
  resume?: { participantSid: string; reason: ReconnectReason } | undefined;
  /** v1 only: the publisher offer carried in the join request. */
  publisherOffer?: SessionDescription | undefined;
  /** v1 only: tracks published with the join. */
  addTrackRequests?: AddTrackRequest[] | undefined;
}

/** The client info sent with every join. */
export function clientInfo(): ClientInfo {
  return new ClientInfo({
    sdk: ClientInfo_SDK.UNKNOWN,
    otherSdks: CLIENT_NAME,
    version: CLIENT_VERSION,
    protocol: SIGNAL_PROTOCOL_VERSION,
    os: process.platform,
  });
}

/**
 * The signal WebSocket URL, token included (livekit-server reads `access_token` from the query;
 * the URL must therefore never be logged as is, see {@link redactSignalUrl}).
 *
 * v1 (single peer connection) carries every setting in one `join_request` parameter: a
 * WrappedJoinRequest, base64 with the URL alphabet *and* padding, because the server decodes it
 * with Go's `base64.URLEncoding`, which rejects unpadded input (HTTP 400).
 * v0 carries them as separate query parameters, as client-sdk-js's `createConnectionParams`.
 */
export function buildSignalUrl(params: SignalUrlParams): string {
  const url = new URL(params.url);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  const base = url.pathname.endsWith('/') ? url.pathname : `${url.pathname}/`;
  url.pathname = params.path === 'v1' ? `${base}rtc/v1` : `${base}rtc`;
  url.search = '';
  const q = url.searchParams;
  q.set('access_token', params.token);
  if (params.path === 'v1') {
    const join = new JoinRequest({
      clientInfo: clientInfo(),
      connectionSettings: new ConnectionSettings({ autoSubscribe: params.autoSubscribe }),
      reconnect: params.resume !== undefined,
      reconnectReason: params.resume?.reason ?? ReconnectReason.RR_UNKNOWN,
      participantSid: params.resume?.participantSid ?? '',
      publisherOffer: params.publisherOffer,
      addTrackRequests: params.addTrackRequests ?? [],
    });
    // Uncompressed: a join request with one offer is a few kB, well under the server's
    // header limit, and gzip would cost more CPU than the bytes are worth on a LAN.
    const wrapped = new WrappedJoinRequest({
      compression: WrappedJoinRequest_Compression.NONE,
      joinRequest: join.toBinary(),
    });
    q.set('join_request', urlBase64WithPadding(wrapped.toBinary()));
  } else {
    const info = clientInfo();
    if (params.resume) {
      q.set('reconnect', '1');
      q.set('sid', params.resume.participantSid);
      q.set('reconnect_reason', String(params.resume.reason));
    }
    q.set('auto_subscribe', params.autoSubscribe ? '1' : '0');
    q.set('sdk', 'unknown');
    q.set('version', info.version);
    q.set('protocol', String(info.protocol));
    q.set('os', info.os);
  }
  return url.toString();
}

/** RFC 4648 §5 alphabet, padded (Node's `base64url` leaves the padding out). */
function urlBase64WithPadding(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64').replaceAll('+', '-').replaceAll('/', '_');
}

/** The URL with its token (and join request, which holds SDP) hidden, for logs. */
export function redactSignalUrl(signalUrl: string): string {
  const url = new URL(signalUrl);
  if (url.searchParams.has('access_token')) url.searchParams.set('access_token', '<redacted>');
  if (url.searchParams.has('join_request')) url.searchParams.set('join_request', '<omitted>');
  return url.toString();
}
