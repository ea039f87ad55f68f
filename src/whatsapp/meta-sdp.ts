/**
 * SDP rules for Meta's WhatsApp calling relay, in one place:
 *  - a small, forgiving SDP parser/serialiser (never throws; bad input comes back as problems),
 *  - {@link validateOurSdp}: what our offers/answers must contain for Meta to take them,
 *  - {@link normaliseOurSdp}: makes a werift-produced SDP conform where that is safe to do
 *    textually (things that would desync the SDP from the media engine are reported, not edited),
 *  - {@link normaliseMetaSdp}: reads what Meta sends (offers in user-initiated calls, answers in
 *    business-initiated calls) into a summary and an SDP our WebRTC stack can apply.
 *
 * Sources (see ../shared/reference/whatsapp-calling-api.md §8): Meta rejects more than one
 * fingerprint or a non-sha-256 one ("Fingerprint algo is not SHA256", 138008), a missing
 * fingerprint, more than one m-line; it requires Opus 48000/2, ptime 20, a single SSRC,
 * telephone-event at 8000 Hz only, CRLF line endings, and expects the business to be ICE-full and
 * DTLS client (`a=setup:active` when answering).
 */

/** One `<type>=<value>` line. `line` is 1-based in the parsed text (0 for lines we added). */
export interface SdpLine {
  type: string;
  value: string;
  line: number;
}

export interface SdpMediaSection {
  /** `audio`, `video`, `application`, … */
  kind: string;
  port: number;
  protocol: string;
  /** Payload types / formats from the m= line, in order. */
  formats: string[];
  /** All lines of the section, the m= line first. */
  lines: SdpLine[];
}

export interface ParsedSdp {
  /** Session-level lines (before the first m=). */
  session: SdpLine[];
  media: SdpMediaSection[];
  /** How lines were terminated in the input. */
  lineEndings: 'crlf' | 'lf' | 'mixed' | 'none';
}

export type SdpProblemSeverity = 'error' | 'warning';

/** Stable identifiers of SDP problems; tests and callers key on these, not on messages. */
export type MetaSdpProblemCode =
  | 'not_sdp'
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
  | 'candidate';

export interface MetaSdpProblem {
  code: MetaSdpProblemCode;
  /** `error`: Meta is documented or observed to fail the call; `warning`: tolerated but unusual. */
  severity: SdpProblemSeverity;
  message: string;
  /** 1-based line number in the checked text, when one line is at fault. */
  line?: number;
}

export interface SdpCodec {
  payloadType: number;
  /** Encoding name as written (case kept), e.g. `opus`, `telephone-event`. */
  name: string;
  clockRate: number;
  channels: number | undefined;
  /** Parsed `a=fmtp` parameters (keys lower-cased). */
  fmtp: Record<string, string>;
}

export interface SdpFingerprint {
  /** Lower-cased hash name, e.g. `sha-256`. */
  algorithm: string;
  /** Colon-separated hex as written. */
  value: string;
}

export interface IceCandidate {
  foundation: string;
  component: number;
  transport: string;
  priority: number;
  address: string;
  port: number;
  type: string;
  /** The text after `a=candidate:`. */
  raw: string;
}

export type DtlsSetup = 'active' | 'passive' | 'actpass' | 'holdconn';

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
// Parsing and serialising
// ---------------------------------------------------------------------------------------------

const LINE_PATTERN = /^([a-z])=(.*)$/;
const MEDIA_PATTERN = /^(\S+) (\d+)(?:\/\d+)? (\S+)(?: (.*))?$/;

export interface SdpParseResult {
  /** Undefined when the text is not SDP at all. */
  sdp: ParsedSdp | undefined;
  problems: MetaSdpProblem[];
}

/**
 * Parses SDP text into session and media sections. Never throws: non-strings, empty text and
 * text not starting with `v=0` give `sdp: undefined` and a `not_sdp` problem; lines that are not
 * `<letter>=<value>` are dropped with a `malformed_line` warning. Trailing whitespace is trimmed.
 */
export function parseSdp(text: unknown): SdpParseResult {
  const problems: MetaSdpProblem[] = [];
  if (typeof text !== 'string' || text.trim() === '') {
    return {
      sdp: undefined,
      problems: [{ code: 'not_sdp', severity: 'error', message: 'SDP is empty or not text' }],
    };
  }
  const crlf = (text.match(/\r\n/g) ?? []).length;
  const lf = (text.match(/\n/g) ?? []).length - crlf;
  const lineEndings: ParsedSdp['lineEndings'] =
    crlf === 0 && lf === 0 ? 'none' : crlf > 0 && lf > 0 ? 'mixed' : crlf > 0 ? 'crlf' : 'lf';

  const rawLines = text.split(/\r\n|\n|\r/);
  const session: SdpLine[] = [];
  const media: SdpMediaSection[] = [];
  let sawVersion = false;
  rawLines.forEach((raw, index) => {
    const lineNo = index + 1;
    const trimmed = raw.trimEnd();
    if (trimmed === '') return;
    const match = LINE_PATTERN.exec(trimmed);
    if (!match) {
      problems.push({
        code: 'malformed_line',
        severity: 'warning',
        message: `line is not <type>=<value>: ${truncate(trimmed)}`,
        line: lineNo,
      });
      return;
    }
    const line: SdpLine = { type: match[1] as string, value: match[2] as string, line: lineNo };
    if (!sawVersion) {
      if (line.type !== 'v' || line.value !== '0') {
        problems.push({
          code: 'malformed_line',
          severity: 'warning',
          message: `ignored line before v=0: ${truncate(trimmed)}`,
          line: lineNo,
        });
        return;
      }
      sawVersion = true;
    }
    if (line.type === 'm') {
      const m = MEDIA_PATTERN.exec(line.value);
      if (!m) {
        problems.push({
          code: 'malformed_line',
          severity: 'error',
          message: `m= line is malformed: ${truncate(line.value)}`,
          line: lineNo,
        });
      }
      media.push({
        kind: m?.[1] ?? '',
        port: m ? Number(m[2]) : 0,
        protocol: m?.[3] ?? '',
        formats: m?.[4] ? m[4].split(' ').filter((f) => f !== '') : [],
        lines: [line],
      });
      return;
    }
    const current = media[media.length - 1];
    if (current) current.lines.push(line);
    else session.push(line);
  });
  if (!sawVersion) {
    return {
      sdp: undefined,
      problems: [
        { code: 'not_sdp', severity: 'error', message: 'text has no "v=0" line' },
        ...problems,
      ],
    };
  }
  return { sdp: { session, media, lineEndings }, problems };
}

/** Serialises with CRLF after every line, including the last (RFC 8866 §5). */
export function serialiseSdp(sdp: ParsedSdp): string {
  const lines = [...sdp.session, ...sdp.media.flatMap((m) => m.lines)];
  return lines.map((l) => `${l.type}=${l.value}\r\n`).join('');
}

/** Attribute lines (`a=`) of a section: name and value (undefined for flag attributes). */
export function sdpAttributes(
  lines: readonly SdpLine[],
): { name: string; value: string | undefined; line: number }[] {
  return lines
    .filter((l) => l.type === 'a')
    .map((l) => {
      const colon = l.value.indexOf(':');
      return colon === -1
        ? { name: l.value, value: undefined, line: l.line }
        : { name: l.value.slice(0, colon), value: l.value.slice(colon + 1), line: l.line };
    });
}

function attributeValues(lines: readonly SdpLine[], name: string): string[] {
  return sdpAttributes(lines)
    .filter((a) => a.name === name && a.value !== undefined)
    .map((a) => a.value as string);
}

function hasFlag(lines: readonly SdpLine[], name: string): boolean {
  return sdpAttributes(lines).some((a) => a.name === name);
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

function parseIntStrict(s: string | undefined): number | undefined {
  if (s === undefined || !/^\d+$/.test(s.trim())) return undefined;
  const n = Number(s.trim());
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Parses `a=candidate` values; returns undefined for unparseable ones. */
export function parseIceCandidate(value: string): IceCandidate | undefined {
  const parts = value.trim().split(/\s+/);
  if (parts.length < 8 || parts[6] !== 'typ') return undefined;
  const component = parseIntStrict(parts[1]);
  const priority = parseIntStrict(parts[3]);
  const port = parseIntStrict(parts[5]);
  if (component === undefined || priority === undefined || port === undefined || port > 65535) {
    return undefined;
  }
  return {
    foundation: parts[0] as string,
    component,
    transport: (parts[2] as string).toLowerCase(),
    priority,
    address: parts[4] as string,
    port,
    type: parts[7] as string,
    raw: value,
  };
}

function codecsOf(section: SdpMediaSection): SdpCodec[] {
  const fmtp = new Map<number, Record<string, string>>();
  for (const value of attributeValues(section.lines, 'fmtp')) {
    const space = value.indexOf(' ');
    const pt = parseIntStrict(space === -1 ? value : value.slice(0, space));
    if (pt === undefined) continue;
    const params: Record<string, string> = {};
    for (const pair of (space === -1 ? '' : value.slice(space + 1)).split(';')) {
      const [k, ...rest] = pair.split('=');
      if (k && k.trim() !== '') params[k.trim().toLowerCase()] = rest.join('=').trim();
    }
    fmtp.set(pt, params);
  }
  const codecs: SdpCodec[] = [];
  for (const value of attributeValues(section.lines, 'rtpmap')) {
    const m = /^(\d+)\s+([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(value.trim());
    if (!m) continue;
    const payloadType = Number(m[1]);
    codecs.push({
      payloadType,
      name: m[2] as string,
      clockRate: Number(m[3]),
      channels: m[4] === undefined ? undefined : Number(m[4]),
      fmtp: fmtp.get(payloadType) ?? {},
    });
  }
  return codecs;
}

function isOpus48k(c: SdpCodec): boolean {
  return c.name.toLowerCase() === 'opus' && c.clockRate === 48000 && c.channels === 2;
}

function isTelephoneEvent(c: SdpCodec): boolean {
  return c.name.toLowerCase() === 'telephone-event';
}

function firstAudio(sdp: ParsedSdp): SdpMediaSection | undefined {
  return sdp.media.find((m) => m.kind === 'audio');
}

/** Summarises the first audio section (session-level attributes apply where RFC 8866 says so). */
export function summariseAudioSdp(sdp: ParsedSdp): AudioSdpSummary | undefined {
  const audio = firstAudio(sdp);
  if (!audio) return undefined;
  const both = [...sdp.session, ...audio.lines];
  const pick = (name: string): string | undefined =>
    attributeValues(audio.lines, name)[0] ?? attributeValues(sdp.session, name)[0];
  const fingerprints = [
    ...attributeValues(audio.lines, 'fingerprint'),
    ...(attributeValues(audio.lines, 'fingerprint').length === 0
      ? attributeValues(sdp.session, 'fingerprint')
      : []),
  ].map((v) => {
    const [algorithm = '', value = ''] = v.trim().split(/\s+/);
    return { algorithm: algorithm.toLowerCase(), value };
  });
  const setupValue = pick('setup')?.trim().toLowerCase();
  const setup =
    setupValue === 'active' ||
    setupValue === 'passive' ||
    setupValue === 'actpass' ||
    setupValue === 'holdconn'
      ? setupValue
      : undefined;
  const direction = (['sendonly', 'recvonly', 'inactive', 'sendrecv'] as const).find(
    (d) => hasFlag(audio.lines, d) || (!hasAnyDirection(audio.lines) && hasFlag(sdp.session, d)),
  );
  const codecs = codecsOf(audio).filter((c) => audio.formats.includes(String(c.payloadType)));
  const ssrcs = [
    ...new Set(
      attributeValues(audio.lines, 'ssrc')
        .map((v) => parseIntStrict(v.split(' ')[0]))
        .filter((n): n is number => n !== undefined),
    ),
  ];
  const candidates = attributeValues(audio.lines, 'candidate')
    .map(parseIceCandidate)
    .filter((c): c is IceCandidate => c !== undefined);
  const cLine = audio.lines.find((l) => l.type === 'c') ?? sdp.session.find((l) => l.type === 'c');
  const ptime = parseIntStrict(attributeValues(audio.lines, 'ptime')[0]);
  const maxptime = parseIntStrict(attributeValues(audio.lines, 'maxptime')[0]);
  return {
    mid: attributeValues(audio.lines, 'mid')[0]?.trim(),
    iceUfrag: pick('ice-ufrag')?.trim(),
    icePwd: pick('ice-pwd')?.trim(),
    iceLite: hasFlag(both, 'ice-lite'),
    fingerprints,
    setup,
    direction: direction ?? 'sendrecv',
    rtcpMux: hasFlag(audio.lines, 'rtcp-mux'),
    codecs,
    opus: codecs.find(isOpus48k),
    telephoneEvent: codecs.find((c) => isTelephoneEvent(c) && c.clockRate === 8000),
    ptime,
    maxptime,
    ssrcs,
    candidates,
    connectionAddress: cLine?.value.trim().split(/\s+/)[2],
    port: audio.port,
  };
}

function hasAnyDirection(lines: readonly SdpLine[]): boolean {
  return ['sendrecv', 'sendonly', 'recvonly', 'inactive'].some((d) => hasFlag(lines, d));
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
  const audio = firstAudio(sdp);
  for (const m of sdp.media) {
    if (m.kind !== 'audio') err('not_audio', `m=${m.kind} is not allowed`, m.lines[0]?.line);
  }
  const summary = summariseAudioSdp(sdp);
  if (!audio || !summary) return { ok: false, problems, summary: undefined };

  if (audio.protocol !== 'UDP/TLS/RTP/SAVPF') {
    err('media_protocol', `protocol must be UDP/TLS/RTP/SAVPF, is ${audio.protocol}`);
  }
  if (!summary.opus) err('no_opus', 'opus/48000/2 is required');
  const dtmf = summary.codecs.filter(isTelephoneEvent);
  if (!summary.telephoneEvent) err('no_telephone_event', 'telephone-event/8000 is required');
  for (const c of dtmf) {
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
  if (hasFlag(audio.lines, 'ssrc-group')) err('ssrc_count', 'a=ssrc-group is not allowed');

  if (!summary.rtcpMux) err('rtcp_mux', 'a=rtcp-mux is required');
  if (summary.direction !== 'sendrecv') {
    err('direction', `direction must be sendrecv, is ${summary.direction}`);
  }
  if (summary.mid === undefined) err('mid', 'a=mid is required');
  if (sdpAttributes(audio.lines).some((a) => a.name === 'extmap')) {
    warn('extmap', 'RTP header extensions are not used by Meta');
  }
  if (summary.connectionAddress === undefined) err('no_address', 'c= line is required');
  for (const value of attributeValues(audio.lines, 'candidate')) {
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

/**
 * Makes our SDP (typically werift's) conform to Meta's rules where a textual edit is safe:
 * CRLF endings; drops `a=ice-lite`, RTP header extensions, codecs other than opus/48000/2 and
 * telephone-event/8000 (with their rtpmap/fmtp/rtcp-fb lines), fingerprints beyond the first
 * sha-256 one, extra SSRCs and ssrc-groups; adds `a=ptime:20` and a missing telephone-event/8000
 * (offer: PT 126 or a free one; answer: only if Meta's offer has it, with its PT).
 * Deliberately does not touch the DTLS role, ICE credentials or direction: those must match the
 * media engine's state, so wrong values stay reported as problems for the media leg to fix.
 */
export function normaliseOurSdp(text: string, options: NormaliseOurSdpOptions): NormalisedSdp {
  const parsed = parseSdp(text);
  if (!parsed.sdp) {
    return { sdp: '', changes: [], problems: parsed.problems, ok: false };
  }
  const sdp = parsed.sdp;
  const changes: string[] = [];
  if (sdp.lineEndings !== 'crlf') changes.push('line endings set to CRLF');

  const dropFlag = (lines: SdpLine[], name: string): SdpLine[] => {
    const kept = lines.filter(
      (l) => !(l.type === 'a' && (l.value === name || l.value.startsWith(`${name}:`))),
    );
    if (kept.length !== lines.length) changes.push(`removed a=${name}`);
    return kept;
  };
  sdp.session = dropFlag(sdp.session, 'ice-lite');
  sdp.session = dropFlag(sdp.session, 'extmap-allow-mixed');
  sdp.session = dropFlag(sdp.session, 'extmap');

  const audio = firstAudio(sdp);
  if (audio) {
    audio.lines = dropFlag(audio.lines, 'ice-lite');
    audio.lines = dropFlag(audio.lines, 'extmap-allow-mixed');
    audio.lines = dropFlag(audio.lines, 'extmap');

    // Codecs: keep the first opus/48000/2 and the first telephone-event/8000 only.
    const codecs = codecsOf(audio).filter((c) => audio.formats.includes(String(c.payloadType)));
    const opus = codecs.find(isOpus48k);
    let dtmf = codecs.find((c) => isTelephoneEvent(c) && c.clockRate === 8000);
    const keep = new Set<string>(
      [opus, dtmf].filter((c) => c !== undefined).map((c) => String(c.payloadType)),
    );
    const dropped = audio.formats.filter((f) => !keep.has(f));
    if (dropped.length > 0 && keep.size > 0) {
      audio.formats = audio.formats.filter((f) => keep.has(f));
      audio.lines = audio.lines.filter((l) => {
        if (l.type !== 'a') return true;
        const m = /^(rtpmap|fmtp|rtcp-fb):(\d+)\b/.exec(l.value);
        return !m || keep.has(m[2] as string);
      });
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
        audio.formats.push(String(pt));
        const rtpmapIndex = lastIndex(
          audio.lines,
          (l) => l.type === 'a' && /^(rtpmap|fmtp|rtcp-fb):/.test(l.value),
        );
        audio.lines.splice(rtpmapIndex + 1, 0, {
          type: 'a',
          value: `rtpmap:${pt} telephone-event/8000`,
          line: 0,
        });
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
    const mLine = audio.lines[0];
    if (mLine) {
      mLine.value = [audio.kind, String(audio.port), audio.protocol, ...audio.formats].join(' ');
    }

    // Fingerprints: the first sha-256 one only.
    const fingerprintLines = audio.lines.filter(
      (l) => l.type === 'a' && l.value.startsWith('fingerprint:'),
    );
    const sessionFingerprints = sdp.session.filter(
      (l) => l.type === 'a' && l.value.startsWith('fingerprint:'),
    );
    const allFingerprints = [...fingerprintLines, ...sessionFingerprints];
    const chosen = allFingerprints.find((l) => /^fingerprint:\s*sha-256\s/i.test(l.value));
    if (chosen && allFingerprints.length > 1) {
      audio.lines = audio.lines.filter(
        (l) => !(l.type === 'a' && l.value.startsWith('fingerprint:')) || l === chosen,
      );
      sdp.session = sdp.session.filter(
        (l) => !(l.type === 'a' && l.value.startsWith('fingerprint:')) || l === chosen,
      );
      changes.push('kept only the sha-256 fingerprint');
    }

    // SSRC: Meta rewrites business SSRCs to one fixed value; several SSRCs (RTX, FID groups) are
    // undefined behaviour there, so only the first stays.
    const ssrcValues = audio.lines.filter((l) => l.type === 'a' && l.value.startsWith('ssrc:'));
    const firstSsrc = ssrcValues[0]?.value.slice('ssrc:'.length).split(' ')[0];
    const beforeSsrc = audio.lines.length;
    audio.lines = audio.lines.filter(
      (l) =>
        !(l.type === 'a' && l.value.startsWith('ssrc-group:')) &&
        !(
          l.type === 'a' &&
          l.value.startsWith('ssrc:') &&
          l.value.slice('ssrc:'.length).split(' ')[0] !== firstSsrc
        ),
    );
    if (audio.lines.length !== beforeSsrc) changes.push('kept a single SSRC');

    if (!audio.lines.some((l) => l.type === 'a' && l.value.startsWith('ptime:'))) {
      const anchor = lastIndex(
        audio.lines,
        (l) => l.type === 'a' && /^(rtpmap|fmtp|rtcp-fb):/.test(l.value),
      );
      audio.lines.splice(anchor === -1 ? audio.lines.length : anchor + 1, 0, {
        type: 'a',
        value: 'ptime:20',
        line: 0,
      });
      changes.push('added a=ptime:20');
    }
  }

  const out = serialiseSdp(sdp);
  const check = validateOurSdp(out, {
    role: options.role,
    ...(options.remoteOffer !== undefined ? { remoteOffer: options.remoteOffer } : {}),
  });
  return { sdp: out, changes, problems: check.problems, ok: check.ok };
}

function lastIndex<T>(items: readonly T[], predicate: (item: T) => boolean): number {
  for (let i = items.length - 1; i >= 0; i--) if (predicate(items[i] as T)) return i;
  return -1;
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
}

export interface MetaSdpReading {
  /** SDP to hand to our WebRTC stack (CRLF, setup fixed, unparseable candidates dropped). */
  sdp: string;
  /** Undefined when the text is not SDP or has no audio section. */
  summary: AudioSdpSummary | undefined;
  /** The DTLS role Meta takes, after `actpass` resolution. */
  remoteSetup: DtlsSetup | undefined;
  changes: string[];
  problems: MetaSdpProblem[];
  /** True when no problem would keep the call from connecting. */
  ok: boolean;
}

/**
 * Reads Meta's SDP. Tolerant by design (Meta's format drifts: extmaps in old samples, `ufrag`
 * suffixes on candidates, trickle options, extra codecs echoed in BIC answers); fails only what
 * makes a connection impossible: no audio, no Opus 48000/2, no fingerprint, no ICE credentials,
 * no usable address.
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
  const sdp = parsed.sdp;
  if (!sdp) {
    return { sdp: '', summary: undefined, remoteSetup: undefined, changes, problems, ok: false };
  }
  if (sdp.lineEndings !== 'crlf') {
    warn('line_endings', `Meta SDP line endings are ${sdp.lineEndings}`);
    changes.push('line endings set to CRLF');
  }
  const audio = firstAudio(sdp);
  if (!audio) {
    err('not_audio', 'no m=audio section');
    return {
      sdp: serialiseSdp(sdp),
      summary: undefined,
      remoteSetup: undefined,
      changes,
      problems,
      ok: false,
    };
  }
  if (sdp.media.length > 1) warn('media_count', `${sdp.media.length} m= lines; only audio is used`);

  // Candidates: drop what no ICE agent could use rather than failing the whole description.
  audio.lines = audio.lines.filter((l) => {
    if (l.type !== 'a' || !l.value.startsWith('candidate:')) return true;
    const candidate = parseIceCandidate(l.value.slice('candidate:'.length));
    if (!candidate) {
      warn('candidate', `dropped unparseable candidate: ${truncate(l.value)}`, l.line);
      changes.push(`dropped unparseable candidate on line ${l.line}`);
      return false;
    }
    if (options.dropIpv6Candidates && candidate.address.includes(':')) {
      changes.push(`dropped IPv6 candidate ${candidate.address}`);
      return false;
    }
    return true;
  });

  const before = summariseAudioSdp(sdp);
  let remoteSetup = before?.setup;
  if (options.type === 'answer' && (remoteSetup === 'actpass' || remoteSetup === undefined)) {
    const local = options.localSetup ?? 'active';
    const resolved: DtlsSetup = local === 'active' ? 'passive' : 'active';
    replaceSetup(sdp, resolved);
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
    if (!summary.opus) err('no_opus', 'Meta SDP has no opus/48000/2');
    if (summary.fingerprints.length === 0)
      err('fingerprint_missing', 'Meta SDP has no a=fingerprint');
    if (summary.iceUfrag === undefined || summary.icePwd === undefined) {
      err('ice_credentials', 'Meta SDP lacks a=ice-ufrag or a=ice-pwd');
    }
    const usableAddress =
      summary.candidates.length > 0 ||
      (summary.connectionAddress !== undefined &&
        summary.connectionAddress !== '0.0.0.0' &&
        summary.port > 0);
    if (!usableAddress)
      err('no_address', 'Meta SDP has neither candidates nor a usable c= address');
    if (!summary.iceLite)
      warn('ice_lite', 'Meta SDP is not ICE-lite; Meta relays always have been');
    if (!summary.telephoneEvent)
      warn('no_telephone_event', 'no telephone-event/8000: DTMF unavailable');
    if (summary.direction !== 'sendrecv') warn('direction', `direction is ${summary.direction}`);
    if (!summary.rtcpMux) warn('rtcp_mux', 'no a=rtcp-mux');
  }
  const out = serialiseSdp(sdp);
  return {
    sdp: out,
    summary,
    remoteSetup,
    changes,
    problems,
    ok: !problems.some((p) => p.severity === 'error'),
  };
}

function replaceSetup(sdp: ParsedSdp, setup: DtlsSetup): void {
  let replaced = false;
  for (const line of [...sdp.session, ...sdp.media.flatMap((m) => m.lines)]) {
    if (line.type === 'a' && line.value.startsWith('setup:')) {
      line.value = `setup:${setup}`;
      replaced = true;
    }
  }
  const audio = firstAudio(sdp);
  if (!replaced && audio) audio.lines.push({ type: 'a', value: `setup:${setup}`, line: 0 });
}
