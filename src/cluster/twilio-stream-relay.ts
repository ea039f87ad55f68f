/**
 * Twilio media streams in a cluster: a Twilio call lives on the instance that issued its connect
 * URL, but the stream may reach any instance behind the same address (a load balancer, or the
 * children of `serve --processes`, which share the public port). The issuing instance announces
 * each URL's session in Redis until the URL expires; an instance that gets a stream it does not
 * know looks the session up and relays the connection, unread, to the holder's internal listener
 * (which serves the same endpoint). A relayed connection is marked and never relayed again.
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { Logger } from '../log/index.js';
import { RELAYED_HEADER, relayTargetOf, relayUpgrade } from '../server/upgrade-relay.js';
import type { MediaStreamRelay } from '../twilio/media-stream-endpoint.js';
import type { InstanceInfo } from './instance-registry.js';

export interface TwilioStreamRelayOptions {
  /** The cluster: who holds a connect-URL session. */
  node: { twilioStreamHolder(sessionId: string): Promise<InstanceInfo | undefined> };
  logger: Logger;
  /** Optional - counts relays by outcome: handed over (`relayed`) or not (`unreachable`). */
  onRelay?: (outcome: 'relayed' | 'unreachable') => void;
}

/** The relay a `MediaStreamEndpoint` uses for streams of calls held by another instance. */
export function twilioStreamRelay(options: TwilioStreamRelayOptions): MediaStreamRelay {
  const { node, logger } = options;
  return async (
    sessionId: string,
    req: IncomingMessage,
    socket: Duplex,
    head: Buffer,
  ): Promise<boolean> => {
    // Relayed here already: the holder said it holds the call, so this is a race with its end.
    if (req.headers[RELAYED_HEADER] !== undefined) return false;
    const holder = await node.twilioStreamHolder(sessionId);
    const target = holder && relayTargetOf(holder.url);
    if (!holder || !target) return false;
    logger.info(
      { sessionId, instance: holder.id },
      'media stream relayed to the instance holding it',
    );
    relayUpgrade(req, socket, head, target, {
      onConnect: () => options.onRelay?.('relayed'),
      onError: (err) => {
        options.onRelay?.('unreachable');
        logger.warn(
          { sessionId, instance: holder.id, reason: err.message },
          'media stream relay: the holding instance is unreachable',
        );
      },
    });
    return true;
  };
}
