/**
 * Fuzz target: webhook bodies. Meta's documented payloads (test/fixtures/whatsapp/webhooks),
 * mutated byte-wise and structurally (values swapped for other types, keys dropped, arrays
 * emptied or repeated, huge strings), go through the signature check and the parser: neither ever
 * throws, every event has a known kind and a call id or sender where its kind needs one, and a
 * body's signature verifies only with the secret it was signed with.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import {
  parseWebhookBody,
  parseWebhookRawBody,
  type WhatsAppWebhookEvent,
} from '../../src/whatsapp/webhook-events.js';
import { signWebhookBody, verifyWebhookSignature } from '../../src/whatsapp/webhook-signature.js';
import { FUZZ_SEED, Prng, mutateBytes, reproduce } from './fuzz-kit.js';

const INPUTS = 12_000;
const KINDS = new Set([
  'call_connect',
  'call_terminate',
  'call_status',
  'call_permission_reply',
  'other',
]);
const SECRET = 'fuzz-app-secret';

const FIXTURES = join(import.meta.dirname, '../fixtures/whatsapp/webhooks');
const seeds: unknown[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as unknown);

/** A value of another type, or an edge of the same type. */
function strangeValue(random: Prng): unknown {
  return random.pick<() => unknown>([
    () => null,
    () => '',
    () => 'x'.repeat(random.int(1, 70_000)),
    () => random.int(-(2 ** 31), 2 ** 31),
    () => 1e308,
    () => -0,
    () => true,
    () => [],
    () => ({}),
    () => [null, 1, 'a'],
    () => ({ __proto__: { polluted: true }, constructor: 'x' }),
    () => '1671644824',
    () => 'wacid.' + 'A'.repeat(random.int(0, 40)),
    () => '\u0000\uffff\ud800',
  ])();
}

/** Structural mutations: walk the JSON and change a few nodes. */
function mutateJson(random: Prng, value: unknown, depth = 0): unknown {
  if (Array.isArray(value)) {
    if (random.chance(0.05)) return [];
    const items = value.map((v) => mutateJson(random, v, depth + 1));
    if (random.chance(0.05) && items.length > 0) items.push(...items.slice(0, random.int(1, 40)));
    return items;
  }
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (random.chance(0.04)) continue;
      out[k] = random.chance(0.06) ? strangeValue(random) : mutateJson(random, v, depth + 1);
    }
    if (random.chance(0.03))
      out[random.pick(['calls', 'statuses', 'messages', 'contacts', 'event'])] =
        strangeValue(random);
    return out;
  }
  return random.chance(0.08) ? strangeValue(random) : value;
}

function checkEvents(events: WhatsAppWebhookEvent[], where: string): void {
  for (const event of events) {
    assert.ok(KINDS.has(event.kind), `${where}: kind ${String(event.kind)}`);
    assert.equal(typeof event.dedupeKey, 'string', where);
    if (
      event.kind === 'call_connect' ||
      event.kind === 'call_terminate' ||
      event.kind === 'call_status'
    ) {
      assert.ok(typeof event.callId === 'string' && event.callId.length > 0, `${where}: call id`);
    }
  }
}

test(`webhook bodies: ${INPUTS} mutated payloads parse to known events or problems, never a throw (seed ${FUZZ_SEED})`, () => {
  const random = new Prng(FUZZ_SEED + 40);
  let events = 0;
  let problems = 0;
  for (let i = 0; i < INPUTS; i++) {
    const seed = random.pick(seeds);
    const where = reproduce('webhook-body', i);
    try {
      let result;
      if (random.chance(0.5)) {
        result = parseWebhookBody(mutateJson(random, seed));
      } else {
        const raw = Buffer.from(JSON.stringify(seed), 'utf8');
        result = parseWebhookRawBody(Buffer.from(mutateBytes(random, raw)));
      }
      checkEvents(result.events, where);
      events += result.events.length;
      problems += result.problems.length;
    } catch (err) {
      assert.fail(`${where}: threw ${String(err)}`);
    }
  }
  // The mutations keep many payloads meaningful and break many others.
  assert.ok(events > INPUTS / 4, `${events} events`);
  assert.ok(problems > INPUTS / 10, `${problems} problems`);
});

test(`webhook signatures: ${INPUTS} bodies and headers verify only when signed with the secret (seed ${FUZZ_SEED})`, () => {
  const random = new Prng(FUZZ_SEED + 41);
  for (let i = 0; i < INPUTS; i++) {
    const where = reproduce('webhook-signature', i);
    const body = Buffer.from(random.bytes(random.int(0, 512)));
    const good = signWebhookBody(body, SECRET);
    const header = random.pick<() => string | undefined>([
      () => good,
      () => undefined,
      () => '',
      () => Buffer.from(mutateBytes(random, Buffer.from(good))).toString('latin1'),
      () => `sha256=${Buffer.from(random.bytes(32)).toString('hex')}`,
      () => `sha1=${good.slice(7)}`,
      () => good.toUpperCase(),
      () => `${good} `,
      () => 'sha256=' + 'g'.repeat(64),
    ])();
    let verified: boolean;
    try {
      verified = verifyWebhookSignature(body, header, SECRET);
    } catch (err) {
      assert.fail(`${where}: threw ${String(err)}`);
    }
    if (header === good) assert.equal(verified, true, where);
    else if (verified) {
      // Only an equivalent spelling of the right digest may pass.
      assert.equal(header?.trim().toLowerCase(), good, where);
    }
    // Any change to the body breaks the signature.
    const changed = Buffer.from(mutateBytes(random, body));
    if (!changed.equals(body))
      assert.equal(verifyWebhookSignature(changed, good, SECRET), false, where);
  }
});
