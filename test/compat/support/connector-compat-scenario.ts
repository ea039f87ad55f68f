import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Duration } from '@bufbuild/protobuf';
import {
  AcceptWhatsAppCallRequest,
  ConnectTwilioCallRequest,
  ConnectWhatsAppCallRequest,
  DialWhatsAppCallRequest,
  DisconnectWhatsAppCallRequest,
} from '@livekit/protocol';
import {
  ConnectorRequestValidator,
  acceptParamsOf,
  connectParamsOf,
  dialParamsOf,
  disconnectParamsOf,
  validateConnectTwilioCall,
  type ConnectorMethod,
  type RequestContext,
} from '../../../src/connector/index.js';
import type { ConnectorTestServer } from '../../integration/connector/support/connector-test-server.js';
import {
  UPSTREAM_FAILURE,
  type RecordedOperation,
  type RecordingCalls,
} from '../../integration/connector/support/recording-calls.js';

export const SCENARIO_PATH = fileURLToPath(new URL('../connector-scenario.json', import.meta.url));

export interface ScenarioStep {
  name: string;
  method: ConnectorMethod;
  auth: 'key' | 'wrong_secret' | 'expired_token';
  request: Record<string, unknown>;
}

/** What one SDK reported for one step: the response (proto3 JSON) or the error it surfaced. */
export interface StepOutcome {
  name: string;
  ok?: Record<string, unknown>;
  error?: { code: string; msg: string; meta?: Record<string, string> | null; status?: number };
}

export function loadScenario(): ScenarioStep[] {
  return (JSON.parse(readFileSync(SCENARIO_PATH, 'utf8')) as { steps: ScenarioStep[] }).steps;
}

const requestTypes = {
  DialWhatsAppCall: DialWhatsAppCallRequest,
  AcceptWhatsAppCall: AcceptWhatsAppCallRequest,
  ConnectWhatsAppCall: ConnectWhatsAppCallRequest,
  DisconnectWhatsAppCall: DisconnectWhatsAppCallRequest,
  ConnectTwilioCall: ConnectTwilioCallRequest,
} as const;

/** The WhatsApp methods, which drive the call layer; ConnectTwilioCall goes to the Twilio backend. */
type WhatsAppMethod = Exclude<ConnectorMethod, 'ConnectTwilioCall'>;

/** The call operation each WhatsApp method drives. */
const OPERATION_OF: Record<WhatsAppMethod, RecordedOperation> = {
  DialWhatsAppCall: 'dial',
  AcceptWhatsAppCall: 'accept',
  ConnectWhatsAppCall: 'connect',
  DisconnectWhatsAppCall: 'disconnect',
};

/**
 * The call parameters a scenario request must arrive as: the request the scenario sent,
 * validated and converted the way the Connector edge does (defaults included). `roomName` fills
 * in a generated room name, which cannot be predicted.
 */
function expectedParams(
  method: ConnectorMethod,
  request:
    | DialWhatsAppCallRequest
    | AcceptWhatsAppCallRequest
    | ConnectWhatsAppCallRequest
    | DisconnectWhatsAppCallRequest,
  roomName: string | undefined,
): unknown {
  const validator = new ConnectorRequestValidator();
  const noClientId = { clientRequestId: false } as RequestContext;
  if (request instanceof DialWhatsAppCallRequest) {
    if (!request.roomName && roomName) request.roomName = roomName;
    return dialParamsOf(validator.dial(request), noClientId);
  }
  if (request instanceof AcceptWhatsAppCallRequest) {
    if (!request.roomName && roomName) request.roomName = roomName;
    return acceptParamsOf(validator.accept(request));
  }
  if (request instanceof ConnectWhatsAppCallRequest) {
    return connectParamsOf(validator.connect(request));
  }
  if (request instanceof DisconnectWhatsAppCallRequest) {
    return disconnectParamsOf(validator.disconnect(request));
  }
  throw new Error(`no conversion for ${method}`);
}

type Expected =
  | { ok: (res: Record<string, unknown>) => void; reachesBackend: boolean }
  | { code: string; msg: string | RegExp; meta?: Record<string, string>; reachesBackend: boolean };

const expectations: Record<string, Expected> = {
  dial_full: {
    reachesBackend: true,
    ok: (res) =>
      assert.deepEqual(res, {
        whatsappCallId: 'wacid.compat-room-dial',
        roomName: 'compat-room-dial',
      }),
  },
  dial_minimal: {
    reachesBackend: true,
    ok: (res) => {
      assert.match(String(res.roomName), /^whatsapp-[a-z2-7]{12}$/);
      assert.equal(res.whatsappCallId, `wacid.${String(res.roomName)}`);
    },
  },
  dial_missing_phone_number_id: {
    reachesBackend: false,
    code: 'invalid_argument',
    msg: 'whatsapp phone number id is required',
  },
  dial_unsupported_version: {
    reachesBackend: false,
    code: 'invalid_argument',
    msg: 'whatsapp cloud api version not supported',
  },
  dial_upstream_failure: {
    reachesBackend: true,
    code: 'invalid_argument',
    msg: `whatsapp api call failed: ${UPSTREAM_FAILURE.body.message}`,
    meta: {
      graphStatus: '400',
      graphCode: '138006',
      graphErrorType: 'OAuthException',
      graphErrorDetails: UPSTREAM_FAILURE.body.error_data.details,
      fbtraceId: UPSTREAM_FAILURE.body.fbtrace_id,
    },
  },
  accept_full: {
    reachesBackend: true,
    ok: (res) => assert.deepEqual(res, { roomName: 'compat-room-accept' }),
  },
  accept_wrong_sdp_type: {
    reachesBackend: false,
    code: 'invalid_argument',
    msg: 'incorrect sdp type',
  },
  connect: { reachesBackend: true, ok: (res) => assert.deepEqual(res, {}) },
  connect_unknown_call: { reachesBackend: true, code: 'not_found', msg: 'whatsapp call not found' },
  disconnect_business: { reachesBackend: true, ok: (res) => assert.deepEqual(res, {}) },
  disconnect_user_without_key: { reachesBackend: true, ok: (res) => assert.deepEqual(res, {}) },
  disconnect_business_without_key: {
    reachesBackend: false,
    code: 'invalid_argument',
    msg: 'whatsapp api key is required',
  },
  twilio_full: {
    reachesBackend: true,
    // The double builds the URL on the origin the SDK addressed (its Host header).
    ok: (res) =>
      assert.match(
        String(res.connectUrl),
        /^ws:\/\/127\.0\.0\.1:\d+\/twilio\/stream\/compat-room-twilio$/,
      ),
  },
  twilio_minimal: {
    reachesBackend: true,
    ok: (res) =>
      assert.match(
        String(res.connectUrl),
        /^ws:\/\/127\.0\.0\.1:\d+\/twilio\/stream\/twilio-[a-z2-7]{12}$/,
      ),
  },
  twilio_unknown_country: {
    reachesBackend: false,
    code: 'invalid_argument',
    msg: 'destination country must be an ISO 3166-1 alpha-2 code',
    meta: { destination_country: 'ZZ' },
  },
  dial_wrong_secret: {
    reachesBackend: false,
    code: 'unauthenticated',
    msg: /signature is invalid/,
  },
  connect_expired_token: { reachesBackend: false, code: 'unauthenticated', msg: /expired/ },
};

export interface ScenarioCheckOptions {
  /** The SDK has no way to send `ringing_timeout` on Accept (Node, Rust), so the default applies. */
  acceptOmitsRingingTimeout?: boolean;
  /** The SDK has no way to send `ringing_timeout` on Dial (Rust), so the default applies. */
  dialOmitsRingingTimeout?: boolean;
  /**
   * The SDK bundles a protocol whose RoomAgentDispatch has no `deployment`/`attributes`
   * (Kotlin 0.13.0), so those never reach the wire.
   */
  agentsLackDeploymentAndAttributes?: boolean;
}

/**
 * Check one SDK's run of the scenario: every step surfaced the expected answer or error (code,
 * message, meta), and every request that reached the call layer arrived with exactly the fields
 * the scenario sent, plus the documented defaults.
 */
export function assertScenarioOutcomes(
  steps: ScenarioStep[],
  outcomes: StepOutcome[],
  server: Pick<ConnectorTestServer, 'backend' | 'twilio'>,
  options: ScenarioCheckOptions = {},
): void {
  const backend: RecordingCalls = server.backend;
  assert.deepEqual(
    outcomes.map((o) => o.name),
    steps.map((s) => s.name),
    'one outcome per step, in order',
  );
  const reachingAll = steps.filter((s) => expectations[s.name]?.reachesBackend);
  const reaching = reachingAll.filter(
    (s): s is ScenarioStep & { method: WhatsAppMethod } => s.method !== 'ConnectTwilioCall',
  );
  assert.deepEqual(
    backend.calls.map((c) => c.operation),
    reaching.map((s) => OPERATION_OF[s.method]),
    'requests that reached the call layer',
  );
  assertTwilioRequests(
    reachingAll.filter((s) => s.method === 'ConnectTwilioCall'),
    server.twilio,
    options,
  );

  steps.forEach((step, i) => {
    const outcome = outcomes[i] as StepOutcome;
    const expected = expectations[step.name];
    assert.ok(expected, `expectation for ${step.name}`);
    if ('ok' in expected) {
      assert.equal(outcome.error, undefined, `${step.name}: ${JSON.stringify(outcome.error)}`);
      assert.ok(outcome.ok, `${step.name}: response`);
      expected.ok(outcome.ok);
    } else {
      assert.ok(
        outcome.error,
        `${step.name}: expected an error, got ${JSON.stringify(outcome.ok)}`,
      );
      assert.equal(outcome.error.code, expected.code, step.name);
      if (typeof expected.msg === 'string')
        assert.equal(outcome.error.msg, expected.msg, step.name);
      else assert.match(outcome.error.msg, expected.msg, step.name);
      if (expected.meta) assert.deepEqual(outcome.error.meta, expected.meta, step.name);
      else
        assert.ok(!outcome.error.meta || Object.keys(outcome.error.meta).length === 0, step.name);
    }
  });

  reaching.forEach((step, i) => {
    const recorded = backend.calls[i];
    assert.ok(recorded);
    const sent = requestTypes[step.method].fromJson(step.request as never);
    const got = JSON.parse(JSON.stringify(recorded.params)) as Record<string, unknown>;
    const gotRoom = (got.participant as { roomName?: string } | undefined)?.roomName;
    if (step.name === 'dial_minimal') {
      // The documented defaults: a generated room, an identity from the number, 30 s of ringing.
      assert.match(String(gotRoom), /^whatsapp-[a-z2-7]{12}$/);
      const participant = got.participant as { identity: string };
      assert.equal(participant.identity, 'whatsapp_15550002222');
      assert.equal(got.ringingTimeoutMs, 30_000);
    }
    if (
      (step.name === 'accept_full' && options.acceptOmitsRingingTimeout) ||
      (step.name === 'dial_full' && options.dialOmitsRingingTimeout)
    ) {
      (sent as { ringingTimeout?: Duration }).ringingTimeout = undefined;
    }
    if (options.agentsLackDeploymentAndAttributes && 'agents' in sent) {
      for (const agent of sent.agents) {
        agent.deployment = '';
        agent.attributes = {};
      }
    }
    const want = JSON.parse(JSON.stringify(expectedParams(step.method, sent, gotRoom))) as Record<
      string,
      unknown
    >;
    // The SDKs that send X-Livekit-Request-Id make a Dial idempotent under the caller's key.
    if (typeof got.idempotencyKey === 'string') {
      assert.match(got.idempotencyKey, /^APIcompatKey:/);
      want.idempotencyKey = got.idempotencyKey;
    }
    assert.deepEqual(got, want, `${step.name}: request as the call layer received it`);
    assert.equal(recorded.ctx.origin, 'api');
    assert.ok(recorded.ctx.requester, 'api key id in context');
  });
}

/** Every ConnectTwilioCall that reached the Twilio backend arrived as sent, plus the defaults. */
function assertTwilioRequests(
  steps: ScenarioStep[],
  twilio: ConnectorTestServer['twilio'],
  options: ScenarioCheckOptions,
): void {
  assert.equal(twilio.calls.length, steps.length, 'requests that reached the Twilio backend');
  steps.forEach((step, i) => {
    const recorded = twilio.calls[i];
    assert.ok(recorded);
    const sent = ConnectTwilioCallRequest.fromJson(step.request as never);
    if (options.agentsLackDeploymentAndAttributes) {
      for (const agent of sent.agents) {
        agent.deployment = '';
        agent.attributes = {};
      }
    }
    const got = recorded.request;
    if (step.name === 'twilio_minimal') {
      // The defaults: a generated room and identity (not derived from the caller).
      assert.match(got.roomName, /^twilio-[a-z2-7]{12}$/);
      assert.match(got.participantIdentity, /^twilio_[a-z2-7]{12}$/);
      sent.roomName = got.roomName;
      sent.participantIdentity = got.participantIdentity;
    }
    assert.deepEqual(
      got.toJson(),
      validateConnectTwilioCall(sent).toJson(),
      `${step.name}: request as the Twilio backend received it`,
    );
    assert.match(recorded.ctx.clientOrigin ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    assert.ok(recorded.ctx.apiKeyId, 'api key id in context');
  });
}
