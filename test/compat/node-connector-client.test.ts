import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RoomAgentDispatch, SessionDescription } from '@livekit/protocol';
import { ConnectorClient, TwirpError } from 'livekit-server-sdk';
import {
  ConnectTwilioCallRequest_TwilioCallDirection as TwilioCallDirection,
  type DisconnectWhatsAppCallRequest_DisconnectReason,
} from '@livekit/protocol';
import {
  signTestToken,
  startConnectorTestServer,
  TEST_API_KEY,
  TEST_API_SECRET,
  type ConnectorTestServer,
} from '../integration/connector/support/connector-test-server.js';
import {
  assertScenarioOutcomes,
  loadScenario,
  type ScenarioStep,
  type StepOutcome,
} from './support/connector-compat-scenario.js';

/** Node SDK (livekit-server-sdk) ConnectorClient: JSON Twirp client. */

type Json = Record<string, unknown>;

function durationSeconds(value: unknown): number | undefined {
  return typeof value === 'string' ? Number(value.replace(/s$/, '')) : undefined;
}

async function runStep(client: ConnectorClient, step: ScenarioStep): Promise<Json> {
  const r = step.request as Json & {
    sdp?: Json;
    agents?: Json[];
    participantAttributes?: Record<string, string>;
  };
  const sdp = r.sdp ? SessionDescription.fromJson(r.sdp as never) : undefined;
  const agents = r.agents?.map((a) => RoomAgentDispatch.fromJson(a as never));
  switch (step.method) {
    case 'DialWhatsAppCall':
      return (
        await client.dialWhatsAppCall({
          whatsappPhoneNumberId: (r.whatsappPhoneNumberId as string) ?? '',
          whatsappToPhoneNumber: (r.whatsappToPhoneNumber as string) ?? '',
          whatsappApiKey: (r.whatsappApiKey as string) ?? '',
          whatsappCloudApiVersion: (r.whatsappCloudApiVersion as string) ?? '',
          whatsappBizOpaqueCallbackData: r.whatsappBizOpaqueCallbackData as string | undefined,
          roomName: r.roomName as string | undefined,
          agents,
          participantIdentity: r.participantIdentity as string | undefined,
          participantName: r.participantName as string | undefined,
          participantMetadata: r.participantMetadata as string | undefined,
          participantAttributes: r.participantAttributes,
          destinationCountry: r.destinationCountry as string | undefined,
          ringingTimeout: durationSeconds(r.ringingTimeout),
        })
      ).toJson() as Json;
    case 'AcceptWhatsAppCall':
      return (
        await client.acceptWhatsAppCall({
          whatsappPhoneNumberId: (r.whatsappPhoneNumberId as string) ?? '',
          whatsappApiKey: (r.whatsappApiKey as string) ?? '',
          whatsappCloudApiVersion: (r.whatsappCloudApiVersion as string) ?? '',
          whatsappCallId: (r.whatsappCallId as string) ?? '',
          whatsappBizOpaqueCallbackData: r.whatsappBizOpaqueCallbackData as string | undefined,
          sdp: sdp ?? new SessionDescription(),
          roomName: r.roomName as string | undefined,
          agents,
          participantIdentity: r.participantIdentity as string | undefined,
          participantName: r.participantName as string | undefined,
          participantMetadata: r.participantMetadata as string | undefined,
          participantAttributes: r.participantAttributes,
          destinationCountry: r.destinationCountry as string | undefined,
          waitUntilAnswered: r.waitUntilAnswered as boolean | undefined,
        })
      ).toJson() as Json;
    case 'ConnectWhatsAppCall':
      return (
        await client.connectWhatsAppCall(
          (r.whatsappCallId as string) ?? '',
          sdp ?? new SessionDescription(),
        )
      ).toJson() as Json;
    case 'DisconnectWhatsAppCall': {
      const reason = r.disconnectReason === 'USER_INITIATED' ? 1 : 0;
      return (
        await client.disconnectWhatsAppCall(
          (r.whatsappCallId as string) ?? '',
          (r.whatsappApiKey as string) ?? '',
          reason as DisconnectWhatsAppCallRequest_DisconnectReason,
        )
      ).toJson() as Json;
    }
    case 'ConnectTwilioCall':
      return (
        await client.connectTwilioCall({
          twilioCallDirection:
            r.twilioCallDirection === 'TWILIO_CALL_DIRECTION_OUTBOUND'
              ? TwilioCallDirection.OUTBOUND
              : TwilioCallDirection.INBOUND,
          roomName: (r.roomName as string) ?? '',
          agents,
          participantIdentity: r.participantIdentity as string | undefined,
          participantName: r.participantName as string | undefined,
          participantMetadata: r.participantMetadata as string | undefined,
          participantAttributes: r.participantAttributes,
          destinationCountry: r.destinationCountry as string | undefined,
        })
      ).toJson() as Json;
  }
}

let srv: ConnectorTestServer;
before(async () => {
  srv = await startConnectorTestServer();
});
after(async () => {
  await srv.close();
});

describe('Node livekit-server-sdk ConnectorClient against the connector', () => {
  it('runs the whole scenario: every field arrives, every answer and error surfaces', async () => {
    const steps = loadScenario();
    const clients = {
      key: new ConnectorClient(srv.url, TEST_API_KEY, TEST_API_SECRET),
      wrong_secret: new ConnectorClient(srv.url, TEST_API_KEY, `wrong-${TEST_API_SECRET}`),
      expired_token: new ConnectorClient(srv.url, undefined, undefined, {
        token: await signTestToken({ expiresIn: -3600 }),
      }),
    };
    const outcomes: StepOutcome[] = [];
    for (const step of steps) {
      try {
        outcomes.push({ name: step.name, ok: await runStep(clients[step.auth], step) });
      } catch (err) {
        assert.ok(err instanceof TwirpError, `${step.name}: ${String(err)}`);
        outcomes.push({
          name: step.name,
          error: {
            code: String(err.code),
            msg: err.message,
            meta: (err.metadata as Record<string, string> | undefined) ?? null,
            status: err.status,
          },
        });
      }
    }
    // The Node SDK cannot send ringing_timeout on Accept; the server default fills it.
    assertScenarioOutcomes(steps, outcomes, srv, { acceptOmitsRingingTimeout: true });
    const upstream = outcomes.find((o) => o.name === 'dial_upstream_failure');
    assert.equal(upstream?.error?.status, 400);
  });
});
