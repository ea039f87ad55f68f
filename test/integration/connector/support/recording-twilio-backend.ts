import { ConnectTwilioCallResponse, type ConnectTwilioCallRequest } from '@livekit/protocol';
import type { RequestContext, TwilioCallBackend } from '../../../../src/connector/index.js';

/** One ConnectTwilioCall that passed the Twirp layer, as the Twilio backend received it. */
export interface RecordedTwilioCall {
  request: ConnectTwilioCallRequest;
  ctx: RequestContext;
}

/**
 * Test double for the Twilio backend behind `ConnectTwilioCall`: records every validated request
 * and answers a connect URL on the origin the client addressed, ending in the room name. The real
 * backend (src/twilio) is tested end to end in test/integration/twilio.
 */
export class RecordingTwilioBackend implements TwilioCallBackend {
  readonly calls: RecordedTwilioCall[] = [];

  async connectTwilioCall(
    request: ConnectTwilioCallRequest,
    ctx: RequestContext,
  ): Promise<ConnectTwilioCallResponse> {
    this.calls.push({ request, ctx });
    const origin = (ctx.clientOrigin ?? 'http://unknown').replace(/^http/, 'ws');
    return new ConnectTwilioCallResponse({
      connectUrl: `${origin}/twilio/stream/${request.roomName}`,
    });
  }
}
