import { ParticipantPermission, TrackType } from '@livekit/protocol';
import { RoomServiceClient } from 'livekit-server-sdk';
import { ConnectorError } from '../errors/index.js';

/**
 * Makes a hidden connector participant visible, through livekit-server's API (a participant
 * cannot change its own grants).
 *
 * Changing `hidden` alone is not enough for participants already in the room that subscribe
 * automatically (server-side `autoSubscribe`): livekit-server subscribed them to the hidden
 * participant's track when it was published, their SDK dropped that track because it did not
 * know the participant, and unhiding does not subscribe them again (seen with livekit-server
 * v1.13.5 and rtc-node 1.1.0). Participants that subscribe themselves when a track is announced
 * (LiveKit agents) are unaffected. So the reveal is: unsubscribe everyone present from the
 * connector's audio (they never got it), unhide, subscribe them again; then the same for anyone
 * who joined meanwhile. A participant that chose not to subscribe to anything gets the caller's
 * audio all the same.
 */
export class ParticipantReveal {
  readonly #rooms: RoomServiceClient;

  /** @param url livekit-server URL, ws(s) or http(s) */
  constructor(url: string, apiKey: string, apiSecret: string) {
    this.#rooms = new RoomServiceClient(url.replace(/^ws/, 'http'), apiKey, apiSecret);
  }

  /** Make `identity` visible in `roomName`. Rejects with `unavailable` if livekit-server refuses. */
  async reveal(roomName: string, identity: string): Promise<void> {
    try {
      const participants = await this.#rooms.listParticipants(roomName);
      const self = participants.find((p) => p.identity === identity);
      if (!self) throw new Error('the connector participant is not in the room');
      const tracks = self.tracks.filter((t) => t.type === TrackType.AUDIO).map((t) => t.sid);
      const others = participants.filter((p) => p.identity !== identity).map((p) => p.identity);
      const resubscribe = tracks.length > 0 && others.length > 0;
      // A participant may leave meanwhile: its failure does not matter.
      if (resubscribe) await this.#subscribe(roomName, others, tracks, false);
      await this.#rooms.updateParticipant(roomName, identity, {
        permission: new ParticipantPermission({
          canSubscribe: true,
          canPublish: true,
          canPublishData: true,
          canUpdateMetadata: true,
          hidden: false,
        }),
      });
      if (resubscribe) await this.#subscribe(roomName, others, tracks, true);
      // Whoever joined between the first listing and the unhide was subscribed while the
      // participant was still hidden: give them the same treatment (a participant that joined
      // just after the unhide sees its track dropped and given back, which is harmless).
      const now = await this.#rooms.listParticipants(roomName);
      const late = now
        .map((p) => p.identity)
        .filter((id) => id !== identity && !others.includes(id));
      if (tracks.length > 0 && late.length > 0) {
        await this.#subscribe(roomName, late, tracks, false);
        await this.#subscribe(roomName, late, tracks, true);
      }
    } catch (err) {
      throw new ConnectorError(
        'unavailable',
        'could not make the connector participant visible',
        {},
        { cause: err },
      );
    }
  }

  async #subscribe(
    roomName: string,
    identities: string[],
    trackSids: string[],
    subscribe: boolean,
  ): Promise<void> {
    await Promise.allSettled(
      identities.map((id) => this.#rooms.updateSubscriptions(roomName, id, trackSids, subscribe)),
    );
  }
}
