/**
 * The user's end of a simulated call: what talks and listens behind Meta's relay. Meta's side of
 * the call (relay peer, webhooks, timers) is the same whoever the user is, so the business cannot
 * tell the ends apart: an in-process {@link SimulatedPhone} or a {@link BrowserPhone} that
 * bridges a person's browser.
 */
import type { RelayRtpPacket } from './meta-relay-peer.js';

/** A packet from the business, with what it carries (payload types are the relay leg's). */
export interface BusinessRtpPacket extends RelayRtpPacket {
  codec: 'opus' | 'telephone-event';
}

/** One RTP payload for the relay leg, on the call's single SSRC. */
export interface UserRtpPacket {
  payloadType: number;
  sequenceNumber: number;
  /** RTP timestamp (Opus clock, 48 kHz). */
  timestamp: number;
  marker: boolean;
  payload: Uint8Array;
}

/** What a picked-up call lends its phone: the way to the business. */
export interface UserPhoneLink {
  /** Payload type of Opus on the relay leg (the business's numbering). */
  readonly opusPayloadType: number;
  /** Payload type of telephone-event/8000 on the relay leg. */
  readonly telephoneEventPayloadType: number;
  /**
   * Whether user media may flow now: false until the business's first RTP packet when the
   * simulator is set to wait for it (a conservative reading of reference §8.1).
   */
  readonly mayTransmit: boolean;
  /** Sends a packet to the business; dropped while `mayTransmit` is false. */
  send(packet: UserRtpPacket): void;
}

export type UserPhoneKind = 'simulated' | 'browser';

export interface UserPhone {
  readonly kind: UserPhoneKind;
  /** For snapshots, e.g. "tone 440 Hz" or "browser". */
  readonly description: string;
  /** The call was picked up: the phone starts sending through `link`. Called once. */
  start(link: UserPhoneLink): void;
  /**
   * A packet from the business (Opus or telephone-event) while the user can hear the call: once
   * picked up, and already after a pre-accept (media may flow before the accept).
   */
  hear(packet: BusinessRtpPacket): void;
  /** The call ended: stop and release everything. Idempotent. */
  close(): Promise<void>;
}
