import { after, before, beforeEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { WhatsAppGraphClient } from '../../../src/whatsapp/graph-client.js';
import { GraphApiError } from '../../../src/whatsapp/graph-api-error.js';
import { GraphTransportError } from '../../../src/whatsapp/graph-transport-error.js';
import { ConnectorError } from '../../../src/errors/connector-error.js';
import { MetaGraphStandIn, graphFixture } from './meta-graph-stand-in.js';

const PHONE_NUMBER_ID = '106540352242922';
const CALL_ID = 'wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh';
const SDP =
  'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n';
const success = graphFixture('action-success.json');

let meta: MetaGraphStandIn;

function client(overrides: ConstructorParameters<typeof WhatsAppGraphClient>[0] = {}) {
  return new WhatsAppGraphClient({
    baseUrl: meta.url,
    accessToken: 'client-token',
    apiVersion: '24.0',
    requestTimeoutMs: 300,
    totalDeadlineMs: 5_000,
    maxAttempts: 3,
    initialBackoffMs: 5,
    maxBackoffMs: 20,
    ...overrides,
  });
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (err) {
    return err;
  }
  assert.fail('expected the request to fail');
}

before(async () => {
  meta = new MetaGraphStandIn();
  await meta.start();
});

after(async () => {
  await meta.stop();
});

beforeEach(() => {
  meta.requests.length = 0;
  meta.setFallback({ status: 500, body: { error: { message: 'unscripted request' } } });
});

describe('requests as Meta documents them', () => {
  test('connect posts the offer with bearer auth and returns the new call id', async () => {
    meta.answer({ status: 200, body: graphFixture('connect-success.json') });
    const result = await client().connectCall({
      phoneNumberId: PHONE_NUMBER_ID,
      to: '14085551234',
      sdp: SDP,
      bizOpaqueCallbackData: '0fS5cePMok',
    });
    assert.deepEqual(result, { callId: 'wacid.ABGGFjFVU2AfAgo6V' });
    const [req] = meta.requests;
    assert.equal(req?.method, 'POST');
    assert.equal(req?.url, `/v24.0/${PHONE_NUMBER_ID}/calls`);
    assert.equal(req?.headers.authorization, 'Bearer client-token');
    assert.match(String(req?.headers['content-type']), /^application\/json/);
    assert.deepEqual(req?.body, {
      messaging_product: 'whatsapp',
      to: '14085551234',
      action: 'connect',
      session: { sdp_type: 'offer', sdp: SDP },
      biz_opaque_callback_data: '0fS5cePMok',
    });
  });

  test('pre_accept and accept send the same SDP as an answer', async () => {
    meta.answer({ status: 200, body: success }, { status: 200, body: { success: true } });
    const c = client();
    await c.preAcceptCall({ phoneNumberId: PHONE_NUMBER_ID, callId: CALL_ID, sdp: SDP });
    await c.acceptCall({
      phoneNumberId: PHONE_NUMBER_ID,
      callId: CALL_ID,
      sdp: SDP,
      bizOpaqueCallbackData: 'random_string',
    });
    assert.deepEqual(meta.requests[0]?.body, {
      messaging_product: 'whatsapp',
      call_id: CALL_ID,
      action: 'pre_accept',
      session: { sdp_type: 'answer', sdp: SDP },
    });
    assert.deepEqual(meta.requests[1]?.body, {
      messaging_product: 'whatsapp',
      call_id: CALL_ID,
      action: 'accept',
      session: { sdp_type: 'answer', sdp: SDP },
      biz_opaque_callback_data: 'random_string',
    });
  });

  test('reject and terminate send only the call id and action', async () => {
    meta.answer({ status: 200, body: success }, { status: 200, body: success });
    const c = client();
    await c.rejectCall({ phoneNumberId: PHONE_NUMBER_ID, callId: CALL_ID });
    await c.terminateCall({ phoneNumberId: PHONE_NUMBER_ID, callId: CALL_ID });
    assert.deepEqual(
      meta.requests.map((r) => r.body),
      [
        { messaging_product: 'whatsapp', call_id: CALL_ID, action: 'reject' },
        { messaging_product: 'whatsapp', call_id: CALL_ID, action: 'terminate' },
      ],
    );
  });

  test('a request can bring its own token and Cloud API version', async () => {
    meta.answer({ status: 200, body: success });
    await client({ baseUrl: `${meta.url}/` }).terminateCall({
      phoneNumberId: PHONE_NUMBER_ID,
      callId: CALL_ID,
      accessToken: 'request-token',
      apiVersion: 'v23.0',
    });
    assert.equal(meta.requests[0]?.url, `/v23.0/${PHONE_NUMBER_ID}/calls`);
    assert.equal(meta.requests[0]?.headers.authorization, 'Bearer request-token');
  });

  test('call permissions are read by user_wa_id and mapped from Meta fields', async () => {
    meta.answer({ status: 200, body: graphFixture('call-permissions.json') });
    const permissions = await client().getCallPermissions({
      phoneNumberId: PHONE_NUMBER_ID,
      userWaId: '14085551234',
    });
    assert.equal(meta.requests[0]?.method, 'GET');
    assert.equal(
      meta.requests[0]?.url,
      `/v24.0/${PHONE_NUMBER_ID}/call_permissions?user_wa_id=14085551234`,
    );
    assert.equal(permissions.status, 'temporary');
    assert.equal(permissions.expirationTime, 1745343479);
    assert.equal(permissions.canStartCall, false);
    assert.equal(permissions.canSendPermissionRequest, true);
    assert.deepEqual(permissions.actions[1]?.limits[0], {
      timePeriod: 'PT24H',
      maxAllowed: 5,
      currentUsage: 5,
      limitExpirationTime: 1745622600,
    });
  });

  test('call permissions can be read by business-scoped user id', async () => {
    meta.answer({ status: 200, body: { permission: { status: 'no_permission' } } });
    const permissions = await client().getCallPermissions({
      phoneNumberId: PHONE_NUMBER_ID,
      recipient: 'US.13491208655302741918',
    });
    assert.equal(
      meta.requests[0]?.url,
      `/v24.0/${PHONE_NUMBER_ID}/call_permissions?recipient=US.13491208655302741918`,
    );
    assert.equal(permissions.status, 'no_permission');
    assert.equal(permissions.canStartCall, undefined);
  });

  test('the call permission request is an interactive message', async () => {
    meta.answer({ status: 200, body: graphFixture('messages-success.json') });
    const sent = await client().sendCallPermissionRequest({
      phoneNumberId: PHONE_NUMBER_ID,
      to: '14085551234',
      bodyText: 'May we call you about order ON-12853?',
    });
    // messages-success.json is Meta's sample, whose contact carries placeholder BSUIDs.
    assert.deepEqual(sent, {
      messageId: 'wamid.gBGGFlaCmZ9plHrf2Mh-o',
      waId: '14085551234',
      userId: '<BSUID>',
      parentUserId: '<PARENT_BSUID>',
    });
    assert.equal(meta.requests[0]?.url, `/v24.0/${PHONE_NUMBER_ID}/messages`);
    assert.deepEqual(meta.requests[0]?.body, {
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '14085551234',
      type: 'interactive',
      interactive: {
        type: 'call_permission_request',
        action: { name: 'call_permission_request' },
        body: { text: 'May we call you about order ON-12853?' },
      },
    });
  });

  test('phone number settings expose the calling section', async () => {
    meta.answer({
      status: 200,
      body: {
        calling: {
          status: 'ENABLED',
          callback_permission_status: 'ENABLED',
          sip: { status: 'DISABLED' },
        },
        id: PHONE_NUMBER_ID,
      },
    });
    const settings = await client().getPhoneNumberSettings({ phoneNumberId: PHONE_NUMBER_ID });
    assert.equal(meta.requests[0]?.url, `/v24.0/${PHONE_NUMBER_ID}/settings`);
    assert.equal(settings.calling?.status, 'ENABLED');
    assert.equal(settings.calling?.callback_permission_status, 'ENABLED');
    assert.equal(settings.raw.id, PHONE_NUMBER_ID);
  });
});

describe('Meta errors', () => {
  test('a 4xx keeps every field of Meta error envelope and is not retried', async () => {
    meta.answer({ status: 400, body: graphFixture('error-invalid-parameter-fingerprint.json') });
    const err = await rejection(
      client().acceptCall({ phoneNumberId: PHONE_NUMBER_ID, callId: CALL_ID, sdp: SDP }),
    );
    assert.ok(err instanceof GraphApiError);
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.graphStatus, 400);
    assert.equal(err.graphCode, 100);
    assert.equal(err.errorSubcode, 2494010);
    assert.equal(err.graphMessage, 'Invalid parameter');
    assert.equal(err.graphType, 'OAuthException');
    assert.equal(err.fbtraceId, 'ApaWkAViZR1ZYOg3XpILtzj');
    assert.equal(err.details, 'Fingerprint algo is not SHA256');
    assert.equal(err.graph.is_transient, false);
    assert.equal(err.graph.error_user_title, 'Parameter Invalid');
    assert.equal(err.code, 'invalid_argument');
    assert.equal(err.afterUncertainAttempt, false);
    assert.match(err.message, /Fingerprint algo is not SHA256/);
    assert.equal(meta.requests.length, 1);
  });

  test('an expired token is unauthenticated', async () => {
    meta.answer({ status: 401, body: graphFixture('error-graph-generic-oauth.json') });
    const err = await rejection(
      client().terminateCall({ phoneNumberId: PHONE_NUMBER_ID, callId: CALL_ID }),
    );
    assert.ok(err instanceof GraphApiError);
    assert.equal(err.code, 'unauthenticated');
    assert.equal(err.graphCode, 190);
    assert.equal(err.errorSubcode, 460);
    assert.equal(err.fbtraceId, 'EJplcsCHuLu');
  });

  test('a rate-limit answer is final even for a repeatable action', async () => {
    meta.answer({ status: 429, body: graphFixture('error-rate-limit-130429.json') });
    const err = await rejection(
      client().getCallPermissions({ phoneNumberId: PHONE_NUMBER_ID, userWaId: '14085551234' }),
    );
    assert.ok(err instanceof GraphApiError);
    assert.equal(err.code, 'resource_exhausted');
    assert.equal(err.details, 'Cloud API message throughput has been reached.');
    assert.equal(meta.requests.length, 1);
  });

  test('a missing call permission on connect is permission_denied', async () => {
    // Envelope shape per [CLOUD-ERR]; code, title and HTTP 401 per Meta's calling error table.
    meta.answer({
      status: 401,
      body: {
        error: {
          message: '(#138006) No approved call permission found',
          type: 'OAuthException',
          code: 138006,
          error_data: { messaging_product: 'whatsapp', details: 'No approved call permission' },
          fbtrace_id: 'AbCdEf',
        },
      },
    });
    const err = await rejection(
      client().connectCall({ phoneNumberId: PHONE_NUMBER_ID, to: '14085551234', sdp: SDP }),
    );
    assert.ok(err instanceof GraphApiError);
    assert.equal(err.code, 'permission_denied');
    assert.equal(err.graphCode, 138006);
  });

  test('a 5xx without an envelope still becomes a GraphApiError with the status', async () => {
    meta.answer({ status: 502, body: '<html>Bad Gateway</html>' });
    const err = await rejection(
      client().connectCall({ phoneNumberId: PHONE_NUMBER_ID, to: '14085551234', sdp: SDP }),
    );
    assert.ok(err instanceof GraphApiError);
    assert.equal(err.graphStatus, 502);
    assert.equal(err.graphCode, undefined);
    assert.equal(err.code, 'unavailable');
  });
});

describe('retries', () => {
  test('terminate is retried after 5xx answers until Meta succeeds', async () => {
    meta.answer(
      { status: 503, body: { error: { message: 'Service unavailable', code: 2 } } },
      { status: 500, body: { error: { message: 'Something went wrong', code: 131000 } } },
      { status: 200, body: success },
    );
    await client().terminateCall({ phoneNumberId: PHONE_NUMBER_ID, callId: CALL_ID });
    assert.equal(meta.requests.length, 3);
    assert.ok(meta.requests.every((r) => (r.body as { action: string }).action === 'terminate'));
  });

  test('accept is retried after a timeout with the identical body', async () => {
    meta.answer({ hang: true }, { status: 200, body: success });
    await client({ requestTimeoutMs: 150 }).acceptCall({
      phoneNumberId: PHONE_NUMBER_ID,
      callId: CALL_ID,
      sdp: SDP,
    });
    assert.equal(meta.requests.length, 2);
    assert.deepEqual(meta.requests[0]?.body, meta.requests[1]?.body);
  });

  test('a dropped connection on a read is retried', async () => {
    meta.answer({ reset: true }, { status: 200, body: graphFixture('call-permissions.json') });
    const permissions = await client().getCallPermissions({
      phoneNumberId: PHONE_NUMBER_ID,
      userWaId: '14085551234',
    });
    assert.equal(permissions.status, 'temporary');
    assert.equal(meta.requests.length, 2);
  });

  test('connect is never retried after a 5xx: a second call could be placed', async () => {
    meta.answer({ status: 500, body: { error: { message: 'Connection error', code: 138004 } } });
    const err = await rejection(
      client().connectCall({ phoneNumberId: PHONE_NUMBER_ID, to: '14085551234', sdp: SDP }),
    );
    assert.ok(err instanceof GraphApiError);
    assert.equal(err.graphCode, 138004);
    assert.equal(meta.requests.length, 1);
  });

  test('connect is never retried after a timeout, and says the outcome is unknown', async () => {
    meta.answer({ hang: true });
    const err = await rejection(
      client({ requestTimeoutMs: 150 }).connectCall({
        phoneNumberId: PHONE_NUMBER_ID,
        to: '14085551234',
        sdp: SDP,
      }),
    );
    assert.ok(err instanceof GraphTransportError);
    assert.equal(err.failure, 'timeout');
    assert.equal(err.code, 'deadline_exceeded');
    assert.equal(err.outcomeUnknown, true);
    assert.equal(meta.requests.length, 1);
  });

  test('the permission request message is never retried', async () => {
    meta.answer({ status: 503, body: {} });
    await rejection(
      client().sendCallPermissionRequest({ phoneNumberId: PHONE_NUMBER_ID, to: '14085551234' }),
    );
    assert.equal(meta.requests.length, 1);
  });

  test('retries stop at the attempt limit and keep the last Meta error as cause', async () => {
    meta.setFallback({ status: 502, body: { error: { message: 'bad gateway', code: 1 } } });
    const err = await rejection(
      client({ maxAttempts: 3 }).rejectCall({ phoneNumberId: PHONE_NUMBER_ID, callId: CALL_ID }),
    );
    assert.ok(err instanceof GraphTransportError);
    assert.equal(err.failure, 'retries_exhausted');
    assert.equal(err.attempts, 3);
    assert.equal(err.lastStatus, 502);
    assert.ok(err.cause instanceof GraphApiError);
    assert.equal(meta.requests.length, 3);
  });

  test('the total deadline ends retries before the attempt limit', async () => {
    meta.setFallback({ hang: true });
    const err = await rejection(
      client({ maxAttempts: 50, requestTimeoutMs: 100, totalDeadlineMs: 400 }).preAcceptCall({
        phoneNumberId: PHONE_NUMBER_ID,
        callId: CALL_ID,
        sdp: SDP,
      }),
    );
    assert.ok(err instanceof GraphTransportError);
    assert.equal(err.failure, 'retries_exhausted');
    assert.ok(err.attempts < 50, `attempts ${err.attempts}`);
    assert.equal(meta.requests.length, err.attempts);
  });

  test('a 4xx after an uncertain attempt is flagged so callers can judge it', async () => {
    meta.answer(
      { status: 500, body: {} },
      {
        status: 400,
        body: {
          error: { message: 'The WhatsApp user has already terminated the call', code: 100 },
        },
      },
    );
    const err = await rejection(
      client().terminateCall({ phoneNumberId: PHONE_NUMBER_ID, callId: CALL_ID }),
    );
    assert.ok(err instanceof GraphApiError);
    assert.equal(err.afterUncertainAttempt, true);
    assert.equal(err.attempts, 2);
  });

  test('the caller can abort a pending retry', async () => {
    meta.setFallback({ status: 503, body: {} });
    const controller = new AbortController();
    const pending = client({
      initialBackoffMs: 10_000,
      maxBackoffMs: 10_000,
      totalDeadlineMs: 60_000,
    }).terminateCall({
      phoneNumberId: PHONE_NUMBER_ID,
      callId: CALL_ID,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 50);
    const err = await rejection(pending);
    assert.ok(err instanceof GraphTransportError);
    assert.equal(err.failure, 'aborted');
    assert.equal(err.code, 'canceled');
  });
});

describe('bad input and bad answers', () => {
  test('a 2xx connect answer without a call id is an invalid response', async () => {
    meta.answer({ status: 200, body: { messaging_product: 'whatsapp', calls: [] } });
    const err = await rejection(
      client().connectCall({ phoneNumberId: PHONE_NUMBER_ID, to: '14085551234', sdp: SDP }),
    );
    assert.ok(err instanceof GraphTransportError);
    assert.equal(err.failure, 'invalid_response');
    assert.equal(err.outcomeUnknown, true);
  });

  test('a missing access token fails before any request', async () => {
    const err = await rejection(
      client({ accessToken: undefined }).terminateCall({
        phoneNumberId: PHONE_NUMBER_ID,
        callId: CALL_ID,
      }),
    );
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'invalid_argument');
    assert.equal(meta.requests.length, 0);
  });

  test('an unsupported Cloud API version fails before any request', async () => {
    const err = await rejection(
      client().terminateCall({
        phoneNumberId: PHONE_NUMBER_ID,
        callId: CALL_ID,
        apiVersion: '14.0',
      }),
    );
    assert.ok(err instanceof ConnectorError);
    assert.equal(err.code, 'invalid_argument');
    assert.equal(meta.requests.length, 0);
  });

  test('connect without a callee or SDP fails before any request', async () => {
    await assert.rejects(
      client().connectCall({ phoneNumberId: PHONE_NUMBER_ID, sdp: SDP }),
      (e: unknown) => e instanceof ConnectorError && e.code === 'invalid_argument',
    );
    await assert.rejects(
      client().connectCall({ phoneNumberId: PHONE_NUMBER_ID, to: '1', sdp: '' }),
      (e: unknown) => e instanceof ConnectorError && e.code === 'invalid_argument',
    );
    assert.equal(meta.requests.length, 0);
  });
});
