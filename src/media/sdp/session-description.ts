/**
 * The one SDP model (RFC 8866) of the project: every SDP the connector and the simulator read or
 * write is parsed into a {@link SessionDescription}, read through its typed accessors, edited
 * through its methods and serialised by it. Meta's rules live on top of it in
 * `src/whatsapp/meta-sdp.ts`.
 *
 * Why not werift's `SessionDescription`: it is a model for werift's own negotiation, not a faithful
 * one. Parsing and re-serialising Meta's captures (test/fixtures/whatsapp/sdp) with it drops
 * `a=ptime`, `a=maxptime` and candidate extensions such as `network-cost`, adds
 * `a=extmap-allow-mixed`, and some malformed input makes it throw a `TypeError` (an `a=fmtp` for a
 * payload type without `a=rtpmap`). This model keeps every line in order with its text, so
 * parse → serialise returns a capture byte for byte, and edits touch only what they name.
 *
 * Parsing is bounded before any other work ({@link SdpLimits}): the text length is checked first
 * (O(1)), then lines are scanned once while counting media sections and candidates, and the scan
 * stops at the first limit exceeded. A 774 KiB offer with 15,000 candidates is refused by the size
 * check alone; the counts protect against many small lines under the size limit.
 */
import { InvalidSdpError } from './invalid-sdp-error.js';

/** Limits checked by {@link SessionDescription.parse}. */
export interface SdpLimits {
  /** Largest SDP accepted, bytes (UTF-8). Meta's offers are ~1 KiB, a browser's ~5 KiB. */
  maxBytes: number;
  /** Most lines accepted. */
  maxLines: number;
  /** Longest line accepted, characters. */
  maxLineLength: number;
  /** Most `m=` sections accepted. */
  maxMediaSections: number;
  /** Most `a=candidate` lines accepted (all sections together). */
  maxCandidates: number;
}

/** Default limits: 64 KiB, 1024 lines of at most 4096 characters, 8 m= sections, 32 candidates. */
export const DEFAULT_SDP_LIMITS: Readonly<SdpLimits> = Object.freeze({
  maxBytes: 64 * 1024,
  maxLines: 1024,
  maxLineLength: 4096,
  maxMediaSections: 8,
  maxCandidates: 32,
});

/** One `<type>=<value>` line. `line` is its 1-based number in the parsed text (0 for added lines). */
export interface SdpLine {
  type: string;
  value: string;
  line: number;
}

/** A line the parser skipped instead of refusing the whole description. */
export interface SdpParseWarning {
  line: number;
  message: string;
}

/** An `a=` line split into name and value (`undefined` for flags such as `a=rtcp-mux`). */
export interface SdpAttribute {
  name: string;
  value: string | undefined;
  line: number;
}

/** An `a=rtpmap` codec with its `a=fmtp` parameters. */
export interface SdpCodec {
  payloadType: number;
  /** Encoding name as written (case kept), e.g. `opus`, `telephone-event`. */
  name: string;
  clockRate: number;
  channels: number | undefined;
  /** Parsed `a=fmtp` parameters (keys lower-cased). */
  fmtp: Record<string, string>;
}

/** An `a=fingerprint` value. */
export interface SdpFingerprint {
  /** Lower-cased hash name, e.g. `sha-256`. */
  algorithm: string;
  /** Colon-separated hex as written. */
  value: string;
}

/** An `a=candidate` value (RFC 8839 §5.1). */
export interface IceCandidate {
  foundation: string;
  component: number;
  /** Lower-cased, e.g. `udp`. */
  transport: string;
  priority: number;
  address: string;
  port: number;
  /** `host`, `srflx`, `prflx` or `relay`. */
  type: string;
  /** The text after `a=candidate:`. */
  raw: string;
}

export type DtlsSetup = 'active' | 'passive' | 'actpass' | 'holdconn';
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

/** Parses a non-negative decimal integer; `undefined` for anything else. */
function parseUint(s: string | undefined): number | undefined {
  if (s === undefined) return undefined;
  const t = s.trim();
  if (t === '' || t.length > 15) return undefined;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Number(t);
}

/** Parses an `a=candidate` value; `undefined` when it is not one. */
export function parseIceCandidate(value: string): IceCandidate | undefined {
  const parts = value.trim().split(/\s+/);
  if (parts.length < 8 || parts[6] !== 'typ') return undefined;
  const component = parseUint(parts[1]);
  const priority = parseUint(parts[3]);
  const port = parseUint(parts[5]);
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

function splitAttribute(line: SdpLine): SdpAttribute {
  const colon = line.value.indexOf(':');
  return colon === -1
    ? { name: line.value, value: undefined, line: line.line }
    : { name: line.value.slice(0, colon), value: line.value.slice(colon + 1), line: line.line };
}

/** Lines shared by the session part and media sections, with attribute accessors and edits. */
export class SdpSection {
  /** The section's lines in order (for a media section: after the `m=` line). */
  lines: SdpLine[];

  constructor(lines: SdpLine[] = []) {
    this.lines = lines;
  }

  /** All `a=` lines, split into name and value. */
  attributes(): SdpAttribute[] {
    const out: SdpAttribute[] = [];
    for (const l of this.lines) if (l.type === 'a') out.push(splitAttribute(l));
    return out;
  }

  /** Values of the `a=<name>:<value>` lines, in order. */
  attributeValues(name: string): string[] {
    const prefix = `${name}:`;
    const out: string[] = [];
    for (const l of this.lines) {
      if (l.type === 'a' && l.value.startsWith(prefix)) out.push(l.value.slice(prefix.length));
    }
    return out;
  }

  /** Value of the first `a=<name>:` line. */
  attribute(name: string): string | undefined {
    return this.attributeValues(name)[0];
  }

  /** True if an `a=<name>` flag or `a=<name>:...` line is present. */
  hasAttribute(name: string): boolean {
    const prefix = `${name}:`;
    return this.lines.some(
      (l) => l.type === 'a' && (l.value === name || l.value.startsWith(prefix)),
    );
  }

  /** Removes the `a=` lines for which `match` is true; returns how many were removed. */
  removeAttributes(match: (attribute: SdpAttribute) => boolean): number {
    const before = this.lines.length;
    this.lines = this.lines.filter((l) => l.type !== 'a' || !match(splitAttribute(l)));
    return before - this.lines.length;
  }

  /** Removes every `a=<name>` / `a=<name>:...` line; returns how many were removed. */
  removeAttribute(name: string): number {
    return this.removeAttributes((a) => a.name === name);
  }

  /**
   * Adds `a=<name>[:value]` after the last line matching `after` (or at the end when none does or
   * no predicate is given).
   */
  addAttribute(name: string, value?: string, after?: (attribute: SdpAttribute) => boolean): void {
    const line: SdpLine = {
      type: 'a',
      value: value === undefined ? name : `${name}:${value}`,
      line: 0,
    };
    let index = -1;
    if (after) {
      for (let i = this.lines.length - 1; i >= 0; i--) {
        const l = this.lines[i] as SdpLine;
        if (l.type === 'a' && after(splitAttribute(l))) {
          index = i;
          break;
        }
      }
    }
    if (index === -1) this.lines.push(line);
    else this.lines.splice(index + 1, 0, line);
  }

  /** Replaces the value of every `a=<name>:` line; adds one at the end if there is none. */
  setAttribute(name: string, value: string): void {
    const prefix = `${name}:`;
    let found = false;
    for (const l of this.lines) {
      if (l.type === 'a' && l.value.startsWith(prefix)) {
        l.value = `${prefix}${value}`;
        found = true;
      }
    }
    if (!found) this.addAttribute(name, value);
  }

  /** `a=fingerprint` values of this section. */
  fingerprints(): SdpFingerprint[] {
    return this.attributeValues('fingerprint').map((v) => {
      const [algorithm = '', value = ''] = v.trim().split(/\s+/);
      return { algorithm: algorithm.toLowerCase(), value };
    });
  }

  /** `a=setup` of this section, if it is one of the four RFC 4145 values. */
  setup(): DtlsSetup | undefined {
    const v = this.attribute('setup')?.trim().toLowerCase();
    return v === 'active' || v === 'passive' || v === 'actpass' || v === 'holdconn' ? v : undefined;
  }

  /** The direction flag of this section, if any. */
  direction(): MediaDirection | undefined {
    return DIRECTIONS.find((d) => this.lines.some((l) => l.type === 'a' && l.value === d));
  }

  /** Address of this section's `c=` line, if any. */
  connectionAddress(): string | undefined {
    const c = this.lines.find((l) => l.type === 'c');
    return c?.value.trim().split(/\s+/)[2];
  }
}

/** One `m=` section. */
export class MediaSection extends SdpSection {
  /** `audio`, `video`, `application`, ... */
  kind: string;
  port: number;
  /** The `/<n>` port count of the m= line, if written. */
  portCount: number | undefined;
  protocol: string;
  /** Payload types / formats from the m= line, in order. */
  formats: string[];
  /** 1-based line number of the m= line (0 when built, not parsed). */
  readonly mLineNumber: number;
  /** The m= value as parsed, re-used verbatim while kind/port/protocol/formats are unchanged. */
  private readonly parsedMLine: string | undefined;
  private readonly parsedKey: string | undefined;

  constructor(
    fields: {
      kind: string;
      port: number;
      portCount?: number | undefined;
      protocol: string;
      formats: string[];
    },
    lines: SdpLine[] = [],
    parsed?: { value: string; line: number },
  ) {
    super(lines);
    this.kind = fields.kind;
    this.port = fields.port;
    this.portCount = fields.portCount;
    this.protocol = fields.protocol;
    this.formats = fields.formats;
    this.mLineNumber = parsed?.line ?? 0;
    this.parsedMLine = parsed?.value;
    this.parsedKey = parsed ? this.key() : undefined;
  }

  /** The `m=` line value as it serialises. */
  get mLine(): string {
    if (this.parsedMLine !== undefined && this.parsedKey === this.key()) return this.parsedMLine;
    const port = this.portCount === undefined ? `${this.port}` : `${this.port}/${this.portCount}`;
    return [this.kind, port, this.protocol, ...this.formats].join(' ');
  }

  private key(): string {
    return `${this.kind}|${this.port}|${this.portCount ?? ''}|${this.protocol}|${this.formats.join(' ')}`;
  }

  /** Codecs listed on the m= line that have an `a=rtpmap`, with their `a=fmtp` parameters. */
  codecs(): SdpCodec[] {
    const fmtp = new Map<number, Record<string, string>>();
    for (const value of this.attributeValues('fmtp')) {
      const space = value.indexOf(' ');
      const pt = parseUint(space === -1 ? value : value.slice(0, space));
      if (pt === undefined) continue;
      const params: Record<string, string> = {};
      for (const pair of (space === -1 ? '' : value.slice(space + 1)).split(';')) {
        const eq = pair.indexOf('=');
        const k = (eq === -1 ? pair : pair.slice(0, eq)).trim().toLowerCase();
        if (k !== '') params[k] = eq === -1 ? '' : pair.slice(eq + 1).trim();
      }
      fmtp.set(pt, params);
    }
    const listed = new Set(this.formats);
    const codecs: SdpCodec[] = [];
    for (const value of this.attributeValues('rtpmap')) {
      const trimmed = value.trim();
      const space = trimmed.indexOf(' ');
      if (space === -1) continue;
      const payloadType = parseUint(trimmed.slice(0, space));
      const [name, clock, channels] = trimmed
        .slice(space + 1)
        .trim()
        .split('/');
      const clockRate = parseUint(clock);
      if (payloadType === undefined || !name || clockRate === undefined) continue;
      if (!listed.has(String(payloadType))) continue;
      codecs.push({
        payloadType,
        name,
        clockRate,
        channels: parseUint(channels),
        fmtp: fmtp.get(payloadType) ?? {},
      });
    }
    return codecs;
  }

  /** Parsed `a=candidate` lines (unparseable ones are left out; see {@link removeAttributes}). */
  candidates(): IceCandidate[] {
    const out: IceCandidate[] = [];
    for (const value of this.attributeValues('candidate')) {
      const c = parseIceCandidate(value);
      if (c) out.push(c);
    }
    return out;
  }

  /** Distinct SSRCs of the `a=ssrc` lines, in order. */
  ssrcs(): number[] {
    const out: number[] = [];
    for (const value of this.attributeValues('ssrc')) {
      const ssrc = parseUint(value.split(' ')[0]);
      if (ssrc !== undefined && !out.includes(ssrc)) out.push(ssrc);
    }
    return out;
  }

  /** Removes a payload type from the m= line with its rtpmap, fmtp and rtcp-fb lines. */
  removeFormat(format: string): void {
    this.formats = this.formats.filter((f) => f !== format);
    this.removeAttributes(
      (a) =>
        (a.name === 'rtpmap' || a.name === 'fmtp' || a.name === 'rtcp-fb') &&
        (a.value ?? '').trimStart().split(' ')[0] === format,
    );
  }
}

/** A parsed (or built) session description. */
export class SessionDescription {
  /** Session-level lines (before the first m=), `v=` first. */
  readonly session: SdpSection;
  readonly media: MediaSection[];
  /** How lines were terminated in the parsed text (serialising always writes CRLF). */
  readonly lineEndings: 'crlf' | 'lf' | 'mixed' | 'none';
  /** Lines the parser skipped. */
  readonly warnings: readonly SdpParseWarning[];

  constructor(
    session: SdpSection,
    media: MediaSection[],
    lineEndings: SessionDescription['lineEndings'] = 'crlf',
    warnings: SdpParseWarning[] = [],
  ) {
    this.session = session;
    this.media = media;
    this.lineEndings = lineEndings;
    this.warnings = warnings;
  }

  /**
   * Parses SDP text. Lines that are not `<letter>=<value>` and lines before `v=0` are skipped and
   * listed in {@link warnings}; trailing whitespace is trimmed.
   * @throws InvalidSdpError `not_sdp` for non-text, empty text or text without `v=0`; a limit
   * reason when `limits` are exceeded; `malformed` for an m= line that is not
   * `<media> <port> <proto> <fmt>...`.
   */
  static parse(
    text: unknown,
    limits: Readonly<SdpLimits> = DEFAULT_SDP_LIMITS,
  ): SessionDescription {
    if (typeof text !== 'string' || text.trim() === '') {
      throw new InvalidSdpError('not_sdp', 'the SDP is empty or not text');
    }
    // A string's length never exceeds its UTF-8 size, so this O(1) check refuses huge input
    // before anything walks it.
    if (text.length > limits.maxBytes || Buffer.byteLength(text, 'utf8') > limits.maxBytes) {
      throw new InvalidSdpError(
        'too_large',
        `the SDP is ${Buffer.byteLength(text, 'utf8')} bytes; at most ${limits.maxBytes} are accepted (a WhatsApp call's SDP is about 1 KiB)`,
      );
    }
    const warnings: SdpParseWarning[] = [];
    const session = new SdpSection();
    const media: MediaSection[] = [];
    let crlf = 0;
    let lf = 0;
    let lineNo = 0;
    let candidates = 0;
    let sawVersion = false;
    let start = 0;
    while (start <= text.length) {
      let end = text.indexOf('\n', start);
      let crlfEnded = false;
      if (end === -1) end = text.length;
      else if (end > start && text.charCodeAt(end - 1) === 13) crlfEnded = true;
      const raw = text.slice(start, crlfEnded ? end - 1 : end);
      const terminated = end < text.length;
      start = end + 1;
      lineNo++;
      if (terminated) {
        if (crlfEnded) crlf++;
        else lf++;
      }
      if (lineNo > limits.maxLines) {
        throw new InvalidSdpError(
          'too_many_lines',
          `the SDP has more than ${limits.maxLines} lines; a WhatsApp call's SDP has about 30`,
        );
      }
      if (raw.length > limits.maxLineLength) {
        throw new InvalidSdpError(
          'line_too_long',
          `SDP line ${lineNo} is ${raw.length} characters long; at most ${limits.maxLineLength} are accepted`,
        );
      }
      const trimmed = raw.trimEnd();
      if (trimmed === '') continue;
      if (trimmed.length < 2 || trimmed[1] !== '=' || !/^[a-z]$/.test(trimmed[0] ?? '')) {
        warnings.push({
          line: lineNo,
          message: `line is not <type>=<value>: ${truncate(trimmed)}`,
        });
        continue;
      }
      const line: SdpLine = { type: trimmed[0] as string, value: trimmed.slice(2), line: lineNo };
      if (!sawVersion) {
        if (line.type !== 'v' || line.value !== '0') {
          warnings.push({ line: lineNo, message: `ignored line before v=0: ${truncate(trimmed)}` });
          continue;
        }
        sawVersion = true;
      }
      if (line.type === 'm') {
        if (media.length >= limits.maxMediaSections) {
          throw new InvalidSdpError(
            'too_many_media',
            `the SDP has more than ${limits.maxMediaSections} m= sections`,
          );
        }
        media.push(parseMediaLine(line));
        continue;
      }
      if (line.type === 'a' && line.value.startsWith('candidate:')) {
        if (++candidates > limits.maxCandidates) {
          throw new InvalidSdpError(
            'too_many_candidates',
            `the SDP has more than ${limits.maxCandidates} ICE candidates; Meta sends two`,
          );
        }
      }
      const current = media[media.length - 1];
      (current ?? session).lines.push(line);
    }
    if (!sawVersion)
      throw new InvalidSdpError('not_sdp', 'the text has no "v=0" line: it is not SDP');
    const lineEndings =
      crlf === 0 && lf === 0 ? 'none' : crlf > 0 && lf > 0 ? 'mixed' : crlf > 0 ? 'crlf' : 'lf';
    return new SessionDescription(session, media, lineEndings, warnings);
  }

  /** The first `m=audio` section. */
  audio(): MediaSection | undefined {
    return this.media.find((m) => m.kind === 'audio');
  }

  /** Attribute of a media section, falling back to the session level (RFC 8866 §5.13). */
  attributeOf(section: MediaSection, name: string): string | undefined {
    return section.attribute(name) ?? this.session.attribute(name);
  }

  /** Fingerprints that apply to `section`: its own, or the session's when it has none. */
  fingerprintsOf(section: MediaSection): SdpFingerprint[] {
    const own = section.fingerprints();
    return own.length > 0 ? own : this.session.fingerprints();
  }

  /** `a=setup` that applies to `section`. */
  setupOf(section: MediaSection): DtlsSetup | undefined {
    return section.setup() ?? this.session.setup();
  }

  /** Direction that applies to `section`: its own, the session's, or `sendrecv` (the default). */
  directionOf(section: MediaSection): MediaDirection {
    return section.direction() ?? this.session.direction() ?? 'sendrecv';
  }

  /** `c=` address that applies to `section`. */
  connectionAddressOf(section: MediaSection): string | undefined {
    return section.connectionAddress() ?? this.session.connectionAddress();
  }

  /** Every section (session first) for edits that apply wherever an attribute appears. */
  sections(): SdpSection[] {
    return [this.session, ...this.media];
  }

  /** Serialises with CRLF after every line, including the last (RFC 8866 §5). */
  toString(): string {
    let out = '';
    for (const l of this.session.lines) out += `${l.type}=${l.value}\r\n`;
    for (const m of this.media) {
      out += `m=${m.mLine}\r\n`;
      for (const l of m.lines) out += `${l.type}=${l.value}\r\n`;
    }
    return out;
  }
}

const MEDIA_LINE = /^(\S+) (\d+)(?:\/(\d+))? (\S+)(?: (.*))?$/;

function parseMediaLine(line: SdpLine): MediaSection {
  const m = MEDIA_LINE.exec(line.value);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) {
    throw new InvalidSdpError(
      'malformed',
      `SDP line ${line.line} is not an m= line of the form "m=<media> <port> <proto> <fmt> ...": ${truncate(line.value)}`,
    );
  }
  return new MediaSection(
    {
      kind: m[1] as string,
      port,
      portCount: m[3] === undefined ? undefined : Number(m[3]),
      protocol: m[4] as string,
      formats: m[5] ? m[5].split(' ').filter((f) => f !== '') : [],
    },
    [],
    { value: line.value, line: line.line },
  );
}

function truncate(s: string): string {
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}
