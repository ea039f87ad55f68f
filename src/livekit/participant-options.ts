import type { Logger } from '../log/index.js';
import { LiveKitError } from './livekit-errors.js';
import type { SignalSocketFactory } from './signal-socket.js';

/** A STUN or TURN server for the peer connection(s). */
export interface IceServer {
  /** Required - `stun:host:port`, `turn:host:port?transport=udp` ... */
  urls: string[];
  /** Optional - TURN user name. */
  username?: string | undefined;
  /** Optional - TURN credential. */
  credential?: string | undefined;
}

/** How the participant's peer connections find their network path. */
export interface IceOptions {
  /**
   * Optional - the host addresses to gather ICE candidates on, and nothing else: e.g.
   * `['127.0.0.1']` when livekit-server runs on the same host (loopback is never gathered
   * otherwise). With exactly one IPv4 address the UDP sockets are also bound to it.
   * Default: every non-loopback interface address.
   */
  hostAddresses?: string[] | undefined;
  /** Optional - UDP port range `[min, max]` (min < max) for ICE sockets. Default: any free port. */
  portRange?: [number, number] | undefined;
  /**
   * Optional - STUN/TURN servers for the peer connection(s), or `'from-server'` for those
   * livekit-server lists in its join response. Default: none, host candidates only. That suits
   * a connector next to livekit-server (same host or network); set it when NAT separates them.
   * Why not the server's list by default: werift finishes gathering on every STUN/TURN server
   * (up to 5 s for one that does not answer) before an offer is ready, which delays every join;
   * and in single-PC mode the first offer travels inside the join request, before that list is
   * known (LiveKit's Go SDK gathers host candidates only there too).
   */
  servers?: IceServer[] | 'from-server' | undefined;
}

/** Timeouts, all in milliseconds. */
export interface TimeoutOptions {
  /**
   * Optional - WebSocket upgrade plus the first signal message (join or reconnect response).
   * Default 10 000 ms.
   */
  signalConnectMs?: number | undefined;
  /** Optional - peer connection(s) connected after the join response. Default 15 000 ms. */
  peerConnectMs?: number | undefined;
  /** Optional - AddTrackRequest answered by TrackPublishedResponse. Default 10 000 ms. */
  publishMs?: number | undefined;
  /**
   * Optional - the whole recovery after the connection is lost (resume attempts, then full
   * reconnects, with their back-off). When it runs out the participant emits `disconnected`
   * and closes everything. Default 20 000 ms.
   */
  reconnectMs?: number | undefined;
}

/**
 * How the media path to livekit-server is set up.
 * - `auto`: single peer connection (publisher offer in the join request, `/rtc/v1`), falling back
 *   to two peer connections when the server answers `/rtc/v1` with 404 (servers before v1.9.2).
 * - `single`: single peer connection only; a 404 is an error.
 * - `dual`: two peer connections (publisher + subscriber) on `/rtc`, as older clients do.
 */
export type PeerConnectionMode = 'auto' | 'single' | 'dual';

/** Options of {@link LiveKitParticipant.join}. */
export interface JoinOptions {
  /** Required - livekit-server URL: `ws(s)://host:port` (or `http(s)://`, converted). */
  url: string;
  /** Required - access token (JWT) with `roomJoin` for the room; it names the room. */
  token: string;
  /**
   * Optional - subscribe to every remote audio track as it is published. Video is never
   * subscribed: the join asks for `auto_subscribe=0` and audio is subscribed explicitly, so the
   * server never asks for video media sections. Default true.
   */
  autoSubscribeAudio?: boolean | undefined;
  /** Optional - see {@link PeerConnectionMode}. Default `auto`. */
  peerConnectionMode?: PeerConnectionMode | undefined;
  /** Optional - ICE settings. */
  ice?: IceOptions | undefined;
  /** Optional - timeouts (ms). */
  timeouts?: TimeoutOptions | undefined;
  /** Optional - logger; a child with `component: 'livekit'` is used. */
  logger?: Logger | undefined;
  /** Optional - opens the signal WebSocket; tests put a fake or a proxy here. Default: `ws`. */
  signalSocketFactory?: SignalSocketFactory | undefined;
}

/** {@link TimeoutOptions} with every default applied. */
export type ResolvedTimeouts = Required<{ [K in keyof TimeoutOptions]: number }>;

export const DEFAULT_TIMEOUTS: ResolvedTimeouts = {
  signalConnectMs: 10_000,
  peerConnectMs: 15_000,
  publishMs: 10_000,
  reconnectMs: 20_000,
};

/** Apply the defaults; invalid values (not finite, not positive) are a caller error. */
export function resolveTimeouts(timeouts: TimeoutOptions | undefined): ResolvedTimeouts {
  const out = { ...DEFAULT_TIMEOUTS };
  for (const key of Object.keys(out) as (keyof ResolvedTimeouts)[]) {
    const value = timeouts?.[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value <= 0) {
      throw new LiveKitError(
        'invalid-argument',
        `timeouts.${key} must be a positive number of milliseconds`,
      );
    }
    out[key] = value;
  }
  return out;
}
