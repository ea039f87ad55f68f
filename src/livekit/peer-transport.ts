import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RTCDataChannel,
  type RTCDtlsTransport,
  type RTCPeerConnectionConfig,
  type RTCRtpTransceiver,
} from 'werift';
import type { Logger } from '../log/index.js';
import { SafeEventEmitter, logListenerErrors } from '../util/typed-emitter.js';
import { LiveKitError } from './livekit-errors.js';
import type { IceOptions, IceServer } from './participant-options.js';

/** Opus as LiveKit clients offer it (PT 111, in-band FEC on); the only codec we negotiate. */
export const OPUS_PAYLOAD_TYPE = 111;
const OPUS_FMTP = 'minptime=10;useinbandfec=1';

/** The ICE candidate JSON that LiveKit's TrickleRequest carries (RTCIceCandidateInit). */
export interface IceCandidateInit {
  candidate: string;
  sdpMid?: string | null | undefined;
  sdpMLineIndex?: number | null | undefined;
  usernameFragment?: string | null | undefined;
}

/** werift's connection state. */
export type PeerConnectionState =
  'new' | 'connecting' | 'connected' | 'disconnected' | 'failed' | 'closed';

export interface PeerTransportEvents {
  /** A local ICE candidate to trickle to the server. */
  iceCandidate: [candidate: IceCandidateInit];
  connectionState: [state: PeerConnectionState];
  /** A remote track appeared on a transceiver (werift fires again when the SSRC changes). */
  track: [transceiver: RTCRtpTransceiver, track: MediaStreamTrack];
  /** A data channel opened by the server (subscriber side in two-PC mode). */
  dataChannel: [channel: RTCDataChannel];
}

export interface PeerTransportOptions {
  /** For logs: which LiveKit transport this is. */
  target: 'publisher' | 'subscriber';
  ice: IceOptions;
  iceServers: IceServer[];
  logger?: Logger | undefined;
}

/** An offer or answer with the id LiveKit's SessionDescription carries. */
export interface NumberedDescription {
  sdp: string;
  id: number;
}

/**
 * One werift peer connection to livekit-server: configuration (Opus only, one bundled
 * transport, chosen host addresses), offer/answer bookkeeping with LiveKit's offer ids, and the
 * events the engine needs. It knows nothing of signalling.
 */
export class PeerTransport extends SafeEventEmitter<PeerTransportEvents> {
  readonly pc: RTCPeerConnection;
  readonly target: 'publisher' | 'subscriber';
  #offerId = 0;
  /** An offer is out and its answer not applied yet. */
  #awaitingAnswer = false;
  /** Another negotiation was asked for while one was in flight. */
  #renegotiate: { iceRestart: boolean } | undefined;
  #closed = false;
  /**
   * Remote descriptions and candidates are applied one after the other, in arrival order:
   * werift's methods are async, and an end-of-candidates overtaking a candidate still being
   * added makes it give up on an empty check list ("ICE negotiation failed").
   */
  #remoteOps: Promise<unknown> = Promise.resolve();
  /** Candidates that came before any remote description. */
  #earlyCandidates: (IceCandidateInit | undefined)[] = [];
  readonly #watchedDtls = new WeakSet<RTCDtlsTransport>();
  readonly #log: Logger | undefined;

  constructor(options: PeerTransportOptions) {
    super(logListenerErrors(options.logger, 'peer transport listener threw'));
    this.target = options.target;
    this.#log = options.logger;
    this.pc = new RTCPeerConnection(peerConfig(options.ice, options.iceServers));
    this.pc.onIceCandidate.subscribe((candidate) => {
      if (!candidate || this.#closed) return;
      const json = candidate.toJSON();
      this.emit('iceCandidate', {
        candidate: json.candidate ?? '',
        sdpMid: json.sdpMid,
        sdpMLineIndex: json.sdpMLineIndex,
        usernameFragment: json.usernameFragment,
      });
    });
    this.pc.iceConnectionStateChange.subscribe((state) => {
      this.#log?.debug({ target: this.target, state }, 'ICE connection state');
    });
    this.pc.connectionStateChange.subscribe((state) => {
      if (this.#closed && state !== 'closed') return;
      this.emit('connectionState', state);
    });
    this.pc.onTransceiverAdded.subscribe((transceiver) => this.#watchTransceiver(transceiver));
    this.pc.onRemoteTransceiverAdded.subscribe((transceiver) =>
      this.#watchTransceiver(transceiver),
    );
    this.pc.onDataChannel.subscribe((channel) => this.emit('dataChannel', channel));
  }

  get connectionState(): PeerConnectionState {
    return this.pc.connectionState;
  }

  get closed(): boolean {
    return this.#closed;
  }

  /** Id of the latest offer we created (0 before the first). */
  get latestOfferId(): number {
    return this.#offerId;
  }

  /** A sendonly audio transceiver for a local track. */
  addSendTransceiver(): RTCRtpTransceiver {
    return this.pc.addTransceiver(new MediaStreamTrack({ kind: 'audio' }), {
      direction: 'sendonly',
    });
  }

  /** Empty recvonly audio sections the server can fill with subscribed tracks (single PC). */
  addRecvTransceivers(count: number): void {
    for (let i = 0; i < count; i++) this.pc.addTransceiver('audio', { direction: 'recvonly' });
  }

  createDataChannel(label: string, options: { ordered: boolean; maxRetransmits?: number }) {
    return this.pc.createDataChannel(label, options);
  }

  /**
   * Create and apply a new offer, or, when an offer is already waiting for its answer, remember
   * to offer again once it is answered (undefined is then returned). LiveKit answers offers in
   * order; overlapping offers would make its answer apply to the wrong one.
   */
  async createOffer(
    options: { iceRestart?: boolean } = {},
  ): Promise<NumberedDescription | undefined> {
    this.#assertOpen();
    if (this.#awaitingAnswer) {
      const iceRestart = (this.#renegotiate?.iceRestart ?? false) || (options.iceRestart ?? false);
      this.#renegotiate = { iceRestart };
      return undefined;
    }
    // Set before the first await: a second caller in between must queue, not offer too.
    this.#awaitingAnswer = true;
    try {
      const offer = await this.pc.createOffer({ iceRestart: options.iceRestart ?? false });
      await this.pc.setLocalDescription(offer);
      this.#catchEarlyDtls();
      this.#assertOpen();
      this.#offerId += 1;
      return { sdp: this.pc.localDescription?.sdp ?? offer.sdp, id: this.#offerId };
    } catch (err) {
      this.#awaitingAnswer = false;
      throw err;
    }
  }

  /**
   * Apply the server's answer to offer `id`. An answer to an older offer is ignored (a newer one
   * is on its way). Returns whether a renegotiation was queued meanwhile and is now due.
   */
  async applyAnswer(
    answer: NumberedDescription,
  ): Promise<{ renegotiate?: { iceRestart: boolean } }> {
    this.#assertOpen();
    if (answer.id !== 0 && answer.id !== this.#offerId) {
      this.#log?.debug({ answerId: answer.id, offerId: this.#offerId }, 'stale answer ignored');
      return {};
    }
    await this.#remote(() => this.#setRemote('answer', answer.sdp));
    this.#awaitingAnswer = false;
    const due = this.#renegotiate;
    this.#renegotiate = undefined;
    return due ? { renegotiate: due } : {};
  }

  /** Answer a server offer (subscriber side in two-PC mode). */
  async answerOffer(offer: NumberedDescription): Promise<NumberedDescription> {
    this.#assertOpen();
    await this.#remote(() => this.#setRemote('offer', offer.sdp));
    const answer = await this.pc.createAnswer();
    await this.pc.setLocalDescription(answer);
    this.#catchEarlyDtls();
    this.#assertOpen();
    return { sdp: this.pc.localDescription?.sdp ?? answer.sdp, id: offer.id };
  }

  /** Add a remote candidate; `undefined` marks the end of the server's candidates. */
  addIceCandidate(candidate: IceCandidateInit | undefined): Promise<void> {
    return this.#remote(async () => {
      if (this.#closed) return;
      if (!this.pc.remoteDescription) {
        this.#earlyCandidates.push(candidate);
        return;
      }
      await this.#applyCandidate(candidate);
    });
  }

  async #applyCandidate(candidate: IceCandidateInit | undefined): Promise<void> {
    try {
      await this.pc.addIceCandidate(candidate ?? null);
    } catch (err) {
      // A candidate for an m-section or ICE generation that is gone is harmless.
      this.#log?.debug({ err, target: this.target }, 'remote ICE candidate not applied');
    }
  }

  async #setRemote(type: 'offer' | 'answer', sdp: string): Promise<void> {
    await this.pc.setRemoteDescription({ type, sdp });
    const early = this.#earlyCandidates.splice(0);
    for (const candidate of early) await this.#applyCandidate(candidate);
  }

  /** Run `op` after the remote operations queued before it. */
  #remote<T>(op: () => Promise<T>): Promise<T> {
    const run = this.#remoteOps.then(op, op);
    this.#remoteOps = run.catch(() => undefined);
    return run;
  }

  /** Local and remote descriptions as they stand (for SyncState on resume). */
  descriptions(): { local?: string | undefined; remote?: string | undefined } {
    return { local: this.pc.localDescription?.sdp, remote: this.pc.remoteDescription?.sdp };
  }

  /** Close the peer connection; idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    try {
      await this.pc.close();
    } catch (err) {
      this.#log?.debug({ err, target: this.target }, 'peer connection close failed');
    }
    this.removeAllListeners();
  }

  /**
   * Keep DTLS records that arrive before werift's DTLS transport listens, and hand them over
   * when it starts. livekit-server (pion) is the DTLS client when we offer: it sends its
   * ClientHello as soon as its side of ICE works, while werift only creates its DTLS server
   * once its own ICE checks complete, a few ms later, and drops the record. pion then resends
   * after 100 ms (LiveKit's DTLS retransmission interval): every publisher connection took
   * ~100 ms longer than the handshake needs. Only records werift would have dropped are kept.
   */
  #catchEarlyDtls(): void {
    for (const dtls of this.pc.dtlsTransports) {
      if (this.#watchedDtls.has(dtls) || dtls.state !== 'new') continue;
      this.#watchedDtls.add(dtls);
      const connection = dtls.iceTransport.connection;
      const early: Buffer[] = [];
      const spy = connection.onData.subscribe((data) => {
        if (dtls.state === 'new' && isDtlsRecord(data) && early.length < MAX_EARLY_DTLS_RECORDS) {
          early.push(data);
        }
      });
      const states = dtls.onStateChange.subscribe((state) => {
        if (state === 'new') return;
        spy.unSubscribe();
        states.unSubscribe();
        if (state !== 'connecting' || early.length === 0 || this.#closed) return;
        const records = early.splice(0);
        // werift announces 'connecting' and then, in the same tick, creates the DTLS endpoint
        // that listens on the ICE connection: hand the records over right after.
        queueMicrotask(() => {
          if (this.#closed || dtls.state !== 'connecting') return;
          this.#log?.debug({ target: this.target, records: records.length }, 'early DTLS replayed');
          for (const record of records) connection.onData.execute(record);
        });
      });
    }
  }

  #watchTransceiver(transceiver: RTCRtpTransceiver): void {
    transceiver.onTrack.subscribe((track) => {
      if (!this.#closed) this.emit('track', transceiver, track);
    });
  }

  #assertOpen(): void {
    if (this.#closed) throw new LiveKitError('closed', `${this.target} peer connection is closed`);
  }
}

/** Early DTLS records kept per transport (a ClientHello and its retransmissions). */
const MAX_EARLY_DTLS_RECORDS = 8;

/** RFC 7983 demultiplexing: a first byte of 20-63 is DTLS. */
function isDtlsRecord(data: Buffer): boolean {
  const first = data[0];
  return first !== undefined && first >= 20 && first <= 63;
}

/** werift configuration from our ICE options. */
export function peerConfig(ice: IceOptions, iceServers: IceServer[]): RTCPeerConnectionConfig {
  const config: RTCPeerConnectionConfig = {
    codecs: {
      audio: [
        new RTCRtpCodecParameters({
          mimeType: 'audio/opus',
          clockRate: 48_000,
          channels: 2,
          payloadType: OPUS_PAYLOAD_TYPE,
          parameters: OPUS_FMTP,
        }),
      ],
      video: [],
    },
    // One transport for all m-sections from the first offer on: werift's default (max-compat)
    // gathers, checks and handshakes one transport per section until the answer bundles them.
    bundlePolicy: 'max-bundle',
    // werift's default is Google's public STUN server; never reach out unless asked to.
    iceServers: iceServers.map((server) => ({
      urls: server.urls,
      ...(server.username === undefined ? {} : { username: server.username }),
      ...(server.credential === undefined ? {} : { credential: server.credential }),
    })),
    iceUseIpv6: true,
    iceUseIpv4: true,
  };
  if (ice.hostAddresses && ice.hostAddresses.length > 0) {
    // Gather exactly these: turning the interface scan off leaves only the additional hosts
    // (werift's interface filter cannot select loopback, which it never scans).
    config.iceUseIpv4 = false;
    config.iceUseIpv6 = false;
    config.iceAdditionalHostAddresses = [...ice.hostAddresses];
    const ipv4 = ice.hostAddresses.filter((address) => /^\d+\.\d+\.\d+\.\d+$/.test(address));
    if (ipv4.length === 1 && ipv4[0] !== undefined && ice.hostAddresses.length === 1) {
      // werift binds every UDP socket to this address (it has one bind address per family).
      config.iceInterfaceAddresses = { udp4: ipv4[0] };
    }
  }
  if (ice.portRange) {
    const [min, max] = ice.portRange;
    if (!(Number.isInteger(min) && Number.isInteger(max) && min > 0 && min < max && max < 65_536)) {
      throw new LiveKitError('invalid-argument', 'ice.portRange must be [min, max] with min < max');
    }
    config.icePortRange = [min, max];
  }
  return config;
}
