import { after, before, beforeEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { request as httpRequest } from 'node:http';
import {
  AcceptWhatsAppCallRequest,
  DialWhatsAppCallResponse,
  DisconnectWhatsAppCallRequest,
  DisconnectWhatsAppCallRequest_DisconnectReason as Reason,
} from '@livekit/protocol';
import type {
  ConnectParams,
  DialParams,
  DisconnectParams,
} from '../../../src/calls/call-params.js';
import {
  AcceptTimeoutError,
  CallEndedError,
  CallNotFoundError,
  CapacityError,
  DrainingError,
  InvalidSdpError,
  NoCallPermissionError,
  RoomJoinError,
} from '../../../src/calls/call-errors.js';
import { GraphTransportError } from '../../../src/whatsapp/graph-transport-error.js';
import {
  postTwirp,
  signTestToken,
  startConnectorTestServer,
  SECOND_API_KEY,
  SECOND_API_SECRET,
  type ConnectorTestServer,
} from './support/connector-test-server.js';
import { ConnectorError, InvalidArgumentError } from '../../../src/errors/index.js';

const JSON_CT = { 'Content-Type': 'application/json' };
const PROTO_CT = { 'Content-Type': 'application/protobuf' };

const dialJson = {
  whatsappPhoneNumberId: '123',
  whatsappToPhoneNumber: '15550001',
  whatsappApiKey: 'EAAB-wire-secret-key',
  whatsappCloudApiVersion: '23.0',
};

/** Golden vector from the reference (protobuf-es 1.51.0 encoding of a DialWhatsAppCallRequest). */
const DIAL_GOLDEN_HEX =
  '0a03313233' +
  '12083135353530303031' +
  '1a0445414142' +
  '2a0172' +
  '32030a0161' +
  '620432332e30' +
  '6a02082d';

let srv: ConnectorTestServer;
let auth: Record<string, string>;

before(async () => {
  srv = await startConnectorTestServer();
  auth = { Authorization: `Bearer ${await signTestToken()}` };
});
after(async () => {
  await srv.close();
});
beforeEach(() => {
  srv.backend.calls.length = 0;
  srv.backend.override = {};
});

/** Twirp error bodies must be exactly {code, msg[, meta]} with the exact JSON content type. */
function assertTwirpError(
  answer: Awaited<ReturnType<typeof postTwirp>>,
  status: number,
  code: string,
  msg?: string | RegExp,
): Record<string, unknown> {
  assert.equal(answer.status, status, answer.body.toString());
  assert.equal(answer.contentType, 'application/json');
  const body = answer.json as Record<string, unknown>;
  assert.ok(body && typeof body === 'object', 'JSON body');
  const keys = Object.keys(body);
  assert.ok(
    keys.every((k) => ['code', 'msg', 'meta'].includes(k)),
    `keys ${keys.join()}`,
  );
  assert.equal(body.code, code);
  assert.equal(typeof body.msg, 'string');
  if ('meta' in body) {
    assert.ok(body.meta !== null && typeof body.meta === 'object');
    for (const v of Object.values(body.meta as object)) assert.equal(typeof v, 'string');
  }
  if (typeof msg === 'string') assert.equal(body.msg, msg);
  else if (msg) assert.match(body.msg as string, msg);
  return body;
}

describe('Twirp routing', () => {
  it('answers bad_route for unknown methods, services and prefixes, with the route in meta', async () => {
    for (const path of [
      '/twirp/livekit.Connector/NoSuchMethod',
      '/twirp/livekit.RoomService/CreateRoom',
      '/twirp/livekit.Connector/DialWhatsAppCall/extra',
      '/twirp/livekit.Connector/',
    ]) {
      const a = await postTwirp(srv.url, path, '{}', { ...JSON_CT, ...auth });
      const body = assertTwirpError(
        a,
        404,
        'bad_route',
        `no handler for path ${JSON.stringify(path)}`,
      );
      assert.deepEqual(body.meta, { twirp_invalid_route: `POST ${path}` });
    }
  });

  it('only allows POST', async () => {
    const a = await postTwirp(srv.url, 'DialWhatsAppCall', '', auth, 'GET');
    assertTwirpError(a, 404, 'bad_route', 'unsupported method "GET" (only POST is allowed)');
    const b = await postTwirp(srv.url, 'DialWhatsAppCall', '{}', { ...JSON_CT, ...auth }, 'PUT');
    assertTwirpError(b, 404, 'bad_route', /unsupported method "PUT"/);
  });

  it('routes ConnectTwilioCall to the Twilio backend, not the call layer', async () => {
    const before = srv.twilio.calls.length;
    const a = await postTwirp(srv.url, 'ConnectTwilioCall', '{}', { ...JSON_CT, ...auth });
    assert.equal(a.status, 200, a.body.toString());
    assert.equal(srv.twilio.calls.length, before + 1);
    assert.deepEqual(srv.backend.calls, []);
  });

  it('rejects unknown content types with bad_route and accepts parameters and any case', async () => {
    const a = await postTwirp(srv.url, 'DialWhatsAppCall', JSON.stringify(dialJson), {
      'Content-Type': 'text/plain',
      ...auth,
    });
    assertTwirpError(a, 404, 'bad_route', 'unexpected Content-Type: "text/plain"');
    const none = await postTwirp(srv.url, 'DialWhatsAppCall', JSON.stringify(dialJson), auth);
    assert.equal(none.status, 404);
    const ok = await postTwirp(srv.url, 'DialWhatsAppCall', JSON.stringify(dialJson), {
      'Content-Type': 'Application/JSON;charset=UTF-8',
      ...auth,
    });
    assert.equal(ok.status, 200);
    assert.equal(srv.backend.calls.length, 1);
  });
});

describe('Twirp authentication', () => {
  it('answers 401 unauthenticated before reading the body, and never reaches the backend', async () => {
    const bad: Array<Record<string, string>> = [
      {},
      { Authorization: 'Bearer garbage' },
      { Authorization: `Bearer ${await signTestToken({ secret: 'wrong' })}` },
      { Authorization: `Bearer ${await signTestToken({ expiresIn: -3600 })}` },
      { Authorization: `Bearer ${await signTestToken({ claims: { video: { roomJoin: true } } })}` },
    ];
    for (const headers of bad) {
      // A body that could not be parsed and a bogus content type: auth must fail first.
      const a = await postTwirp(srv.url, 'DialWhatsAppCall', '{{{not json', {
        'Content-Type': 'application/x-garbage',
        ...headers,
      });
      assertTwirpError(a, 401, 'unauthenticated');
    }
    assert.equal(srv.backend.calls.length, 0);
  });

  it('accepts any configured API key and tells the call layer which one', async () => {
    const token = await signTestToken({ apiKey: SECOND_API_KEY, secret: SECOND_API_SECRET });
    const a = await postTwirp(srv.url, 'DialWhatsAppCall', JSON.stringify(dialJson), {
      ...JSON_CT,
      authorization: `Bearer ${token}`,
    });
    assert.equal(a.status, 200);
    assert.equal(srv.backend.last('dial')?.ctx.requester, SECOND_API_KEY);
  });
});

describe('JSON encoding', () => {
  it('decodes camelCase and snake_case keys, enum names and numbers, durations, and ignores unknown keys', async () => {
    const a = await postTwirp(
      srv.url,
      'DialWhatsAppCall',
      JSON.stringify({
        whatsapp_phone_number_id: '123',
        whatsappToPhoneNumber: '15550001',
        whatsapp_api_key: 'EAAB',
        whatsappCloudApiVersion: 'v23.0',
        agents: [
          { agent_name: 'a', restartPolicy: 1 },
          { agentName: 'b', restart_policy: 'JRP_NEVER' },
        ],
        participant_attributes: { lk_snake: 'x', camelKey: 'y' },
        ringing_timeout: '1.500s',
        some_future_field: { nested: true },
        room_name: null,
      }),
      { ...JSON_CT, ...auth },
    );
    assert.equal(a.status, 200, a.body.toString());
    const params = srv.backend.last('dial')?.params as DialParams;
    assert.equal(params.meta.phoneNumberId, '123');
    assert.equal(params.meta.accessToken, 'EAAB');
    assert.equal(params.meta.apiVersion, '23.0');
    assert.deepEqual(
      params.participant.agents.map((x) => [x.agentName, x.restartPolicy]),
      [
        ['a', 1],
        ['b', 1],
      ],
    );
    assert.deepEqual(params.participant.attributes, { lk_snake: 'x', camelKey: 'y' });
    assert.equal(params.ringingTimeoutMs, 1500);
    assert.match(params.participant.roomName, /^whatsapp-/);

    const d = await postTwirp(
      srv.url,
      'DisconnectWhatsAppCall',
      JSON.stringify({ whatsapp_call_id: 'wacid.known-1', disconnect_reason: 1 }),
      { ...JSON_CT, ...auth },
    );
    assert.equal(d.status, 200);
    const disconnect = srv.backend.last('disconnect')?.params as DisconnectParams;
    assert.equal(disconnect.initiator, 'user');
  });

  it('answers JSON in snake_case with every field, as a Go Twirp server does', async () => {
    const a = await postTwirp(
      srv.url,
      'DialWhatsAppCall',
      JSON.stringify({ ...dialJson, roomName: 'room-x' }),
      { ...JSON_CT, ...auth },
    );
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'application/json');
    assert.deepEqual(a.json, { whatsapp_call_id: 'wacid.room-x', room_name: 'room-x' });
    const c = await postTwirp(
      srv.url,
      'ConnectWhatsAppCall',
      JSON.stringify({ whatsappCallId: 'wacid.known-1', sdp: { type: 'answer', sdp: 'v=0\r\n' } }),
      { ...JSON_CT, ...auth },
    );
    assert.equal(c.status, 200);
    assert.deepEqual(c.json, {});
  });

  it('rejects undecodable JSON as malformed without echoing values', async () => {
    const cases: Array<[string, RegExp | undefined]> = [
      ['', undefined],
      ['{', undefined],
      ['[]', /JSON object/],
      ['null', /JSON object/],
      ['"str"', /JSON object/],
      [JSON.stringify({ ...dialJson, whatsappApiKey: 12345 }), /whatsapp_api_key/],
      [JSON.stringify({ ...dialJson, ringingTimeout: 45 }), /Duration/],
      [JSON.stringify({ ...dialJson, agents: { a: 1 } }), /agents/],
      [
        JSON.stringify({ ...dialJson, participantAttributes: { a: { b: 1 } } }),
        /participant_attributes/,
      ],
    ];
    for (const [body, cause] of cases) {
      const a = await postTwirp(srv.url, 'DialWhatsAppCall', body, { ...JSON_CT, ...auth });
      const err = assertTwirpError(a, 400, 'malformed', 'the json request could not be decoded');
      const meta = (err.meta ?? {}) as Record<string, string>;
      if (cause) assert.match(meta.cause ?? '', cause);
      assert.ok(!a.body.toString().includes('12345'));
    }
    const invalidUtf8 = Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d]);
    const u = await postTwirp(srv.url, 'DialWhatsAppCall', invalidUtf8, { ...JSON_CT, ...auth });
    assertTwirpError(u, 400, 'malformed');
    assert.equal(srv.backend.calls.length, 0);
  });
});

describe('Protobuf encoding', () => {
  it('decodes the golden Dial vector and answers in protobuf', async () => {
    const a = await postTwirp(srv.url, 'DialWhatsAppCall', Buffer.from(DIAL_GOLDEN_HEX, 'hex'), {
      ...PROTO_CT,
      ...auth,
    });
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'application/protobuf');
    const res = DialWhatsAppCallResponse.fromBinary(a.body);
    assert.equal(res.roomName, 'r');
    assert.equal(res.whatsappCallId, 'wacid.r');
    const params = srv.backend.last('dial')?.params as DialParams;
    assert.deepEqual(params.to, { phoneNumber: '15550001' });
    assert.equal(params.participant.agents[0]?.agentName, 'a');
    assert.equal(params.ringingTimeoutMs, 45_000);
  });

  it('treats an empty body as all defaults (so validation answers)', async () => {
    const a = await postTwirp(srv.url, 'DialWhatsAppCall', new Uint8Array(), {
      ...PROTO_CT,
      ...auth,
    });
    assertTwirpError(a, 400, 'invalid_argument', 'whatsapp phone number id is required');
    const d = await postTwirp(srv.url, 'DisconnectWhatsAppCall', new Uint8Array(), {
      ...PROTO_CT,
      ...auth,
    });
    assertTwirpError(d, 400, 'invalid_argument', 'whatsapp call id is required');
  });

  it('answers an empty protobuf body for empty responses, and accepts unknown fields', async () => {
    const msg = new DisconnectWhatsAppCallRequest({
      whatsappCallId: 'wacid.known-1',
      disconnectReason: Reason.USER_INITIATED,
    }).toBinary();
    // Field 99, varint 1: unknown to the schema, must be skipped.
    const withUnknown = Buffer.concat([Buffer.from(msg), Buffer.from([0x98, 0x06, 0x01])]);
    const a = await postTwirp(srv.url, 'DisconnectWhatsAppCall', withUnknown, {
      ...PROTO_CT,
      ...auth,
    });
    assert.equal(a.status, 200);
    assert.equal(a.contentType, 'application/protobuf');
    assert.equal(a.body.length, 0);
  });

  it('rejects truncated and garbage protobuf as malformed', async () => {
    const full = Buffer.from(DIAL_GOLDEN_HEX, 'hex');
    for (const body of [
      full.subarray(0, 7),
      Buffer.from([0xff, 0xff, 0xff]),
      Buffer.from([0x0a, 0x80]),
    ]) {
      const a = await postTwirp(srv.url, 'DialWhatsAppCall', body, { ...PROTO_CT, ...auth });
      assertTwirpError(a, 400, 'malformed', 'the protobuf request could not be decoded');
    }
    assert.equal(srv.backend.calls.length, 0);
  });
});

describe('Validation and backend errors on the wire', () => {
  it('reports catalogue errors and keeps the sdp-type-first order for Accept', async () => {
    const a = await postTwirp(
      srv.url,
      'AcceptWhatsAppCall',
      JSON.stringify({ sdp: { type: 'answer', sdp: 'v=0' } }),
      { ...JSON_CT, ...auth },
    );
    assertTwirpError(a, 400, 'invalid_argument', 'incorrect sdp type');
    const v = await postTwirp(
      srv.url,
      'DialWhatsAppCall',
      JSON.stringify({ ...dialJson, whatsappCloudApiVersion: '22.0' }),
      { ...JSON_CT, ...auth },
    );
    assertTwirpError(v, 400, 'invalid_argument', 'whatsapp cloud api version not supported');
    const c = await postTwirp(
      srv.url,
      'DialWhatsAppCall',
      JSON.stringify({ ...dialJson, destinationCountry: 'ZZ' }),
      { ...JSON_CT, ...auth },
    );
    assertTwirpError(c, 400, 'invalid_argument', /ISO 3166-1 alpha-2/);
    assert.equal(srv.backend.calls.length, 0);
  });

  it('answers not_found for unknown call ids and errors in JSON even for protobuf requests', async () => {
    const body = new AcceptWhatsAppCallRequest({
      whatsappPhoneNumberId: '1',
      whatsappApiKey: 'k',
      whatsappCloudApiVersion: '24.0',
      whatsappCallId: 'wacid.nope',
      sdp: { type: 'offer', sdp: 'v=0' },
    }).toBinary();
    const a = await postTwirp(srv.url, 'AcceptWhatsAppCall', body, { ...PROTO_CT, ...auth });
    assertTwirpError(a, 404, 'not_found', 'whatsapp call not found');
  });

  it('hides unexpected failures of the call layer behind internal', async () => {
    srv.backend.override.connect = async () => {
      throw new Error('database password=hunter2 exploded');
    };
    const a = await postTwirp(
      srv.url,
      'ConnectWhatsAppCall',
      JSON.stringify({ whatsappCallId: 'wacid.known-1', sdp: { type: 'answer', sdp: 'v=0' } }),
      { ...JSON_CT, ...auth },
    );
    const err = assertTwirpError(a, 500, 'internal', 'internal error');
    assert.equal(err.meta, undefined);
  });

  it("maps the call layer's typed errors to LiveKit's codes and messages", async () => {
    const cases: Array<[Error, number, string, string | RegExp]> = [
      [
        new CapacityError(5),
        429,
        'resource_exhausted',
        'server is busy and cannot accept new calls',
      ],
      [
        new AcceptTimeoutError('wacid.x'),
        408,
        'deadline_exceeded',
        'timeout waiting for call to be accepted',
      ],
      [
        new CallEndedError('wacid.x', 'no_answer'),
        408,
        'deadline_exceeded',
        'timeout waiting for call to be accepted',
      ],
      [
        new CallEndedError('wacid.x', 'user_hangup'),
        412,
        'failed_precondition',
        'connection is closed',
      ],
      [new CallNotFoundError('wacid.x'), 404, 'not_found', 'whatsapp call not found'],
      [new DrainingError(), 503, 'unavailable', /shutting down/],
      [
        new InvalidSdpError('answer', 'no opus'),
        400,
        'invalid_argument',
        'invalid sdp answer: no opus',
      ],
      [
        new InvalidArgumentError('to must be a phone number', 'to'),
        400,
        'invalid_argument',
        'to must be a phone number',
      ],
      [new RoomJoinError('r'), 503, 'unavailable', 'could not join the livekit room'],
      [
        new GraphTransportError('timeout', 'no answer within the timeout', {
          operation: 'calls.accept',
          attempts: 1,
          outcomeUnknown: true,
        }),
        503,
        'unavailable',
        'whatsapp api unreachable',
      ],
    ];
    for (const [error, status, code, msg] of cases) {
      srv.backend.override.connect = async () => {
        throw error;
      };
      const a = await postTwirp(
        srv.url,
        'ConnectWhatsAppCall',
        JSON.stringify({ whatsappCallId: 'wacid.known-1', sdp: { type: 'answer', sdp: 'v=0' } }),
        { ...JSON_CT, ...auth },
      );
      const body = assertTwirpError(a, status, code, msg);
      assert.equal(body.meta, undefined, `${error.name}: no meta`);
    }
  });

  it('says how to get call permission, with the reason in meta', async () => {
    srv.backend.override.dial = async () => {
      throw new NoCallPermissionError('123', 'no_permission');
    };
    const a = await postTwirp(srv.url, 'DialWhatsAppCall', JSON.stringify(dialJson), {
      ...JSON_CT,
      ...auth,
    });
    const body = assertTwirpError(a, 412, 'failed_precondition', /permissions request/);
    assert.deepEqual(body.meta, {
      reason: 'no_call_permission',
      permissionStatus: 'no_permission',
      graphCode: '138006',
    });
  });

  it('passes errors that already carry a Twirp code through, meta as a string map', async () => {
    srv.backend.override.connect = async () => {
      throw new ConnectorError('permission_denied', 'nope', { a: '1', b: 2 as unknown as string });
    };
    const a = await postTwirp(
      srv.url,
      'ConnectWhatsAppCall',
      JSON.stringify({ whatsappCallId: 'wacid.known-1', sdp: { type: 'answer', sdp: 'v=0' } }),
      { ...JSON_CT, ...auth },
    );
    const body = assertTwirpError(a, 403, 'permission_denied', 'nope');
    assert.deepEqual(body.meta, { a: '1' });
  });

  it('refuses a Dial whose number is neither a phone number nor a WhatsApp user id', async () => {
    for (const to of ['call me', '12', '+1 (555) abc']) {
      const a = await postTwirp(
        srv.url,
        'DialWhatsAppCall',
        JSON.stringify({ ...dialJson, whatsappToPhoneNumber: to }),
        { ...JSON_CT, ...auth },
      );
      assertTwirpError(
        a,
        400,
        'invalid_argument',
        /whatsapp_to_phone_number must be a phone number/,
      );
    }
    assert.equal(srv.backend.calls.length, 0);
    const bsuid = await postTwirp(
      srv.url,
      'DialWhatsAppCall',
      JSON.stringify({ ...dialJson, whatsappToPhoneNumber: 'US.13491208655302741918' }),
      { ...JSON_CT, ...auth },
    );
    assert.equal(bsuid.status, 200);
    const params = srv.backend.last('dial')?.params as DialParams;
    assert.deepEqual(params.to, { userId: 'US.13491208655302741918' });
    assert.match(params.participant.identity, /^whatsapp_[a-z2-7]{12}$/);
  });

  it('answers the room the call layer put the caller in', async () => {
    srv.backend.override.accept = async () => ({ roomName: 'plain-room' });
    const a = await postTwirp(
      srv.url,
      'AcceptWhatsAppCall',
      JSON.stringify({
        whatsappPhoneNumberId: '1',
        whatsappApiKey: 'k',
        whatsappCloudApiVersion: '24.0',
        whatsappCallId: 'wacid.inbound-1',
        sdp: { type: 'offer', sdp: 'v=0' },
      }),
      { ...JSON_CT, ...auth },
    );
    assert.equal(a.status, 200);
    assert.deepEqual(a.json, { room_name: 'plain-room' });
  });
});

describe('Request context', () => {
  it('makes a Dial with a client request id idempotent, and passes the Twirp deadline on', async () => {
    const before = Date.now();
    const a = await postTwirp(srv.url, 'DialWhatsAppCall', JSON.stringify(dialJson), {
      ...JSON_CT,
      ...auth,
      'X-Livekit-Request-Id': 'req-abc-123',
      'X-Twirp-Timeout-Ms': '9500',
    });
    assert.equal(a.status, 200);
    const recorded = srv.backend.last('dial');
    assert.equal(recorded?.ctx.requestId, 'req-abc-123');
    assert.equal((recorded?.params as DialParams).idempotencyKey, 'APIcompatKey:req-abc-123');
    const deadline = recorded?.ctx.deadline ?? 0;
    assert.ok(deadline >= before + 9500 && deadline <= Date.now() + 9500, `deadline ${deadline}`);
    assert.equal(recorded?.ctx.origin, 'api');
    await postTwirp(srv.url, 'DialWhatsAppCall', JSON.stringify(dialJson), { ...JSON_CT, ...auth });
    const generated = srv.backend.last('dial');
    assert.equal((generated?.params as DialParams).idempotencyKey, undefined);
    assert.match(generated?.ctx.requestId ?? '', /^[0-9a-f-]{36}$/);
    assert.equal(generated?.ctx.deadline, undefined);
  });

  it('aborts the backend signal when the client goes away', async () => {
    let resolveAborted: (reason: unknown) => void = () => {};
    const aborted = new Promise((resolve) => (resolveAborted = resolve));
    let entered: () => void = () => {};
    const backendEntered = new Promise<void>((resolve) => (entered = resolve));
    srv.backend.override.accept = (_params, ctx) =>
      new Promise((_resolve, reject) => {
        entered();
        ctx.signal.addEventListener('abort', () => {
          resolveAborted(ctx.signal.reason);
          reject(new Error('aborted'));
        });
      });
    const body = JSON.stringify({
      whatsappPhoneNumberId: '1',
      whatsappApiKey: 'k',
      whatsappCloudApiVersion: '24.0',
      whatsappCallId: 'wacid.inbound-1',
      sdp: { type: 'offer', sdp: 'v=0' },
      waitUntilAnswered: true,
    });
    const req = httpRequest(`${srv.url}/twirp/livekit.Connector/AcceptWhatsAppCall`, {
      method: 'POST',
      headers: { ...JSON_CT, ...auth, 'Content-Length': Buffer.byteLength(body) },
    });
    req.on('error', () => {});
    req.end(body);
    await backendEntered;
    req.destroy();
    const reason = await aborted;
    assert.ok(reason instanceof Error);
  });
});

describe('Body limits', () => {
  it('rejects bodies over 1 MiB with a Twirp error, declared or streamed', async () => {
    const big = JSON.stringify({ ...dialJson, participantMetadata: 'x'.repeat(1024 * 1024 + 10) });
    const a = await postTwirp(srv.url, 'DialWhatsAppCall', big, { ...JSON_CT, ...auth });
    assertTwirpError(a, 400, 'malformed', /larger than 1048576 bytes/);

    // Chunked upload: no Content-Length, so the limit must trip while streaming.
    const chunked = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const r = httpRequest(`${srv.url}/twirp/livekit.Connector/DialWhatsAppCall`, {
        method: 'POST',
        headers: { ...JSON_CT, ...auth, 'Transfer-Encoding': 'chunked' },
      });
      r.on('response', (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
      r.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const pump = (): void => {
        while (sent < 2 * 1024 * 1024) {
          sent += chunk.length;
          if (!r.write(chunk)) {
            r.once('drain', pump);
            return;
          }
        }
        r.end();
      };
      pump();
    });
    assert.equal(chunked.status, 400);
    assert.equal((JSON.parse(chunked.body) as { code: string }).code, 'malformed');
    assert.equal(srv.backend.calls.length, 0);
    const health = await fetch(`http://127.0.0.1:${srv.server.internalPort}/healthz`);
    assert.equal(health.status, 200);
  });

  it('decodes a large but allowed body (a ~100 KiB SDP) intact', async () => {
    const sdp = `v=0\r\n${'a=candidate:1 1 udp 2122260223 127.0.0.1 9 typ host\r\n'.repeat(1800)}`;
    const a = await postTwirp(
      srv.url,
      'ConnectWhatsAppCall',
      JSON.stringify({ whatsappCallId: 'wacid.known-1', sdp: { type: 'answer', sdp } }),
      { ...JSON_CT, ...auth },
    );
    assert.equal(a.status, 200);
    const params = srv.backend.last('connect')?.params as ConnectParams;
    assert.equal(params.answerSdp, sdp);
  });
});
