/**
 * Meta's validation of the SDP a business sends to `POST /calls`, reproduced as strictly as the
 * observed rejections go and no further (reference §8.4). The rules themselves are in the one SDP
 * module (`checkBusinessSdp` in src/whatsapp/meta-sdp.ts); this file maps them to the Graph errors
 * Meta answers with:
 *
 * - `sdp_type` that does not fit the action (`offer` for connect, `answer` for pre_accept/accept);
 * - no `a=fingerprint` ("No fingerprint found in SDP", Meta FAQ);
 * - more than one fingerprint or a non-sha-256 one (code 100 / 2494010, real capture [CAP-5]);
 * - not parseable, a JSON-encoded SDP (the legacy `connection.webrtc.sdp` form), no ICE
 *   credentials, anything but exactly one audio m-line, no Opus/48000 (138008, [CAP-6]).
 *
 * A missing telephone-event is deliberately accepted: Meta "still proceeds with 8000 clock rate
 * against payload type 126" (reference §8.4).
 */
import { checkBusinessSdp, type BusinessSdpRejection } from '../whatsapp/meta-sdp.js';
import { GraphErrors, type SimulatedGraphError } from './simulated-graph-error.js';

export type ExpectedSdpType = 'offer' | 'answer';

/**
 * Validates `session` as sent in a `/calls` request; throws the {@link SimulatedGraphError} Meta
 * would answer with.
 */
export function validateBusinessSession(session: unknown, expected: ExpectedSdpType): void {
  if (typeof session !== 'object' || session === null) {
    throw GraphErrors.invalidParameter('The parameter session is required.');
  }
  const { sdp, sdp_type: sdpType } = session as { sdp?: unknown; sdp_type?: unknown };
  if (typeof sdpType !== 'string') {
    throw GraphErrors.invalidParameter('The parameter session.sdp_type is required.');
  }
  if (sdpType !== expected) {
    throw GraphErrors.invalidParameter(
      `Invalid session.sdp_type '${sdpType}': this action requires '${expected}'.`,
    );
  }
  if (typeof sdp !== 'string' || sdp.length === 0) {
    throw GraphErrors.invalidParameter('The parameter session.sdp is required.');
  }
  validateBusinessSdp(sdp);
}

/** The SDP rules themselves (see the module comment). */
export function validateBusinessSdp(sdp: string): void {
  const rejection = checkBusinessSdp(sdp);
  if (rejection) throw graphErrorFor(rejection);
}

function graphErrorFor(rejection: BusinessSdpRejection): SimulatedGraphError {
  switch (rejection.kind) {
    case 'json_encoded':
      return GraphErrors.invalidSdp('session.sdp must be the SDP text, not a JSON object');
    case 'unparseable':
      return GraphErrors.invalidSdp(`could not parse SDP: ${rejection.detail}`);
    case 'media_count':
      return GraphErrors.invalidSdp('exactly one m-line is supported');
    case 'not_audio':
      return GraphErrors.invalidSdp('only an audio m-line is supported');
    case 'fingerprint_missing':
      return GraphErrors.invalidParameter('No fingerprint found in SDP');
    case 'fingerprint_not_sha256':
      return GraphErrors.fingerprintNotSha256();
    case 'ice_credentials':
      return GraphErrors.invalidSdp('ICE credentials (a=ice-ufrag, a=ice-pwd) are missing');
    case 'no_opus':
      return GraphErrors.invalidSdp('Opus with a 48000 clock rate is required');
  }
}
