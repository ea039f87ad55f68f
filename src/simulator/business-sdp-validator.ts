/**
 * Meta's validation of the SDP a business sends to `POST /calls`, reproduced as strictly as the
 * observed rejections go and no further (reference §8.4): Meta accepted an aiortc answer with no
 * telephone-event, no fmtp, an uppercase `SHA-256`, a private `c=` line and `a=end-of-candidates`,
 * so only the documented/observed causes are rejected here:
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
import { GraphErrors, type SimulatedGraphError } from './simulated-graph-error.js';

/** One m= section: the m= line and its attribute lines (without the `a=` prefix). */
export interface SdpMediaSection {
  kind: string;
  port: number;
  protocol: string;
  formats: string[];
  attributes: string[];
}

/** Just enough of an SDP to validate it and to read the parameters the relay needs. */
export interface InspectedSdp {
  /** Session-level attribute lines (without `a=`). */
  sessionAttributes: string[];
  media: SdpMediaSection[];
}

/** Splits an SDP into session and media sections; `undefined` if it is not SDP at all. */
export function inspectSdp(sdp: string): InspectedSdp | undefined {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  if (lines[0] !== 'v=0') return undefined;
  const result: InspectedSdp = { sessionAttributes: [], media: [] };
  let current: SdpMediaSection | undefined;
  for (const line of lines) {
    if (!/^[a-z]=/.test(line)) return undefined;
    if (line.startsWith('m=')) {
      const parts = line.slice(2).split(' ');
      const [kind, port, protocol, ...formats] = parts;
      if (kind === undefined || port === undefined || protocol === undefined) return undefined;
      current = { kind, port: Number(port), protocol, formats, attributes: [] };
      result.media.push(current);
    } else if (line.startsWith('a=')) {
      (current ? current.attributes : result.sessionAttributes).push(line.slice(2));
    }
  }
  return result;
}

/** Attribute values named `name` (e.g. `fingerprint`) at session and media level. */
export function sdpAttributeValues(
  sdp: InspectedSdp,
  name: string,
  media?: SdpMediaSection,
): string[] {
  const source = media ? [...sdp.sessionAttributes, ...media.attributes] : sdp.sessionAttributes;
  const prefix = `${name}:`;
  return source.filter((a) => a.startsWith(prefix)).map((a) => a.slice(prefix.length));
}

/** Payload types of `rtpmap` lines matching `encoding` (case-insensitive, e.g. "opus/48000"). */
export function payloadTypesFor(media: SdpMediaSection, encoding: string): number[] {
  const wanted = encoding.toLowerCase();
  return media.attributes
    .filter((a) => a.startsWith('rtpmap:'))
    .map((a) => /^rtpmap:(\d+) (.+)$/.exec(a))
    .filter((m): m is RegExpExecArray => m !== null)
    .filter((m) => (m[2] ?? '').toLowerCase().startsWith(wanted))
    .map((m) => Number(m[1]));
}

export type ExpectedSdpType = 'offer' | 'answer';

/**
 * Validates `session` as sent in a `/calls` request. Returns the SDP's inspection, or throws the
 * {@link SimulatedGraphError} Meta would answer with.
 */
export function validateBusinessSession(session: unknown, expected: ExpectedSdpType): InspectedSdp {
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
  return validateBusinessSdp(sdp);
}

/** The SDP rules themselves (see the module comment). */
export function validateBusinessSdp(sdp: string): InspectedSdp {
  if (sdp.trimStart().startsWith('{')) {
    throw GraphErrors.invalidSdp('session.sdp must be the SDP text, not a JSON object');
  }
  const inspected = inspectSdp(sdp);
  if (!inspected) throw GraphErrors.invalidSdp('could not parse SDP');
  const fail = (e: SimulatedGraphError): never => {
    throw e;
  };
  if (inspected.media.length !== 1) fail(GraphErrors.invalidSdp('exactly one m-line is supported'));
  const media = inspected.media[0] as SdpMediaSection;
  if (media.kind !== 'audio') fail(GraphErrors.invalidSdp('only an audio m-line is supported'));
  const fingerprints = sdpAttributeValues(inspected, 'fingerprint', media);
  if (fingerprints.length === 0) {
    fail(GraphErrors.invalidParameter('No fingerprint found in SDP'));
  }
  if (fingerprints.length > 1 || !/^sha-256 /i.test(fingerprints[0] ?? '')) {
    fail(GraphErrors.fingerprintNotSha256());
  }
  if (
    sdpAttributeValues(inspected, 'ice-ufrag', media).length === 0 ||
    sdpAttributeValues(inspected, 'ice-pwd', media).length === 0
  ) {
    fail(GraphErrors.invalidSdp('ICE credentials (a=ice-ufrag, a=ice-pwd) are missing'));
  }
  if (payloadTypesFor(media, 'opus/48000').length === 0) {
    fail(GraphErrors.invalidSdp('Opus with a 48000 clock rate is required'));
  }
  return inspected;
}
