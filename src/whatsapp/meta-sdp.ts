/**
 * Meta's SDP rules for WhatsApp calling, on top of the one SDP model
 * ({@link SessionDescription}, `src/media/sdp/`):
 *  - {@link readMetaSdp} / {@link normaliseMetaSdp}: reads what Meta sends (offers in
 *    user-initiated calls, answers in business-initiated calls) into a summary and an SDP our
 *    WebRTC stack can apply, dropping candidates outside the allowed networks;
 *  - {@link normaliseOurSdp} / {@link validateOurSdp}: makes our (werift-produced) SDP conform
 *    and checks what Meta requires of it;
 *  - {@link buildMetaOffer} / {@link buildMetaAnswer}: Meta's own SDP shapes, for the simulator;
 *  - {@link checkBusinessSdp}: the rejections Meta's Graph API is observed to make, for the
 *    simulator's validator.
 *
 * Sources (../shared/reference/whatsapp-calling-api.md §8): Meta rejects more than one
 * fingerprint or a non-sha-256 one ("Fingerprint algo is not SHA256", 138008), a missing
 * fingerprint, more than one m-line; it requires Opus 48000/2, ptime 20, a single SSRC,
 * telephone-event at 8000 Hz only, CRLF line endings, and expects the business to be ICE-full and
 * DTLS client (`a=setup:active` when answering).
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';

import { InvalidSdpError } from '../media/sdp/invalid-sdp-error.js';
import {
  DEFAULT_SDP_LIMITS,
  parseIceCandidate,
  SessionDescription,
  type DtlsSetup,
  type IceCandidate,
  type MediaSection,
  type SdpAttribute,
  type SdpCodec,
  type SdpFingerprint,
  type SdpLimits,
  type SdpLine,
  type SdpSection,
} from '../media/sdp/session-description.js';

export {
  parseIceCandidate,
  SessionDescription,
  type DtlsSetup,
  type IceCandidate,
  type SdpCodec,
  type SdpFingerprint,
  type SdpLine,
};

/** Meta's Opus fmtp in user-initiated offers: 16 kHz content, ~20 kbps, in-band FEC. */
export const META_OPUS_FMTP =
  'maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1';

/**
 * Limits for SDP exchanged with Meta: 64 KiB, 32 candidates, at most 4 m= sections parsed (one is
 * allowed; a few are parsed so the problem can be named).
 */
export const META_SDP_LIMITS: Readonly<SdpLimits> = Object.freeze({
  ...DEFAULT_SDP_LIMITS,
  maxMediaSections: 4,
});

export type SdpProblemSeverity = 'error' | 'warning';

/** Stable identifiers of SDP problems; tests and callers key on these, not on messages. */
export type MetaSdpProblemCode =
  | 'not_sdp'
  | 'limits'
  | 'malformed_line'
  | 'line_endings'
  | 'media_count'
  | 'not_audio'
  | 'media_protocol'
  | 'no_opus'
  | 'no_telephone_event'
  | 'telephone_event_rate'
  | 'extra_codec'
  | 'fingerprint_missing'
  | 'fingerprint_multiple'
  | 'fingerprint_algorithm'
  | 'setup_missing'
  | 'setup_role'
  | 'ice_lite'
  | 'ice_credentials'
  | 'ptime'
  | 'ssrc_count'
  | 'rtcp_mux'
  | 'direction'
  | 'mid'
  | 'extmap'
  | 'no_address'
  | 'candidate'
  | 'candidate_not_allowed';

export interface MetaSdpProblem {
  code: MetaSdpProblemCode;
  /** `error`: Meta is documented or observed to fail the call; `warning`: tolerated but unusual. */
  severity: SdpProblemSeverity;
  message: string;
  /** 1-based line number in the checked text, when one line is at fault. */
  line?: number;
}

/** What matters about the (first) audio section of an SDP for a Meta call. */
export interface AudioSdpSummary {
  mid: string | undefined;
  iceUfrag: string | undefined;
  icePwd: string | undefined;
  /** `a=ice-lite` at session or media level. */
  iceLite: boolean;
  fingerprints: SdpFingerprint[];
  setup: DtlsSetup | undefined;
  /** `sendrecv` when no direction attribute is present (RFC 8866 default). */
  direction: 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';
  rtcpMux: boolean;
  codecs: SdpCodec[];
  /** Opus at 48000 Hz, 2 channels, when offered. */
  opus: SdpCodec | undefined;
  /** telephone-event at 8000 Hz, when offered. */
  telephoneEvent: SdpCodec | undefined;
  ptime: number | undefined;
  maxptime: number | undefined;
  /** Distinct SSRCs from `a=ssrc` lines. */
  ssrcs: number[];
  candidates: IceCandidate[];
  /** Address of the media- or session-level `c=` line. */
  connectionAddress: string | undefined;
  port: number;
}

// ---------------------------------------------------------------------------------------------
// Parsing (problem-reporting form)
// ---------------------------------------------------------------------------------------------

export interface SdpParseResult {
  /** Undefined when the text is not SDP at all or exceeds the limits. */
  sdp: SessionDescription | undefined;
  problems: MetaSdpProblem[];
}

/**
 * Parses SDP text within {@link META_SDP_LIMITS}. Never throws: anything the model refuses comes
 * back as `sdp: undefined` with one error problem; skipped lines come back as warnings.
 */
export function parseSdp(
  text: unknown,
  limits: Readonly<SdpLimits> = META_SDP_LIMITS,
): SdpParseResult {
  try {
    const sdp = SessionDescription.parse(text, limits);
    return {
      sdp,
      problems: sdp.warnings.map((w) => ({
        code: 'malformed_line' as const,
        severity: 'warning' as const,
        message: w.message,
        line: w.line,
      })),
    };
  } catch (err) {
    if (!(err instanceof InvalidSdpError)) throw err;
    const code: MetaSdpProblemCode =
      err.reason === 'not_sdp'
        ? 'not_sdp'
        : err.reason === 'malformed'
          ? 'malformed_line'
          : 'limits';
    return { sdp: undefined, problems: [{ code, severity: 'error', message: err.message }] };
  }
}

/** Serialises with CRLF after every line, including the last (RFC 8866 §5). */
export function serialiseSdp(sdp: SessionDescription): string {
  return sdp.toString();
}

function isOpus48k(c: SdpCodec): boolean {
  return c.name.toLowerCase() === 'opus' && c.clockRate === 48000 && c.channels === 2;
}

function isTelephoneEvent(c: SdpCodec): boolean {
  return c.name.toLowerCase() === 'telephone-event';
}

function parseIntStrict(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d{1,9}$/.test(s.trim())) return undefined;
  return Number(s.trim());
}

/** Summarises the first audio section (session-level attributes apply where RFC 8866 says so). */
export function summariseAudioSdp(sdp: SessionDescription): AudioSdpSummary | undefined {
  const audio = sdp.audio();
  if (!audio) return undefined;
  const codecs = audio.codecs();
  return {
    mid: audio.attribute('mid')?.trim(),
    iceUfrag: sdp.attributeOf(audio, 'ice-ufrag')?.trim(),
    icePwd: sdp.attributeOf(audio, 'ice-pwd')?.trim(),
    iceLite: audio.hasAttribute('ice-lite') || sdp.session.hasAttribute('ice-lite'),
    fingerprints: sdp.fingerprintsOf(audio),
    setup: sdp.setupOf(audio),
    direction: sdp.directionOf(audio),
    rtcpMux: audio.hasAttribute('rtcp-mux'),
    codecs,
    opus: codecs.find(isOpus48k),
    telephoneEvent: codecs.find((c) => isTelephoneEvent(c) && c.clockRate === 8000),
    ptime: parseIntStrict(audio.attribute('ptime')),
    maxptime: parseIntStrict(audio.attribute('maxptime')),
    ssrcs: audio.ssrcs(),
    candidates: audio.candidates(),
    connectionAddress: sdp.connectionAddressOf(audio),
    port: audio.port,
  };
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

// ---------------------------------------------------------------------------------------------
// Validation of our SDP
// ---------------------------------------------------------------------------------------------

export interface ValidateOurSdpOptions {
  /** Required - Whether the SDP is our offer (business-initiated) or answer (user-initiated). */
  role: 'offer' | 'answer';
  /** Optional - Meta's offer being answered; enables mid and payload-type consistency checks. */
  remoteOffer?: string;
}

export interface SdpCheckResult {
  /** True when no problem has severity `error`. */
  ok: boolean;
  problems: MetaSdpProblem[];
  /** Undefined when the text is not SDP. */
  summary: AudioSdpSummary | undefined;
}

const ICE_CHAR = /^[A-Za-z0-9+/]+$/;

/**
 * Checks an SDP we are about to send to Meta. Errors are rules Meta is documented or observed to
 * enforce (or that break our own media leg); warnings are deviations Meta has tolerated.
 */
export function validateOurSdp(text: string, options: ValidateOurSdpOptions): SdpCheckResult {
  const parsed = parseSdp(text);
  const problems = [...parsed.problems];
  const err = (code: MetaSdpProblemCode, message: string, line?: number): void => {
    problems.push({ code, severity: 'error', message, ...(line !== undefined ? { line } : {}) });
  };
  const warn = (code: MetaSdpProblemCode, message: string, line?: number): void => {
    problems.push({ code, severity: 'warning', message, ...(line !== undefined ? { line } : {}) });
  };
  const sdp = parsed.sdp;
  if (!sdp) return { ok: false, problems, summary: undefined };

  if (typeof text === 'string' && (sdp.lineEndings !== 'crlf' || !text.endsWith('\r\n'))) {
    err('line_endings', 'every line, including the last, must end with CRLF');
  }
  if (sdp.media.length !== 1) {
    err('media_count', `exactly one m= line is allowed, found ${sdp.media.length}`);
  }
  for (const m of sdp.media) {
    if (m.kind !== 'audio') err('not_audio', `m=${m.kind} is not allowed`, m.mLineNumber);
  }
  const audio = sdp.audio();
  const summary = summariseAudioSdp(sdp);
  if (!audio || !summary) return { ok: false, problems, summary: undefined };

  if (audio.protocol !== 'UDP/TLS/RTP/SAVPF') {
    err('media_protocol', `protocol must be UDP/TLS/RTP/SAVPF, is ${audio.protocol}`);
  }
  if (!summary.opus) err('no_opus', 'opus/48000/2 is required');
  if (!summary.telephoneEvent) err('no_telephone_event', 'telephone-event/8000 is required');
  for (const c of summary.codecs.filter(isTelephoneEvent)) {
    if (c.clockRate !== 8000) {
      err('telephone_event_rate', `telephone-event/${c.clockRate} is not supported, only 8000`);
    }
  }
  for (const c of summary.codecs) {
    if (!isOpus48k(c) && !isTelephoneEvent(c)) {
      warn('extra_codec', `codec ${c.name}/${c.clockRate} (PT ${c.payloadType}) is not needed`);
    }
  }

  if (summary.fingerprints.length === 0) {
    err('fingerprint_missing', 'a=fingerprint is required (DTLS-SRTP)');
  } else if (summary.fingerprints.length > 1) {
    err(
      'fingerprint_multiple',
      `exactly one a=fingerprint is allowed, found ${summary.fingerprints.length}`,
    );
  }
  for (const f of summary.fingerprints) {
    if (f.algorithm !== 'sha-256') {
      err('fingerprint_algorithm', `fingerprint algorithm must be sha-256, is ${f.algorithm}`);
    }
  }

  if (summary.setup === undefined) {
    err('setup_missing', 'a=setup is required');
  } else if (options.role === 'answer' && summary.setup !== 'active') {
    err('setup_role', `an answer must be a=setup:active (we are DTLS client), is ${summary.setup}`);
  } else if (
    options.role === 'offer' &&
    summary.setup !== 'actpass' &&
    summary.setup !== 'active'
  ) {
    err('setup_role', `an offer must be a=setup:actpass or active, is ${summary.setup}`);
  }

  if (summary.iceLite) err('ice_lite', 'a=ice-lite is not allowed: we must be ICE-full');
  if (summary.iceUfrag === undefined || summary.icePwd === undefined) {
    err('ice_credentials', 'a=ice-ufrag and a=ice-pwd are required');
  } else {
    // RFC 8839: ufrag 4–256 and pwd 22–256 ice-chars.
    if (
      summary.iceUfrag.length < 4 ||
      summary.iceUfrag.length > 256 ||
      !ICE_CHAR.test(summary.iceUfrag)
    ) {
      err('ice_credentials', 'a=ice-ufrag must be 4-256 ice-chars');
    }
    if (
      summary.icePwd.length < 22 ||
      summary.icePwd.length > 256 ||
      !ICE_CHAR.test(summary.icePwd)
    ) {
      err('ice_credentials', 'a=ice-pwd must be 22-256 ice-chars');
    }
  }

  if (summary.ptime === undefined) err('ptime', 'a=ptime:20 is required');
  else if (summary.ptime !== 20) err('ptime', `ptime must be 20, is ${summary.ptime}`);
  if (summary.maxptime !== undefined && summary.maxptime < 20) {
    err('ptime', `maxptime ${summary.maxptime} is below 20`);
  }

  if (summary.ssrcs.length > 1) {
    err('ssrc_count', `exactly one SSRC is allowed, found ${summary.ssrcs.length}`);
  } else if (summary.ssrcs.length === 0) {
    warn('ssrc_count', 'no a=ssrc line');
  }
  if (audio.hasAttribute('ssrc-group')) err('ssrc_count', 'a=ssrc-group is not allowed');

  if (!summary.rtcpMux) err('rtcp_mux', 'a=rtcp-mux is required');
  if (summary.direction !== 'sendrecv') {
    err('direction', `direction must be sendrecv, is ${summary.direction}`);
  }
  if (summary.mid === undefined) err('mid', 'a=mid is required');
  if (audio.hasAttribute('extmap')) warn('extmap', 'RTP header extensions are not used by Meta');
  if (summary.connectionAddress === undefined) err('no_address', 'c= line is required');
  for (const value of audio.attributeValues('candidate')) {
    if (!parseIceCandidate(value)) warn('candidate', `unparseable candidate: ${truncate(value)}`);
  }

  if (options.remoteOffer !== undefined) {
    const offer = parseSdp(options.remoteOffer).sdp;
    const offerSummary = offer ? summariseAudioSdp(offer) : undefined;
    if (offerSummary) {
      if (offerSummary.mid !== undefined && offerSummary.mid !== summary.mid) {
        err(
          'mid',
          `answer mid "${summary.mid ?? ''}" differs from offer mid "${offerSummary.mid}"`,
        );
      }
      for (const c of summary.codecs) {
        const o = offerSummary.codecs.find((x) => x.payloadType === c.payloadType);
        if (!o || o.name.toLowerCase() !== c.name.toLowerCase() || o.clockRate !== c.clockRate) {
          err('extra_codec', `PT ${c.payloadType} (${c.name}) does not match the offer`);
        }
      }
    }
  }

  return { ok: !problems.some((p) => p.severity === 'error'), problems, summary };
}

// ---------------------------------------------------------------------------------------------
// Normalising our SDP
// ---------------------------------------------------------------------------------------------

export interface NormaliseOurSdpOptions {
  /** Required - Whether the SDP is our offer or our answer. */
  role: 'offer' | 'answer';
  /**
   * Optional - Meta's offer being answered. When given and our answer lacks telephone-event/8000
   * that the offer has, it is added with the offer's payload type.
   */
  remoteOffer?: string;
  /**
   * Optional - keep only our candidates on addresses for which this is true (a multi-homed host
   * advertises only the interfaces it is pinned to). Default: keep all.
   */
  keepCandidate?: (address: string) => boolean;
}

export interface NormalisedSdp {
  /** The rewritten SDP (CRLF). Empty when the input is not SDP. */
  sdp: string;
  /** What was changed, in words, for logs. */
  changes: string[];
  /** Validation of the result (what normalising could not fix). */
  problems: MetaSdpProblem[];
  ok: boolean;
}

/** First free dynamic payload type, preferring Meta's own numbering (126 for DTMF). */
function freePayloadType(used: Set<number>, preferred: number): number {
  if (!used.has(preferred)) return preferred;
  for (let pt = 96; pt <= 127; pt++) if (!used.has(pt)) return pt;
  return preferred;
}

const isCodecLine = (a: SdpAttribute): boolean =>
  a.name === 'rtpmap' || a.name === 'fmtp' || a.name === 'rtcp-fb';

/**
 * Makes our SDP (typically werift's) conform to Meta's rules where an edit is safe: CRLF endings;
 * drops `a=ice-lite`, RTP header extensions, codecs other than opus/48000/2 and
 * telephone-event/8000 (with their rtpmap/fmtp/rtcp-fb lines), fingerprints beyond the first
 * sha-256 one, extra SSRCs and ssrc-groups, candidates `keepCandidate` refuses; adds `a=ptime:20`,
 * `a=maxptime:20` and a missing telephone-event/8000 (offer: PT 126 or a free one; answer: only if
 * Meta's offer has it, with its PT). Deliberately does not touch the DTLS role, ICE credentials or
 * direction: those must match the media engine's state, so wrong values stay reported as problems.
 */
export function normaliseOurSdp(text: string, options: NormaliseOurSdpOptions): NormalisedSdp {
  const parsed = parseSdp(text);
  if (!parsed.sdp) return { sdp: '', changes: [], problems: parsed.problems, ok: false };
  const sdp = parsed.sdp;
  const changes: string[] = [];
  if (sdp.lineEndings !== 'crlf') changes.push('line endings set to CRLF');

  const drop = (section: SdpSection, name: string): void => {
    if (section.removeAttribute(name) > 0) changes.push(`removed a=${name}`);
  };
  for (const name of ['ice-lite', 'extmap-allow-mixed', 'extmap']) drop(sdp.session, name);

  const audio = sdp.audio();
  if (audio) {
    for (const name of ['ice-lite', 'extmap-allow-mixed', 'extmap']) drop(audio, name);

    // Codecs: keep the first opus/48000/2 and the first telephone-event/8000 only.
    const codecs = audio.codecs();
    const opus = codecs.find(isOpus48k);
    let dtmf = codecs.find((c) => isTelephoneEvent(c) && c.clockRate === 8000);
    const keep = new Set(
      [opus, dtmf].filter((c) => c !== undefined).map((c) => String(c.payloadType)),
    );
    const dropped = audio.formats.filter((f) => !keep.has(f));
    if (dropped.length > 0 && keep.size > 0) {
      for (const f of dropped) audio.removeFormat(f);
      changes.push(`removed payload types ${dropped.join(', ')}`);
    }

    if (!dtmf) {
      let pt: number | undefined;
      if (options.role === 'offer') {
        pt = freePayloadType(new Set(audio.formats.map(Number)), 126);
      } else if (options.remoteOffer !== undefined) {
        const offer = parseSdp(options.remoteOffer).sdp;
        pt = offer ? summariseAudioSdp(offer)?.telephoneEvent?.payloadType : undefined;
      }
      if (pt !== undefined && !audio.formats.includes(String(pt))) {
        audio.formats = [...audio.formats, String(pt)];
        audio.addAttribute('rtpmap', `${pt} telephone-event/8000`, isCodecLine);
        dtmf = {
          payloadType: pt,
          name: 'telephone-event',
          clockRate: 8000,
          channels: undefined,
          fmtp: {},
        };
        changes.push(`added telephone-event/8000 as PT ${pt}`);
      }
    }

    // Fingerprints: the first sha-256 one only (media level first, as it takes precedence).
    const all = [...audio.fingerprints(), ...sdp.session.fingerprints()];
    const chosen = all.find((f) => f.algorithm === 'sha-256');
    if (chosen && all.length > 1) {
      let kept = false;
      for (const section of [audio, sdp.session]) {
        section.removeAttributes((a) => {
          if (a.name !== 'fingerprint') return false;
          const [alg = '', value = ''] = (a.value ?? '').trim().split(/\s+/);
          if (!kept && alg.toLowerCase() === 'sha-256' && value === chosen.value) {
            kept = true;
            return false;
          }
          return true;
        });
      }
      changes.push('kept only the sha-256 fingerprint');
    }

    // SSRC: Meta rewrites business SSRCs to one fixed value; several SSRCs (RTX, FID groups) are
    // undefined behaviour there, so only the first stays.
    const firstSsrc = audio.ssrcs()[0];
    const removedSsrc =
      audio.removeAttribute('ssrc-group') +
      audio.removeAttributes(
        (a) => a.name === 'ssrc' && Number((a.value ?? '').split(' ')[0]) !== firstSsrc,
      );
    if (removedSsrc > 0) changes.push('kept a single SSRC');

    if (options.keepCandidate) {
      const keepCandidate = options.keepCandidate;
      const removed = audio.removeAttributes((a) => {
        if (a.name !== 'candidate') return false;
        const c = parseIceCandidate(a.value ?? '');
        return c === undefined || !keepCandidate(c.address);
      });
      if (removed > 0) changes.push(`removed ${removed} candidate(s) on other interfaces`);
    }

    if (!audio.hasAttribute('ptime')) {
      audio.addAttribute('ptime', '20', isCodecLine);
      changes.push('added a=ptime:20');
    }
    if (!audio.hasAttribute('maxptime')) {
      audio.addAttribute('maxptime', '20', (a) => isCodecLine(a) || a.name === 'ptime');
      changes.push('added a=maxptime:20');
    }
  }

  const out = sdp.toString();
  const check = validateOurSdp(out, {
    role: options.role,
    ...(options.remoteOffer !== undefined ? { remoteOffer: options.remoteOffer } : {}),
  });
  return { sdp: out, changes, problems: check.problems, ok: check.ok };
}

// ---------------------------------------------------------------------------------------------
// What Meta sends
// ---------------------------------------------------------------------------------------------

export interface NormaliseMetaSdpOptions {
  /** Required - Meta's offer (user-initiated call) or answer (business-initiated call). */
  type: 'offer' | 'answer';
  /**
   * Optional - For answers: the `a=setup` of our offer. Decides how an `actpass` answer (which an
   * answerer must not send, yet Chatwoot observed from Meta) is read: the complement of our role;
   * for our `actpass` Meta's documented answers choose `active`. Default `active` (we are DTLS
   * client, so Meta's `actpass` is read as `passive`).
   */
  localSetup?: 'active' | 'passive' | 'actpass';
  /** Optional - Drop IPv6 candidates (for hosts without IPv6 routing). Default false. */
  dropIpv6Candidates?: boolean;
  /**
   * Optional - keep only candidates whose address this allows; the others are removed so our ICE
   * agent never contacts them, and a description left without any candidate is an error
   * (`candidate_not_allowed`). Default: keep all.
   */
  allowCandidate?: (address: string) => boolean;
  /** Optional - what the networks allowed by `allowCandidate` are, for messages. */
  allowedNetworksDescription?: string;
}

export interface MetaSdpReading {
  /** SDP to hand to our WebRTC stack (CRLF, setup fixed, unusable candidates dropped). */
  sdp: string;
  /** Undefined when the text is not SDP or has no audio section. */
  summary: AudioSdpSummary | undefined;
  /** The DTLS role Meta takes, after `actpass` resolution. */
  remoteSetup: DtlsSetup | undefined;
  changes: string[];
  problems: MetaSdpProblem[];
  /** True when no problem would keep the call from connecting. */
  ok: boolean;
  /** Candidates removed because `allowCandidate` refused their address. */
  disallowedCandidates: number;
}

/**
 * Grammar of the attributes werift's parser reads without checking (it throws a TypeError or a
 * bare "exception" on a malformed one). Lines of Meta's SDP that do not match are dropped with a
 * warning before werift sees them, so a malformed line costs that line, not the call.
 */
const WEBRTC_LINE_RULES: Readonly<Record<string, RegExp>> = {
  rtcp: /^\d{1,5} IN IP[46] \S+$/,
  rtpmap: /^\d{1,3} [^\s/]+\/\d{1,6}(\/\d{1,2})?$/,
  fmtp: /^\d{1,3}( .*)?$/,
  'rtcp-fb': /^(\*|\d{1,3}) \S/,
  extmap: /^\d{1,5}(\/\w+)? \S+/,
  fingerprint: /^\S+ \S+$/,
  ssrc: /^\d{1,10} \S/,
  'ssrc-group': /./,
  group: /./,
  'msid-semantic': /./,
  msid: /./,
  mid: /./,
  rid: /./,
  sctpmap: /^\d+ \S/,
  'sctp-port': /^\d+$/,
};
const CONNECTION_LINE = /^IN IP[46] \S+$/;

function dropLinesWebRtcCannotParse(
  sdp: SessionDescription,
  warn: (code: MetaSdpProblemCode, message: string, line?: number) => void,
  changes: string[],
): void {
  for (const section of sdp.sections()) {
    const rtpmaps = new Set(
      section.attributeValues('rtpmap').map((v) => v.trimStart().split(' ')[0]),
    );
    section.lines = section.lines.filter((l) => {
      let ok = true;
      if (l.type === 'c') ok = CONNECTION_LINE.test(l.value);
      else if (l.type === 'a') {
        const colon = l.value.indexOf(':');
        const name = colon === -1 ? l.value : l.value.slice(0, colon);
        const rule = WEBRTC_LINE_RULES[name];
        if (rule) {
          const value = colon === -1 ? undefined : l.value.slice(colon + 1);
          ok = value !== undefined && rule.test(value);
          // werift attaches fmtp to its rtpmap and throws when there is none.
          if (ok && name === 'fmtp') ok = rtpmaps.has(value?.split(' ')[0]);
        }
      }
      if (!ok) {
        warn(
          'malformed_line',
          `dropped malformed line: ${truncate(`${l.type}=${l.value}`)}`,
          l.line,
        );
        changes.push(`dropped malformed line ${l.line}`);
      }
      return ok;
    });
  }
}

/**
 * Reads Meta's SDP. Tolerant by design (Meta's format drifts: extmaps in old samples, `ufrag`
 * suffixes on candidates, trickle options, extra codecs echoed in BIC answers); fails only what
 * makes a connection impossible or unsafe: limits exceeded, not exactly one m=audio section, no
 * Opus 48000/2, no fingerprint, no ICE credentials, no usable (or allowed) address.
 */
export function normaliseMetaSdp(text: unknown, options: NormaliseMetaSdpOptions): MetaSdpReading {
  const parsed = parseSdp(text);
  const problems = [...parsed.problems];
  const changes: string[] = [];
  const err = (code: MetaSdpProblemCode, message: string): void => {
    problems.push({ code, severity: 'error', message });
  };
  const warn = (code: MetaSdpProblemCode, message: string, line?: number): void => {
    problems.push({ code, severity: 'warning', message, ...(line !== undefined ? { line } : {}) });
  };
  const result = (
    sdp: string,
    summary: AudioSdpSummary | undefined,
    remoteSetup: DtlsSetup | undefined,
    disallowedCandidates = 0,
  ): MetaSdpReading => ({
    sdp,
    summary,
    remoteSetup,
    changes,
    problems,
    ok: !problems.some((p) => p.severity === 'error'),
    disallowedCandidates,
  });
  const sdp = parsed.sdp;
  if (!sdp) return result('', undefined, undefined);
  if (sdp.lineEndings !== 'crlf') {
    warn('line_endings', `Meta SDP line endings are ${sdp.lineEndings}`);
    changes.push('line endings set to CRLF');
  }
  const audio = sdp.audio();
  if (!audio) {
    err('not_audio', 'the SDP has no m=audio section');
    return result(sdp.toString(), undefined, undefined);
  }
  if (sdp.media.length > 1) {
    err(
      'media_count',
      `the SDP has ${sdp.media.length} m= sections; a WhatsApp call has exactly one (audio)`,
    );
  }
  if (audio.protocol !== 'UDP/TLS/RTP/SAVPF' || audio.formats.length === 0) {
    err(
      'media_protocol',
      `the m=audio line is "${truncate(audio.mLine)}"; WhatsApp calls use UDP/TLS/RTP/SAVPF (DTLS-SRTP) with payload types`,
    );
  }
  dropLinesWebRtcCannotParse(sdp, warn, changes);

  // Candidates: drop what no ICE agent could use, and what we must not contact.
  let disallowed = 0;
  let beforeAllowList = 0;
  audio.removeAttributes((a) => {
    if (a.name !== 'candidate') return false;
    const candidate = parseIceCandidate(a.value ?? '');
    if (!candidate) {
      warn('candidate', `dropped unparseable candidate: ${truncate(a.value ?? '')}`, a.line);
      changes.push(`dropped unparseable candidate on line ${a.line}`);
      return true;
    }
    if (options.dropIpv6Candidates && candidate.address.includes(':')) {
      changes.push(`dropped IPv6 candidate ${candidate.address}`);
      return true;
    }
    beforeAllowList++;
    if (options.allowCandidate && !options.allowCandidate(candidate.address)) {
      disallowed++;
      return true;
    }
    return false;
  });
  // werift splits candidates on single spaces: write the kept ones that way.
  for (const l of audio.lines) {
    if (l.type === 'a' && l.value.startsWith('candidate:')) {
      l.value = `candidate:${l.value.slice('candidate:'.length).trim().split(/\s+/).join(' ')}`;
    }
  }
  if (disallowed > 0) {
    const networks = options.allowedNetworksDescription ?? 'the allowed networks';
    changes.push(`dropped ${disallowed} candidate(s) outside ${networks}`);
    if (disallowed === beforeAllowList) {
      err(
        'candidate_not_allowed',
        `none of the SDP's ${disallowed} ICE candidate(s) is in an allowed network (${networks}); set MEDIA_ALLOWED_CANDIDATE_NETWORKS to allow it`,
      );
    } else {
      warn('candidate_not_allowed', `${disallowed} candidate(s) outside ${networks} dropped`);
    }
  }

  let remoteSetup = sdp.setupOf(audio);
  if (options.type === 'answer' && (remoteSetup === 'actpass' || remoteSetup === undefined)) {
    const local = options.localSetup ?? 'active';
    const resolved: DtlsSetup = local === 'active' ? 'passive' : 'active';
    let replaced = false;
    for (const section of sdp.sections()) {
      if (section.hasAttribute('setup')) {
        section.setAttribute('setup', resolved);
        replaced = true;
      }
    }
    if (!replaced) audio.addAttribute('setup', resolved);
    changes.push(`answer setup ${remoteSetup ?? '(missing)'} read as ${resolved}`);
    remoteSetup = resolved;
  } else if (
    options.type === 'answer' &&
    options.localSetup !== undefined &&
    options.localSetup !== 'actpass' &&
    remoteSetup === options.localSetup
  ) {
    err('setup_role', `Meta answered a=setup:${remoteSetup}, the same role as ours`);
  } else if (options.type === 'offer' && remoteSetup === undefined) {
    warn('setup_missing', 'offer has no a=setup; actpass assumed');
    remoteSetup = 'actpass';
  }

  const summary = summariseAudioSdp(sdp);
  if (summary) {
    if (!summary.opus) err('no_opus', 'the SDP offers no opus/48000/2 (WhatsApp calls use Opus)');
    if (summary.fingerprints.length === 0) {
      err('fingerprint_missing', 'the SDP has no a=fingerprint (DTLS-SRTP needs one)');
    }
    if (summary.iceUfrag === undefined || summary.icePwd === undefined) {
      err('ice_credentials', 'the SDP lacks a=ice-ufrag or a=ice-pwd');
    }
    const usableAddress =
      summary.candidates.length > 0 ||
      (disallowed === 0 &&
        summary.connectionAddress !== undefined &&
        summary.connectionAddress !== '0.0.0.0' &&
        summary.port > 0);
    if (!usableAddress && disallowed === 0) {
      err('no_address', 'the SDP has neither ICE candidates nor a usable c= address');
    }
    if (!summary.iceLite)
      warn('ice_lite', 'Meta SDP is not ICE-lite; Meta relays always have been');
    if (!summary.telephoneEvent) {
      warn('no_telephone_event', 'no telephone-event/8000: DTMF unavailable');
    }
    if (summary.direction !== 'sendrecv') warn('direction', `direction is ${summary.direction}`);
    if (!summary.rtcpMux) warn('rtcp_mux', 'no a=rtcp-mux');
  }
  return result(sdp.toString(), summary, remoteSetup, disallowed);
}

/**
 * {@link normaliseMetaSdp} for the media leg: the reading when it is usable.
 * @throws InvalidSdpError naming every error problem (limits, no Opus, no allowed candidate, ...).
 */
export function readMetaSdp(text: unknown, options: NormaliseMetaSdpOptions): MetaSdpReading {
  const reading = normaliseMetaSdp(text, options);
  if (reading.ok) return reading;
  const errors = reading.problems.filter((p) => p.severity === 'error');
  const first = errors[0];
  const reason =
    first?.code === 'not_sdp'
      ? 'not_sdp'
      : first?.code === 'malformed_line'
        ? 'malformed'
        : first?.code === 'limits'
          ? limitReason(text)
          : 'unusable';
  throw new InvalidSdpError(reason, errors.map((p) => p.message).join('; '));
}

/** The limit reason of a text that failed the limits (re-parsed only on that error path). */
function limitReason(text: unknown): InvalidSdpError['reason'] {
  try {
    SessionDescription.parse(text, META_SDP_LIMITS);
  } catch (err) {
    if (err instanceof InvalidSdpError) return err.reason;
  }
  return 'unusable';
}

// ---------------------------------------------------------------------------------------------
// Meta's own SDP, for the simulator
// ---------------------------------------------------------------------------------------------

/** Transport facts read from a werift local description. */
interface RelayTransport {
  ufrag: string;
  pwd: string;
  fingerprint: string;
  setup: string;
  port: number;
  ssrc: number;
  media: MediaSection;
}

function readTransport(weriftSdp: string, relayAddress: string): RelayTransport {
  const sdp = SessionDescription.parse(weriftSdp, META_SDP_LIMITS);
  const media = sdp.media[0];
  if (!media) throw new Error('relay peer produced no media section');
  const one = (name: string): string => {
    const value = sdp.attributeOf(media, name);
    if (value === undefined) throw new Error(`relay peer SDP lacks a=${name}`);
    return value;
  };
  const candidate = media
    .candidates()
    .find((c) => c.address === relayAddress && c.transport === 'udp');
  if (!candidate) throw new Error(`relay peer gathered no UDP candidate on ${relayAddress}`);
  return {
    ufrag: one('ice-ufrag'),
    pwd: one('ice-pwd'),
    fingerprint: one('fingerprint'),
    setup: one('setup'),
    port: candidate.port,
    ssrc: media.ssrcs()[0] ?? randomInt(1, 2 ** 31),
    media,
  };
}

/** Candidate line as Meta writes it (UDP host, `generation 0 network-cost 50`). */
function candidateLine(address: string, port: number, priority: number, suffix = ''): string {
  return `a=candidate:${randomInt(1, 2 ** 32 - 1)} 1 udp ${priority} ${address} ${port} typ host generation 0 network-cost 50${suffix}`;
}

function ipVersion(address: string): '4' | '6' {
  return address.includes(':') ? '6' : '4';
}

/** Builds through the model, so what the simulator writes is what the model reads back. */
function build(lines: string[]): string {
  return SessionDescription.parse(`${lines.join('\r\n')}\r\n`, META_SDP_LIMITS).toString();
}

/**
 * Meta's offer for a user-initiated call: `a=ice-lite`, BUNDLE of `audio`, Opus 111 with the
 * 16 kHz fmtp, telephone-event/8000 on 126, ptime 20, `setup:actpass`, cname
 * `WhatsAppAudioStream1`, msid `WhatsAppTrack1` (reference §8.2; four real captures agree). The
 * transport parameters are werift's, so the text stays true to what the relay peer does.
 */
export function buildMetaOffer(weriftSdp: string, relayAddress: string): string {
  const t = readTransport(weriftSdp, relayAddress);
  const stream = randomUUID();
  return build([
    'v=0',
    `o=- ${Date.now()} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE audio',
    `a=msid-semantic: WMS ${stream}`,
    'a=ice-lite',
    `m=audio ${t.port} UDP/TLS/RTP/SAVPF 111 126`,
    `c=IN IP${ipVersion(relayAddress)} ${relayAddress}`,
    'a=rtcp:9 IN IP4 0.0.0.0',
    candidateLine(relayAddress, t.port, 2122260223),
    `a=ice-ufrag:${t.ufrag}`,
    `a=ice-pwd:${t.pwd}`,
    `a=fingerprint:${t.fingerprint}`,
    'a=setup:actpass',
    'a=mid:audio',
    'a=sendrecv',
    `a=msid:${stream} WhatsAppTrack1`,
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    `a=fmtp:111 ${META_OPUS_FMTP}`,
    'a=rtpmap:126 telephone-event/8000',
    'a=maxptime:20',
    'a=ptime:20',
    `a=ssrc:${t.ssrc} cname:WhatsAppAudioStream1`,
  ]);
}

/**
 * Meta's answer for a business-initiated call, in the shape of Meta's documented sample (§8.3):
 * `a=ice-lite`, candidates with a trailing `ufrag`, `a=ice-options:trickle`, the DTLS role werift
 * chose (`active` for an `actpass` offer, `passive` for an `active` one), the offer's mid and the
 * codecs werift accepted with the business's payload type numbers.
 */
export function buildMetaAnswer(weriftSdp: string, relayAddress: string): string {
  const t = readTransport(weriftSdp, relayAddress);
  const stream = randomUUID();
  const label = `audio#${randomBytes(8).toString('base64url').slice(0, 11)}`;
  const mid = t.media.attribute('mid') ?? '0';
  const attributeLines = (names: string[]): string[] =>
    t.media
      .attributes()
      .filter((a) => names.includes(a.name))
      .map((a) => `a=${a.name}${a.value === undefined ? '' : `:${a.value}`}`);
  const cname = randomBytes(12).toString('base64').slice(0, 16);
  return build([
    'v=0',
    `o=- ${BigInt.asUintN(63, randomBytes(8).readBigUInt64BE())} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    `a=group:BUNDLE ${mid}`,
    'a=extmap-allow-mixed',
    `a=msid-semantic: WMS ${stream}`,
    'a=ice-lite',
    `m=audio ${t.port} UDP/TLS/RTP/SAVPF ${t.media.formats.join(' ')}`,
    `c=IN IP${ipVersion(relayAddress)} ${relayAddress}`,
    'a=rtcp:9 IN IP4 0.0.0.0',
    candidateLine(relayAddress, t.port, 2113937151, ` ufrag ${t.ufrag}`),
    `a=ice-ufrag:${t.ufrag}`,
    `a=ice-pwd:${t.pwd}`,
    'a=ice-options:trickle',
    `a=fingerprint:${t.fingerprint}`,
    `a=setup:${t.setup}`,
    `a=mid:${mid}`,
    ...attributeLines(['extmap']),
    'a=sendrecv',
    'a=rtcp-mux',
    ...attributeLines(['rtpmap', 'fmtp', 'rtcp-fb']),
    `a=ssrc:${t.ssrc} cname:${cname}`,
    `a=ssrc:${t.ssrc} msid:${stream} ${label}`,
    `a=ssrc:${t.ssrc} mslabel:${stream}`,
    `a=ssrc:${t.ssrc} label:${label}`,
  ]);
}

// ---------------------------------------------------------------------------------------------
// What Meta's Graph API refuses, for the simulator
// ---------------------------------------------------------------------------------------------

/**
 * Why Meta refuses a business SDP, as far as observed (§8.4): Meta accepted an aiortc answer with
 * no telephone-event, no fmtp, an uppercase `SHA-256`, a private `c=` line and
 * `a=end-of-candidates`, so only these are refused.
 */
export type BusinessSdpRejection =
  | { kind: 'json_encoded' }
  | { kind: 'unparseable'; detail: string }
  | { kind: 'media_count' }
  | { kind: 'not_audio' }
  | { kind: 'fingerprint_missing' }
  | { kind: 'fingerprint_not_sha256' }
  | { kind: 'ice_credentials' }
  | { kind: 'no_opus' };

/** Checks a business SDP against the rejections Meta is observed to make; `undefined` if none. */
export function checkBusinessSdp(text: string): BusinessSdpRejection | undefined {
  if (text.trimStart().startsWith('{')) return { kind: 'json_encoded' };
  const parsed = parseSdp(text);
  const sdp = parsed.sdp;
  if (!sdp) return { kind: 'unparseable', detail: parsed.problems[0]?.message ?? 'not SDP' };
  if (sdp.media.length !== 1) return { kind: 'media_count' };
  const media = sdp.media[0] as MediaSection;
  if (media.kind !== 'audio') return { kind: 'not_audio' };
  const fingerprints = sdp.fingerprintsOf(media);
  if (fingerprints.length === 0) return { kind: 'fingerprint_missing' };
  if (fingerprints.length > 1 || fingerprints[0]?.algorithm !== 'sha-256') {
    return { kind: 'fingerprint_not_sha256' };
  }
  if (
    sdp.attributeOf(media, 'ice-ufrag') === undefined ||
    sdp.attributeOf(media, 'ice-pwd') === undefined
  ) {
    return { kind: 'ice_credentials' };
  }
  if (!media.codecs().some((c) => c.name.toLowerCase() === 'opus' && c.clockRate === 48000)) {
    return { kind: 'no_opus' };
  }
  return undefined;
}
