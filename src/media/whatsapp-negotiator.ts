/**
 * The negotiation stage of the WhatsApp media leg: a werift peer connection and the SDP offer /
 * answer with Meta, with Meta's rules applied through the one SDP module (src/whatsapp/meta-sdp.ts).
 *
 * Meta is an ICE-lite agent and always controlled; we are ICE-full and controlling (werift takes
 * the controlling role by itself when the remote SDP says `a=ice-lite`, RFC 8445 §6.1.1). We answer
 * Meta's offers with `a=setup:active` (DTLS client, what Meta asks for); when we offer
 * (business-initiated calls) we offer `actpass` like browsers do and accept whatever role Meta's
 * answer picks (an `actpass` answer, seen from Meta, is read as `active`). One audio m-line, Opus
 * 48000/2 with 20 ms frames, RFC 4733 telephone-event/8000, one SSRC.
 *
 * Remote candidates outside the allowed networks ({@link CandidateNetworkPolicy}) are removed
 * from Meta's SDP before werift sees it, and werift's pair filter refuses them too, so our ICE
 * agent never sends them a STUN check.
 */
import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCRtpTransceiver,
} from 'werift';

import { ConnectorError } from '../errors/connector-error.js';
import type { Logger } from '../log/logger.js';
import { normaliseOurSdp, readMetaSdp } from '../whatsapp/meta-sdp.js';
import { CandidateNetworkPolicy, isLoopbackAddress } from './candidate-networks.js';
import { startDtlsPromptly } from './dtls-prompt-start.js';
import type { OpusPcmRate } from './opus-codec.js';
import { InvalidSdpError } from './sdp/invalid-sdp-error.js';

/** Opus payload type we offer (Meta uses 111). In answers the offer's payload type is used. */
const OPUS_PAYLOAD_TYPE = 111;
/** telephone-event payload type we offer (Meta uses 126). */
const TELEPHONE_EVENT_PAYLOAD_TYPE = 126;

export interface WhatsAppNegotiatorOptions {
  /** Required - PCM rate of the leg: 16000 announces Meta's 16 kHz Opus constraints. */
  sampleRate: OpusPcmRate;
  /** Optional - extra host addresses for ICE gathering (werift skips loopback). Default none. */
  iceAdditionalHostAddresses?: string[];
  /** Optional - use only these local addresses for ICE. Default: all interfaces. */
  iceAllowedAddresses?: string[];
  /** Optional - UDP port range for ICE candidates, [min, max]. Default: any port. */
  icePortRange?: [number, number];
  /** Optional - STUN/TURN servers. Default none (host candidates only). */
  iceServers?: { urls: string; username?: string; credential?: string }[];
  /** Optional - gather IPv6 candidates. Default true. */
  iceUseIpv6?: boolean;
  /** Optional - how long createOffer/createAnswer wait for ICE gathering, ms. Default 5000. */
  iceGatheringTimeoutMs?: number;
  /**
   * Optional - networks whose remote candidates may be contacted (CIDRs, addresses, `public`).
   * Default: public addresses, plus loopback when our own ICE addresses include loopback.
   */
  allowedCandidateNetworks?: string[];
  /** Required - logger for negotiation events. */
  logger: Logger;
}

/** Payload types both sides agreed on. */
export interface NegotiatedPayloadTypes {
  opus: number;
  /** telephone-event/8000, or undefined when the remote did not negotiate it. */
  telephoneEvent: number | undefined;
  /** The remote's Opus fmtp `maxaveragebitrate`, bits/s, when it sets one. */
  maxAverageBitrate: number | undefined;
}

export class WhatsAppNegotiator {
  readonly pc: RTCPeerConnection;
  readonly candidatePolicy: CandidateNetworkPolicy;
  private readonly options: WhatsAppNegotiatorOptions;
  private readonly log: Logger;
  private readonly track = new MediaStreamTrack({ kind: 'audio' });
  private audioTransceiver: RTCRtpTransceiver | undefined;
  private negotiatedTypes: NegotiatedPayloadTypes | undefined;
  private remoteMaxAverageBitrate: number | undefined;
  private disallowed = 0;
  private closed = false;

  /** @throws ConnectorError `invalid_argument` for a malformed allowed-network entry. */
  constructor(options: WhatsAppNegotiatorOptions) {
    this.options = options;
    this.log = options.logger;
    const localAddresses = [
      ...(options.iceAllowedAddresses ?? []),
      ...(options.iceAdditionalHostAddresses ?? []),
    ];
    this.candidatePolicy = new CandidateNetworkPolicy({
      networks: options.allowedCandidateNetworks,
      // A leg that runs on loopback (development, tests) talks to a peer on loopback.
      allowLoopback:
        options.allowedCandidateNetworks === undefined && localAddresses.some(isLoopbackAddress),
    });
    const opus = new RTCRtpCodecParameters({
      mimeType: 'audio/opus',
      clockRate: 48000,
      channels: 2,
      payloadType: OPUS_PAYLOAD_TYPE,
      parameters:
        options.sampleRate === 16000
          ? 'maxplaybackrate=16000;minptime=20;sprop-maxcapturerate=16000;useinbandfec=1'
          : 'minptime=20;useinbandfec=1',
    });
    // werift drops telephone-event from negotiation unless it is a configured codec.
    const telephoneEvent = new RTCRtpCodecParameters({
      mimeType: 'audio/telephone-event',
      clockRate: 8000,
      payloadType: TELEPHONE_EVENT_PAYLOAD_TYPE,
    });
    const allowedLocal = options.iceAllowedAddresses
      ? new Set(options.iceAllowedAddresses)
      : undefined;
    const policy = this.candidatePolicy;
    this.pc = new RTCPeerConnection({
      codecs: { audio: [opus, telephoneEvent], video: [] },
      headerExtensions: { audio: [], video: [] },
      bundlePolicy: 'max-bundle',
      // Allowed addresses are also gathered: loopback is otherwise skipped by werift.
      iceAdditionalHostAddresses: [
        ...new Set([...(options.iceAdditionalHostAddresses ?? []), ...(allowedLocal ?? [])]),
      ],
      icePortRange: options.icePortRange,
      iceServers: options.iceServers ?? [],
      iceUseIpv6: options.iceUseIpv6 ?? true,
      // Checks only from our allowed interfaces, and only to allowed remote networks.
      iceFilterCandidatePair: (pair) =>
        (allowedLocal === undefined || allowedLocal.has(pair.localCandidate.host)) &&
        policy.allows(pair.remoteCandidate.host),
    });
  }

  /** The audio transceiver once descriptions are being applied. */
  get transceiver(): RTCRtpTransceiver | undefined {
    return this.audioTransceiver;
  }

  /** Negotiated payload types once the remote description is applied. */
  get payloadTypes(): NegotiatedPayloadTypes | undefined {
    return this.negotiatedTypes;
  }

  /** Remote candidates dropped because they are outside the allowed networks. */
  get disallowedCandidates(): number {
    return this.disallowed;
  }

  /** Our ICE role once descriptions are applied (expected: `controlling`). */
  get iceRole(): 'controlling' | 'controlled' | undefined {
    const ice = this.pc.iceTransports[0];
    if (!ice) return undefined;
    return ice.connection.iceControlling ? 'controlling' : 'controlled';
  }

  /** Our DTLS role once negotiated (`client` when answering Meta). */
  get dtlsRole(): 'client' | 'server' | undefined {
    const role = this.pc.dtlsTransports[0]?.role;
    return role === 'client' || role === 'server' ? role : undefined;
  }

  /** Business-initiated call: a complete SDP offer (all candidates gathered, no trickle). */
  async createOffer(): Promise<string> {
    this.audioTransceiver = this.pc.addTransceiver(this.track, { direction: 'sendrecv' });
    const offer = await this.pc.createOffer();
    this.disableImplicitStun();
    await this.pc.setLocalDescription(offer);
    return this.completeLocalSdp('offer');
  }

  /**
   * Applies Meta's answer to our offer.
   * @throws InvalidSdpError if the SDP is unusable (limits, no Opus, no allowed candidate, ...).
   */
  async setRemoteAnswer(sdp: string): Promise<void> {
    const reading = readMetaSdp(sdp, {
      type: 'answer',
      localSetup: 'actpass',
      allowCandidate: (address) => this.candidatePolicy.allows(address),
      allowedNetworksDescription: this.candidatePolicy.description,
    });
    this.logDisallowed(reading.disallowedCandidates);
    this.remoteMaxAverageBitrate = maxAverageBitrateOf(reading.summary?.opus?.fmtp);
    await this.applyRemote('answer', reading.sdp);
    this.adoptNegotiatedCodecs();
  }

  /**
   * User-initiated call: answers Meta's offer. Returns a complete SDP answer (`a=setup:active`).
   * @throws InvalidSdpError if the offer is unusable.
   */
  async createAnswer(remoteOffer: string): Promise<string> {
    const reading = readMetaSdp(remoteOffer, {
      type: 'offer',
      allowCandidate: (address) => this.candidatePolicy.allows(address),
      allowedNetworksDescription: this.candidatePolicy.description,
    });
    this.logDisallowed(reading.disallowedCandidates);
    this.remoteMaxAverageBitrate = maxAverageBitrateOf(reading.summary?.opus?.fmtp);
    await this.applyRemote('offer', reading.sdp);
    const transceiver = this.pc.getTransceivers().find((t) => t.kind === 'audio');
    if (!transceiver) {
      throw new InvalidSdpError('unusable', 'the SDP offer has no usable audio m-line');
    }
    this.audioTransceiver = transceiver;
    transceiver.setDirection('sendrecv');
    transceiver.sender.registerTrack(this.track);
    const answer = await this.pc.createAnswer();
    this.disableImplicitStun();
    await this.pc.setLocalDescription(answer);
    this.adoptNegotiatedCodecs();
    return this.completeLocalSdp('answer', reading.sdp);
  }

  /** Closes the peer connection. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pc.close();
  }

  private async applyRemote(type: 'offer' | 'answer', sdp: string): Promise<void> {
    try {
      await this.pc.setRemoteDescription({ type, sdp });
      startDtlsPromptly(this.pc);
    } catch (err) {
      throw new InvalidSdpError(
        'unusable',
        `the SDP ${type} was refused by the WebRTC stack: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }

  private logDisallowed(count: number): void {
    this.disallowed += count;
    if (count > 0) {
      this.log.warn(
        { candidates: count, allowedNetworks: this.candidatePolicy.description },
        'remote ICE candidates outside the allowed networks dropped (not contacted)',
      );
    }
  }

  /**
   * werift's ICE agent falls back to stun.l.google.com when no STUN server is configured. A
   * self-hosted service must not contact a third party unasked (and Meta accepts peer-reflexive
   * candidates anyway), so without configured `iceServers` the fallback is removed before
   * gathering starts (gathering begins in setLocalDescription).
   */
  private disableImplicitStun(): void {
    if ((this.options.iceServers ?? []).length > 0) return;
    for (const transport of this.pc.iceTransports) {
      transport.connection.stunServer = undefined;
    }
  }

  /** Waits for gathering to finish, then returns the local SDP in the shape Meta requires. */
  private async completeLocalSdp(role: 'offer' | 'answer', remoteOffer?: string): Promise<string> {
    const timeoutMs = this.options.iceGatheringTimeoutMs ?? 5000;
    if (this.pc.iceGatheringState !== 'complete') {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          sub.unSubscribe();
          this.log.warn({ timeoutMs }, 'ICE gathering did not complete; using candidates so far');
          resolve();
        }, timeoutMs);
        const sub = this.pc.iceGatheringStateChange.subscribe((state) => {
          if (state === 'complete') {
            clearTimeout(timer);
            sub.unSubscribe();
            resolve();
          }
        });
      });
    }
    if (this.closed) throw new ConnectorError('canceled', 'media leg closed during negotiation');
    const sdp = this.pc.localDescription?.sdp;
    if (!sdp) throw new ConnectorError('internal', 'no local description');
    const allowed = this.options.iceAllowedAddresses;
    const result = normaliseOurSdp(sdp, {
      role,
      ...(remoteOffer !== undefined ? { remoteOffer } : {}),
      ...(allowed ? { keepCandidate: (address: string) => allowed.includes(address) } : {}),
    });
    if (!result.ok) {
      // Meta gives the final word (it answers 138008 for SDP it refuses); log what we know.
      this.log.warn(
        { problems: result.problems.filter((p) => p.severity === 'error').map((p) => p.message) },
        'our SDP does not meet every rule Meta is known to enforce',
      );
    }
    return result.sdp;
  }

  /** Reads the negotiated payload types and makes sure the sender's codec is Opus. */
  private adoptNegotiatedCodecs(): void {
    const transceiver = this.audioTransceiver;
    if (!transceiver) return;
    const codecs = transceiver.codecs;
    const opus = codecs.find((c) => c.name.toLowerCase() === 'opus' && c.clockRate === 48000);
    if (!opus) throw new InvalidSdpError('unusable', 'the remote SDP does not offer Opus/48000');
    const dtmf = codecs.find(
      (c) => c.name.toLowerCase() === 'telephone-event' && c.clockRate === 8000,
    );
    if (transceiver.sender.codec?.payloadType !== opus.payloadType) {
      transceiver.sender.codec = opus;
    }
    this.negotiatedTypes = {
      opus: opus.payloadType,
      telephoneEvent: dtmf?.payloadType,
      maxAverageBitrate: this.remoteMaxAverageBitrate,
    };
    this.log.debug(this.negotiatedTypes, 'codecs negotiated');
  }
}

function maxAverageBitrateOf(fmtp: Record<string, string> | undefined): number | undefined {
  const value = Number(fmtp?.maxaveragebitrate);
  // RFC 7587 §6.1: values outside 6000-510000 should be ignored.
  return Number.isInteger(value) && value >= 6000 && value <= 510_000 ? value : undefined;
}
