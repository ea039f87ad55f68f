/**
 * Turns a browser's offer into the shape of the offer Meta's relay sends for a user-initiated call
 * (reference node-media-stack.md §2 and whatsapp-calling-api.md §8.2, the same shape as the
 * simulator's `buildMetaOffer`): `a=ice-lite`, one BUNDLEd m-line with mid `audio`, Opus 111 with
 * Meta's 16 kHz fmtp, telephone-event/8000 on 126, ptime 20, loopback UDP host candidates only.
 * The transport facts (ICE credentials, fingerprint, candidates, SSRC) stay the browser's, so the
 * browser really terminates the call the rewritten offer describes.
 *
 * The browser keeps its own local description (libwebrtc would reject a changed mid there), so the
 * business's answer, written for mid `audio`, is mapped back to the browser's mid before it is
 * applied.
 */
import { META_OPUS_FMTP } from '../../../src/simulator/index.js';

/** The mid Meta uses for its single audio m-line. */
export const WHATSAPP_MID = 'audio';

export interface WhatsAppShapedOffer {
  /** The offer as WhatsApp would send it, to hand to AcceptWhatsAppCall. */
  sdp: string;
  /** The mid of the audio m-line in the browser's own local description. */
  browserMid: string;
}

interface BrowserAudioSection {
  ufrag: string;
  pwd: string;
  fingerprint: string;
  mid: string;
  ssrc: string | undefined;
  candidates: string[];
}

function readBrowserAudio(sdp: string, address: string): BrowserAudioSection {
  const lines = sdp.split(/\r?\n/).filter((l) => l.length > 0);
  const audioStart = lines.findIndex((l) => l.startsWith('m=audio '));
  if (audioStart < 0) throw new Error('browser offer has no audio m-line');
  const nextMedia = lines.findIndex((l, i) => i > audioStart && l.startsWith('m='));
  const session = lines.slice(0, audioStart);
  const audio = lines.slice(audioStart, nextMedia < 0 ? undefined : nextMedia);
  const value = (name: string): string | undefined => {
    const prefix = `a=${name}:`;
    return (audio.find((l) => l.startsWith(prefix)) ?? session.find((l) => l.startsWith(prefix)))
      ?.slice(prefix.length)
      .trim();
  };
  const required = (name: string): string => {
    const v = value(name);
    if (v === undefined) throw new Error(`browser offer lacks a=${name}`);
    return v;
  };
  const rtpmap = (pt: number): string | undefined =>
    audio.find((l) => l.startsWith(`a=rtpmap:${pt} `))?.slice(`a=rtpmap:${pt} `.length);
  if (rtpmap(111)?.toLowerCase() !== 'opus/48000/2') {
    throw new Error('browser offer does not carry opus/48000/2 on payload type 111');
  }
  if (rtpmap(126)?.toLowerCase() !== 'telephone-event/8000') {
    throw new Error('browser offer does not carry telephone-event/8000 on payload type 126');
  }
  const fingerprint = required('fingerprint');
  if (!/^sha-256 /i.test(fingerprint)) throw new Error('browser fingerprint is not sha-256');
  // Component 1, UDP, on the loopback address: Meta offers UDP host candidates only.
  const candidates = audio.filter((l) => {
    const parts = l.split(' ');
    return (
      l.startsWith('a=candidate:') &&
      parts[1] === '1' &&
      parts[2]?.toLowerCase() === 'udp' &&
      parts[4] === address
    );
  });
  if (candidates.length === 0) {
    throw new Error(
      `browser gathered no UDP candidate on ${address} (is --allow-loopback-in-peer-connection set?)`,
    );
  }
  return {
    ufrag: required('ice-ufrag'),
    pwd: required('ice-pwd'),
    fingerprint,
    mid: required('mid'),
    ssrc: /^a=ssrc:(\d+) /.exec(audio.find((l) => l.startsWith('a=ssrc:')) ?? '')?.[1],
    candidates,
  };
}

/** Rewrites a browser's complete (gathered) offer into WhatsApp's shape; see the module comment. */
export function toWhatsAppOffer(browserSdp: string, address = '127.0.0.1'): WhatsAppShapedOffer {
  const t = readBrowserAudio(browserSdp, address);
  const port = t.candidates[0]!.split(' ')[5] ?? '9';
  const stream = 'whatsapp-user-stream';
  const sdp = [
    'v=0',
    `o=- ${Date.now()} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    `a=group:BUNDLE ${WHATSAPP_MID}`,
    `a=msid-semantic: WMS ${stream}`,
    'a=ice-lite',
    `m=audio ${port} UDP/TLS/RTP/SAVPF 111 126`,
    `c=IN IP4 ${address}`,
    'a=rtcp:9 IN IP4 0.0.0.0',
    ...t.candidates,
    `a=ice-ufrag:${t.ufrag}`,
    `a=ice-pwd:${t.pwd}`,
    `a=fingerprint:${t.fingerprint}`,
    'a=setup:actpass',
    `a=mid:${WHATSAPP_MID}`,
    'a=sendrecv',
    `a=msid:${stream} WhatsAppTrack1`,
    'a=rtcp-mux',
    'a=rtpmap:111 opus/48000/2',
    'a=rtcp-fb:111 transport-cc',
    `a=fmtp:111 ${META_OPUS_FMTP}`,
    'a=rtpmap:126 telephone-event/8000',
    'a=maxptime:20',
    'a=ptime:20',
    ...(t.ssrc ? [`a=ssrc:${t.ssrc} cname:WhatsAppAudioStream1`] : []),
    '',
  ].join('\r\n');
  return { sdp, browserMid: t.mid };
}

/** Maps an answer written for WhatsApp's mid back to the browser's own mid. */
export function toBrowserAnswer(answerSdp: string, browserMid: string): string {
  return answerSdp
    .split(/\r?\n/)
    .map((line) => {
      if (line === `a=mid:${WHATSAPP_MID}`) return `a=mid:${browserMid}`;
      if (line.startsWith('a=group:BUNDLE ')) {
        const mids = line.slice('a=group:BUNDLE '.length).split(' ');
        return `a=group:BUNDLE ${mids.map((m) => (m === WHATSAPP_MID ? browserMid : m)).join(' ')}`;
      }
      return line;
    })
    .join('\r\n');
}
