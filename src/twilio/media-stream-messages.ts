import { z } from 'zod';

/**
 * The messages of Twilio Media Streams on the WebSocket (bidirectional `<Connect><Stream>`), as
 * Twilio documents them ("Media Streams - WebSocket Messages"). Every frame Twilio sends is one
 * JSON text message with an `event` discriminator; the service sends `media`, `mark` and `clear`
 * back. Inbound frames are validated field by field; unknown extra fields are ignored (Twilio may
 * add some), missing or mistyped ones make the frame malformed.
 */

/** Audio format of every Twilio media stream: G.711 μ-law, 8 kHz, mono. */
export const TWILIO_MEDIA_FORMAT = {
  encoding: 'audio/x-mulaw',
  sampleRate: 8000,
  channels: 1,
} as const;

/**
 * Twilio SIDs are two letters and 32 hex digits (`CA…`, `MZ…`, `AC…`); Twilio-compatible
 * providers use UUIDs. Both fit: a bounded run of word characters and dashes.
 */
const sid = z
  .string()
  .min(1)
  .max(64)
  .regex(/^[A-Za-z0-9_-]+$/, 'expected an id of letters, digits, "_" or "-"');

/** Twilio sends counters as decimal strings ("1", "2", …). */
const decimalString = z.string().regex(/^\d{1,15}$/, 'expected a decimal number as a string');

/** Standard base64 (Twilio's payload encoding), at most 64 KiB of text. */
const base64 = z
  .string()
  .max(65_536)
  .regex(/^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/, 'expected base64');

const connectedFrame = z.object({
  event: z.literal('connected'),
  protocol: z.string().max(64),
  version: z.string().max(32),
});

const startFrame = z.object({
  event: z.literal('start'),
  sequenceNumber: decimalString,
  streamSid: sid,
  start: z.object({
    streamSid: sid,
    accountSid: sid,
    callSid: sid,
    tracks: z
      .array(z.enum(['inbound', 'outbound']))
      .min(1)
      .max(2),
    customParameters: z.record(z.string().max(256), z.string().max(4096)).default({}),
    mediaFormat: z.object({
      encoding: z.string().max(64),
      sampleRate: z.number().int().positive(),
      channels: z.number().int().positive(),
    }),
  }),
});

const mediaFrame = z.object({
  event: z.literal('media'),
  sequenceNumber: decimalString,
  streamSid: sid,
  media: z.object({
    /** `inbound`: the caller. `outbound`: what the call plays (only with `both_tracks`). */
    track: z.enum(['inbound', 'outbound']),
    chunk: decimalString,
    /** Milliseconds since the stream started. */
    timestamp: decimalString,
    payload: base64,
  }),
});

const dtmfFrame = z.object({
  event: z.literal('dtmf'),
  sequenceNumber: decimalString,
  streamSid: sid,
  dtmf: z.object({
    track: z.string().max(32),
    digit: z.string().regex(/^[0-9*#A-Da-d]$/, 'expected one DTMF digit'),
  }),
});

const markFrame = z.object({
  event: z.literal('mark'),
  sequenceNumber: decimalString,
  streamSid: sid,
  mark: z.object({ name: z.string().min(1).max(256) }),
});

const stopFrame = z.object({
  event: z.literal('stop'),
  sequenceNumber: decimalString,
  streamSid: sid,
  stop: z.object({ accountSid: sid, callSid: sid }),
});

const inboundFrame = z.discriminatedUnion('event', [
  connectedFrame,
  startFrame,
  mediaFrame,
  dtmfFrame,
  markFrame,
  stopFrame,
]);

export type InboundFrame = z.infer<typeof inboundFrame>;
export type StartFrame = z.infer<typeof startFrame>;
export type MediaFrame = z.infer<typeof mediaFrame>;

export type ParsedFrame = { ok: true; frame: InboundFrame } | { ok: false; problem: string };

/**
 * Parse one WebSocket message from Twilio. Never throws: a binary frame, invalid JSON, an unknown
 * event or a bad field comes back as a short `problem` naming the field (never echoing values, so
 * nothing a caller sent ends up in logs).
 */
export function parseInboundFrame(data: string | Buffer, isBinary: boolean): ParsedFrame {
  if (isBinary) return { ok: false, problem: 'binary frame (Twilio sends JSON text)' };
  let json: unknown;
  try {
    json = JSON.parse(typeof data === 'string' ? data : data.toString('utf8'));
  } catch {
    return { ok: false, problem: 'not JSON' };
  }
  const result = inboundFrame.safeParse(json);
  if (result.success) return { ok: true, frame: result.data };
  const issue = result.error.issues[0];
  if (issue?.code === 'invalid_union_discriminator') {
    return { ok: false, problem: 'unknown or missing "event"' };
  }
  const where = issue?.path.join('.') || '(frame)';
  return { ok: false, problem: `${where}: ${issue?.message ?? 'invalid'}` };
}

/** `media` to Twilio: μ-law 8 kHz audio to play to the caller. */
export function mediaMessage(streamSid: string, mulaw: Uint8Array): string {
  const payload = Buffer.from(mulaw.buffer, mulaw.byteOffset, mulaw.byteLength).toString('base64');
  return JSON.stringify({ event: 'media', streamSid, media: { payload } });
}

/** `mark` to Twilio: echoed back once the audio sent before it has been played. */
export function markMessage(streamSid: string, name: string): string {
  return JSON.stringify({ event: 'mark', streamSid, mark: { name } });
}

/** `clear` to Twilio: drop the audio it has queued; pending marks are echoed at once. */
export function clearMessage(streamSid: string): string {
  return JSON.stringify({ event: 'clear', streamSid });
}
