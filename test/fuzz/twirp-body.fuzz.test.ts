/**
 * Fuzz target: Connector API (Twirp) bodies. Valid requests of the five `livekit.Connector`
 * methods, in JSON and protobuf, mutated byte-wise and field-wise, go through the whole Twirp
 * handler (authentication, decoding, validation, conversion into call parameters, a backend that
 * succeeds, encoding): every request gets an answer, the answer is 200 or a Twirp error with a
 * known code from the request's own fault (never `internal`), and the handler never throws.
 */
import assert from 'node:assert/strict';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import {
  AcceptWhatsAppCallRequest,
  ConnectTwilioCallRequest,
  ConnectTwilioCallResponse,
  ConnectWhatsAppCallRequest,
  DialWhatsAppCallRequest,
  DisconnectWhatsAppCallRequest,
  SessionDescription,
} from '@livekit/protocol';
import { AccessToken } from 'livekit-server-sdk';
import type { CallOperations } from '../../src/calls/call-params.js';
import { createConnectorTwirpHandler } from '../../src/connector/twirp-server.js';
import { FUZZ_SEED, Prng, mutateBytes, reproduce } from './fuzz-kit.js';

const INPUTS = 10_000;
const API_KEY = 'fuzz-key';
const API_SECRET = 'fuzz-secret-fuzz-secret-fuzz-secret-0123';
/** Codes a request can earn by itself (bad input, or the backend's canned refusals). */
const CLIENT_CODES = new Set([
  'malformed',
  'invalid_argument',
  'bad_route',
  'out_of_range',
  'failed_precondition',
  'not_found',
]);

const SDP =
  'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n';

const seeds = [
  {
    method: 'DialWhatsAppCall',
    message: new DialWhatsAppCallRequest({
      whatsappPhoneNumberId: '106540352242922',
      whatsappToPhoneNumber: '4915112345678',
      whatsappApiKey: 'meta-token',
      whatsappCloudApiVersion: '24.0',
      roomName: 'room-1',
      participantIdentity: 'wa-user',
      destinationCountry: 'DE',
      participantAttributes: { a: 'b' },
    }),
  },
  {
    method: 'AcceptWhatsAppCall',
    message: new AcceptWhatsAppCallRequest({
      whatsappPhoneNumberId: '106540352242922',
      whatsappApiKey: 'meta-token',
      whatsappCloudApiVersion: '24.0',
      whatsappCallId: 'wacid.ABC',
      sdp: new SessionDescription({ type: 'offer', sdp: SDP }),
      roomName: 'room-2',
    }),
  },
  {
    method: 'ConnectWhatsAppCall',
    message: new ConnectWhatsAppCallRequest({
      whatsappCallId: 'wacid.ABC',
      sdp: new SessionDescription({ type: 'answer', sdp: SDP }),
    }),
  },
  {
    method: 'DisconnectWhatsAppCall',
    message: new DisconnectWhatsAppCallRequest({
      whatsappCallId: 'wacid.ABC',
      whatsappApiKey: 'meta-token',
    }),
  },
  {
    method: 'ConnectTwilioCall',
    message: new ConnectTwilioCallRequest({
      twilioCallDirection: 1,
      roomName: 'room-3',
      destinationCountry: 'US',
    }),
  },
] as const;

/** A backend that accepts whatever reaches it, so the whole conversion path runs. */
const calls: CallOperations = {
  dial: async () => ({ callId: 'wacid.fuzz', roomName: 'room' }),
  accept: async () => ({ roomName: 'room' }),
  connect: async () => undefined,
  disconnect: async () => undefined,
  userHangup: async () => false,
  callStatus: async () => false,
  transfer: async () => ({ callId: 'wacid.fuzz', roomName: 'room', participantIdentity: 'p' }),
};

interface Answer {
  status: number;
  body: string;
}

function fakeRequest(method: string, contentType: string, body: Uint8Array, token: string) {
  return Object.assign(Readable.from([Buffer.from(body)]), {
    method: 'POST',
    url: `/twirp/livekit.Connector/${method}`,
    headers: {
      authorization: `Bearer ${token}`,
      'content-type': contentType,
      'content-length': String(body.length),
      host: '127.0.0.1:8080',
    },
    socket: { remoteAddress: '127.0.0.1' },
  }) as unknown as IncomingMessage;
}

function fakeResponse(done: (answer: Answer) => void) {
  let status = 0;
  const res = {
    headersSent: false,
    writableFinished: false,
    setHeader() {},
    once() {},
    writeHead(code: number) {
      status = code;
      res.headersSent = true;
      return res;
    },
    end(payload?: Uint8Array | string) {
      res.writableFinished = true;
      done({ status, body: payload === undefined ? '' : Buffer.from(payload).toString('utf8') });
      return res;
    },
  };
  return res as unknown as ServerResponse;
}

/** Field-level mutation of a JSON request: wrong types, huge and hostile values. */
function mutateFields(random: Prng, json: Record<string, unknown>): Record<string, unknown> {
  const out = { ...json };
  const keys = Object.keys(out);
  for (let n = random.int(1, 3); n > 0; n--) {
    const key =
      random.chance(0.8) && keys.length > 0
        ? random.pick(keys)
        : random.pick(['x', 'sdp', 'agents', 'wait_until_answered']);
    out[key] = random.pick<() => unknown>([
      () => null,
      () => 12,
      () => -1,
      () => 'x'.repeat(random.int(0, 5000)),
      () => [],
      () => ({}),
      () => ({ type: 'offer', sdp: 'a=candidate:'.repeat(random.int(1, 200)) }),
      () => '\u0000',
      () => true,
      () => 'wacid.' + '9'.repeat(random.int(0, 300)),
      () => [{ agent_name: 1 }],
    ])();
  }
  return out;
}

test(`Twirp bodies: ${INPUTS} mutated Connector requests get a Twirp answer, never internal, never a throw (seed ${FUZZ_SEED})`, async () => {
  const random = new Prng(FUZZ_SEED + 50);
  const handler = createConnectorTwirpHandler({
    apiKeys: { [API_KEY]: API_SECRET },
    calls,
    twilio: {
      connectTwilioCall: async () => new ConnectTwilioCallResponse({ connectUrl: 'wss://x/y' }),
    },
  });
  const at = new AccessToken(API_KEY, API_SECRET, { ttl: 3600 });
  at.addSIPGrant({ admin: true, call: true });
  at.addGrant({ roomCreate: true });
  const token = await at.toJwt();
  const statuses = new Map<number, number>();
  for (let i = 0; i < INPUTS; i++) {
    const where = reproduce('twirp-body', i);
    const seed = random.pick(seeds);
    const protobuf = random.chance(0.5);
    let body: Uint8Array;
    if (protobuf) {
      body = mutateBytes(random, seed.message.toBinary());
    } else {
      const json = seed.message.toJson({ useProtoFieldName: true }) as Record<string, unknown>;
      body = random.chance(0.5)
        ? Buffer.from(JSON.stringify(mutateFields(random, json)), 'utf8')
        : mutateBytes(random, Buffer.from(JSON.stringify(json), 'utf8'));
    }
    const answer = await new Promise<Answer>((resolve, reject) => {
      const req = fakeRequest(
        seed.method,
        protobuf ? 'application/protobuf' : 'application/json',
        body,
        token,
      );
      Promise.resolve(
        handler(req, fakeResponse(resolve), new URL(`http://127.0.0.1${req.url}`)),
      ).catch(reject);
    }).catch((err: unknown) => assert.fail(`${where}: threw ${String(err)}`));
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    if (answer.status === 200) continue;
    let error: { code?: unknown; msg?: unknown };
    try {
      error = JSON.parse(answer.body) as typeof error;
    } catch {
      assert.fail(`${where}: HTTP ${answer.status} with a body that is not JSON`);
    }
    assert.equal(typeof error.msg, 'string', where);
    assert.ok(
      CLIENT_CODES.has(String(error.code)),
      `${where}: ${String(error.code)} ${String(error.msg)}`,
    );
  }
  if (process.env.FUZZ_VERBOSE) console.log(JSON.stringify([...statuses]));
  // Both outcomes occur: the mutations keep some requests valid and break most.
  assert.ok((statuses.get(200) ?? 0) > INPUTS / 20, `statuses ${JSON.stringify([...statuses])}`);
  assert.ok(
    INPUTS - (statuses.get(200) ?? 0) > INPUTS / 4,
    `statuses ${JSON.stringify([...statuses])}`,
  );
});
