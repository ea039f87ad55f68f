import {
  DisconnectReason,
  ParticipantInfo_Kind,
  ParticipantInfo_State,
  TrackType,
  type ParticipantInfo,
  type ParticipantInfo_KindDetail,
  type TrackInfo,
} from '@livekit/protocol';

/** What changed in a participant update (only the fields that did). */
export interface ParticipantChanges {
  name?: { previous: string };
  metadata?: { previous: string };
  /** Keys whose value changed, was added, or was removed (new value '' then). */
  attributes?: { changed: Record<string, string> };
}

/**
 * Another participant of the room as the server last described it (ParticipantInfo). Its
 * fields change in place on updates; the participant emits `participantUpdated` with the diff.
 */
export class RemoteParticipant {
  readonly sid: string;
  readonly identity: string;
  #info: ParticipantInfo;

  /** @internal */
  constructor(info: ParticipantInfo) {
    this.sid = info.sid;
    this.identity = info.identity;
    this.#info = info;
  }

  get name(): string {
    return this.#info.name;
  }

  get metadata(): string {
    return this.#info.metadata;
  }

  /** Current attributes (a copy). */
  get attributes(): Record<string, string> {
    return { ...this.#info.attributes };
  }

  get kind(): ParticipantInfo_Kind {
    return this.#info.kind;
  }

  get kindDetails(): readonly ParticipantInfo_KindDetail[] {
    return this.#info.kindDetails;
  }

  get state(): ParticipantInfo_State {
    return this.#info.state;
  }

  /** Why the participant left, once it has (UNKNOWN_REASON before). */
  get disconnectReason(): DisconnectReason {
    return this.#info.disconnectReason;
  }

  /** Published audio tracks as the server lists them. */
  get audioTracks(): readonly TrackInfo[] {
    return this.#info.tracks.filter((track) => track.type === TrackType.AUDIO);
  }

  /** @internal The published track with this sid, if any. */
  track(sid: string): TrackInfo | undefined {
    return this.#info.tracks.find((track) => track.sid === sid);
  }

  /** Whether `info` is newer than what we hold (the server numbers each participant's updates). */
  isOlderThan(info: ParticipantInfo): boolean {
    return info.version === 0 || info.version > this.#info.version;
  }

  /** @internal Take a newer ParticipantInfo; returns what changed. */
  update(info: ParticipantInfo): ParticipantChanges {
    const previous = this.#info;
    this.#info = info;
    const changes: ParticipantChanges = {};
    if (previous.name !== info.name) changes.name = { previous: previous.name };
    if (previous.metadata !== info.metadata) changes.metadata = { previous: previous.metadata };
    const changed: Record<string, string> = {};
    for (const [key, value] of Object.entries(info.attributes)) {
      if (previous.attributes[key] !== value) changed[key] = value;
    }
    for (const key of Object.keys(previous.attributes)) {
      if (!(key in info.attributes)) changed[key] = '';
    }
    if (Object.keys(changed).length > 0) changes.attributes = { changed };
    return changes;
  }
}

/** Whether an update says the participant is gone. */
export function hasLeft(info: ParticipantInfo): boolean {
  return info.state === ParticipantInfo_State.DISCONNECTED;
}

export { ParticipantInfo_Kind as ParticipantKind, DisconnectReason };
