/**
 * Rewrites the local description of the relay's werift peer into the exact shape Meta's media
 * relay sends (reference §8.2 for user-initiated offers — four real captures agree — and §8.3 for
 * business-initiated answers, where only Meta's documentation sample exists). The transport
 * parameters (ICE credentials, fingerprint, candidate port, SSRC, payload types, DTLS role) are
 * taken from werift so the text stays true to what the peer really does; only the presentation
 * is Meta's.
 */
import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { inspectSdp, sdpAttributeValues, type SdpMediaSection } from './business-sdp-validator.js';

/** Meta's Opus fmtp in user-initiated offers: 16 kHz content, ~20 kbps, in-band FEC. */
export const META_OPUS_FMTP =
  'maxaveragebitrate=20000;maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1';

/** Transport facts read from a werift local description. */
interface RelayTransport {
  ufrag: string;
  pwd: string;
  fingerprint: string;
  setup: string;
  port: number;
  ssrc: number;
  media: SdpMediaSection;
}

function readTransport(weriftSdp: string, relayAddress: string): RelayTransport {
  const inspected = inspectSdp(weriftSdp);
  const media = inspected?.media[0];
  if (!inspected || !media) throw new Error('relay peer produced no media section');
  const one = (name: string): string => {
    const value = sdpAttributeValues(inspected, name, media)[0];
    if (value === undefined) throw new Error(`relay peer SDP lacks a=${name}`);
    return value;
  };
  const candidate = media.attributes
    .filter((a) => a.startsWith('candidate:'))
    .map((a) => a.split(' '))
    .find((parts) => parts[4] === relayAddress && parts[2]?.toLowerCase() === 'udp');
  if (!candidate) throw new Error(`relay peer gathered no UDP candidate on ${relayAddress}`);
  const ssrcLine = media.attributes.find((a) => a.startsWith('ssrc:'));
  return {
    ufrag: one('ice-ufrag'),
    pwd: one('ice-pwd'),
    fingerprint: one('fingerprint'),
    setup: one('setup'),
    port: Number(candidate[5]),
    ssrc: Number(/^ssrc:(\d+)/.exec(ssrcLine ?? '')?.[1] ?? randomInt(1, 2 ** 31)),
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

/**
 * Meta's offer for a user-initiated call: `a=ice-lite`, BUNDLE of `audio`, Opus 111 with the
 * 16 kHz fmtp, telephone-event/8000 on 126, ptime 20, `setup:actpass`, cname
 * `WhatsAppAudioStream1`, msid `WhatsAppTrack1`.
 */
export function buildMetaOffer(weriftSdp: string, relayAddress: string): string {
  const t = readTransport(weriftSdp, relayAddress);
  const stream = randomUUID();
  const ip = ipVersion(relayAddress);
  return [
    'v=0',
    `o=- ${Date.now()} 2 IN IP4 127.0.0.1`,
    's=-',
    't=0 0',
    'a=group:BUNDLE audio',
    `a=msid-semantic: WMS ${stream}`,
    'a=ice-lite',
    `m=audio ${t.port} UDP/TLS/RTP/SAVPF 111 126`,
    `c=IN IP${ip} ${relayAddress}`,
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
    '',
  ].join('\r\n');
}

/**
 * Meta's answer for a business-initiated call, in the shape of Meta's documented sample:
 * `a=ice-lite`, candidates with a trailing `ufrag`, `a=ice-options:trickle`, the DTLS role werift
 * chose (`active` for an `actpass` offer, `passive` for an `active` one), the offer's mid and the
 * codecs werift accepted with the business's payload type numbers.
 */
export function buildMetaAnswer(weriftSdp: string, relayAddress: string): string {
  const t = readTransport(weriftSdp, relayAddress);
  const stream = randomUUID();
  const label = `audio#${randomBytes(8).toString('base64url').slice(0, 11)}`;
  const mid = t.media.attributes.find((a) => a.startsWith('mid:'))?.slice(4) ?? '0';
  const codecLines = t.media.attributes.filter((a) => /^(rtpmap|fmtp|rtcp-fb):/.test(a));
  const extmaps = t.media.attributes.filter((a) => a.startsWith('extmap:'));
  const cname = randomBytes(12).toString('base64').slice(0, 16);
  return [
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
    ...extmaps.map((a) => `a=${a}`),
    'a=sendrecv',
    'a=rtcp-mux',
    ...codecLines.map((a) => `a=${a}`),
    `a=ssrc:${t.ssrc} cname:${cname}`,
    `a=ssrc:${t.ssrc} msid:${stream} ${label}`,
    `a=ssrc:${t.ssrc} mslabel:${stream}`,
    `a=ssrc:${t.ssrc} label:${label}`,
    '',
  ].join('\r\n');
}
