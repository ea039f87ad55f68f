import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  AcceptWhatsAppCallRequest,
  ConnectWhatsAppCallRequest,
  DialWhatsAppCallRequest,
  DisconnectWhatsAppCallRequest,
} from '@livekit/protocol';
import {
  postTwirp,
  signTestToken,
  startConnectorTestServer,
  TEST_API_SECRET,
  type ConnectorTestServer,
} from './support/connector-test-server.js';

/** Bounded so the suite stays fast on 2 shared cores; the seed makes any failure reproducible. */
const ITERATIONS = 2500;
const SEED = 0x5eed_c0de;
const WA_KEY = 'EAAB-fuzz-whatsapp-secret-key-7f3a';

/** mulberry32: tiny deterministic PRNG. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sdp = { type: 'offer', sdp: 'v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n' };
const seeds: Record<string, Record<string, unknown>> = {
  DialWhatsAppCall: {
    whatsappPhoneNumberId: '1065',
    whatsappToPhoneNumber: '15550001111',
    whatsappApiKey: WA_KEY,
    whatsappCloudApiVersion: '24.0',
    roomName: 'fuzz-room',
    agents: [{ agentName: 'a', metadata: '{"k":1}', restartPolicy: 'JRP_NEVER' }],
    participantAttributes: { a: 'b' },
    destinationCountry: 'US',
    ringingTimeout: '45s',
  },
  AcceptWhatsAppCall: {
    whatsappPhoneNumberId: '1065',
    whatsappApiKey: WA_KEY,
    whatsappCloudApiVersion: '23.0',
    whatsappCallId: 'wacid.inbound-1',
    sdp,
    waitUntilAnswered: true,
  },
  ConnectWhatsAppCall: { whatsappCallId: 'wacid.known-1', sdp: { ...sdp, type: 'answer' } },
  DisconnectWhatsAppCall: {
    whatsappCallId: 'wacid.known-1',
    whatsappApiKey: WA_KEY,
    disconnectReason: 'USER_INITIATED',
  },
};
const types = {
  DialWhatsAppCall: DialWhatsAppCallRequest,
  AcceptWhatsAppCall: AcceptWhatsAppCallRequest,
  ConnectWhatsAppCall: ConnectWhatsAppCallRequest,
  DisconnectWhatsAppCall: DisconnectWhatsAppCallRequest,
} as const;
const methods = Object.keys(seeds) as Array<keyof typeof types>;

const weirdValues: unknown[] = [
  null,
  true,
  -1,
  1e308,
  '',
  'x'.repeat(200_000),
  '\u0000\ud800',
  [],
  {},
  [1, 'a', null],
  { nested: { deeper: [{}] } },
  '99999999999999999999s',
  '-5s',
  'NaN',
  'JRP_UNKNOWN',
  7,
];

function pick<T>(rand: () => number, items: readonly T[]): T {
  return items[Math.floor(rand() * items.length)] as T;
}

/** A structurally mutated JSON document: fields dropped, retyped, renamed or injected. */
function mutateJson(rand: () => number, base: Record<string, unknown>): string {
  const doc: Record<string, unknown> = structuredClone(base);
  const keys = Object.keys(doc);
  const edits = 1 + Math.floor(rand() * 3);
  for (let i = 0; i < edits; i++) {
    const key = pick(rand, keys);
    const r = rand();
    if (r < 0.3) delete doc[key];
    else if (r < 0.7) doc[key] = pick(rand, weirdValues);
    else if (r < 0.85) doc[`${key}_unknown_${i}`] = pick(rand, weirdValues);
    else doc[key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = doc[key];
  }
  if (rand() < 0.05) return '['.repeat(20_000) + ']'.repeat(20_000);
  return JSON.stringify(doc);
}

/** Byte-level damage: flips, truncation, insertion, duplication. */
function mutateBytes(rand: () => number, input: Uint8Array): Uint8Array {
  const bytes = Buffer.from(input);
  const r = rand();
  if (r < 0.3 && bytes.length > 0) {
    const out = Buffer.from(bytes);
    const flips = 1 + Math.floor(rand() * 8);
    for (let i = 0; i < flips; i++) {
      const at = Math.floor(rand() * out.length);
      out[at] = (out[at] ?? 0) ^ (1 << Math.floor(rand() * 8));
    }
    return out;
  }
  if (r < 0.55) return bytes.subarray(0, Math.floor(rand() * bytes.length));
  if (r < 0.75) {
    const at = Math.floor(rand() * (bytes.length + 1));
    const junk = Buffer.from(
      Array.from({ length: 1 + Math.floor(rand() * 16) }, () => Math.floor(rand() * 256)),
    );
    return Buffer.concat([bytes.subarray(0, at), junk, bytes.subarray(at)]);
  }
  if (r < 0.85) return Buffer.concat([bytes, bytes]);
  return Buffer.from(
    Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256)),
  );
}

let srv: ConnectorTestServer;
let token: string;

before(async () => {
  srv = await startConnectorTestServer();
  token = await signTestToken();
});
after(async () => {
  await srv.close();
});

describe('Connector endpoint under mutated input', () => {
  it(`answers ${ITERATIONS} mutated requests with 200 or a well-formed 4xx Twirp error, and keeps serving`, async (t) => {
    const rand = prng(SEED);
    const statuses = new Map<number, number>();
    for (let i = 0; i < ITERATIONS; i++) {
      const method = pick(rand, methods);
      const asProtobuf = rand() < 0.4;
      let body: Uint8Array | string;
      if (asProtobuf) {
        const valid = types[method].fromJson(seeds[method] as never).toBinary();
        body = mutateBytes(rand, valid);
      } else {
        const text = mutateJson(rand, seeds[method] ?? {});
        body = rand() < 0.3 ? mutateBytes(rand, Buffer.from(text)) : text;
      }
      const contentType =
        rand() < 0.05
          ? pick(rand, ['text/plain', '', 'application/json; charset=latin1', 'application/grpc'])
          : asProtobuf
            ? 'application/protobuf'
            : 'application/json';
      const answer = await postTwirp(srv.url, method, body, {
        'Content-Type': contentType,
        Authorization: `Bearer ${token}`,
      });
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const context = `iteration ${i} (${method}, ${contentType}): ${answer.status} ${answer.body.subarray(0, 200).toString()}`;
      if (answer.status === 200) continue;
      assert.ok(answer.status >= 400 && answer.status < 500, context);
      assert.equal(answer.contentType, 'application/json', context);
      const err = answer.json as { code?: unknown; msg?: unknown; meta?: unknown };
      assert.equal(typeof err?.code, 'string', context);
      assert.equal(typeof err?.msg, 'string', context);
      assert.ok(
        err.meta === undefined || (typeof err.meta === 'object' && err.meta !== null),
        context,
      );
    }
    t.diagnostic(`status counts: ${JSON.stringify(Object.fromEntries(statuses))}`);
    // The mutations must really reach the decoder and validator, not just bounce off.
    assert.ok((statuses.get(400) ?? 0) > ITERATIONS / 4, JSON.stringify([...statuses]));
    const health = await fetch(`http://127.0.0.1:${srv.server.internalPort}/healthz`);
    assert.equal(health.status, 200);

    const logText = srv.logs.join('');
    assert.ok(srv.logs.length > 0);
    assert.ok(!logText.includes(WA_KEY), 'WhatsApp api key logged');
    assert.ok(!logText.includes(token), 'access token logged');
    assert.ok(!logText.includes(TEST_API_SECRET), 'API secret logged');
  });
});
