/**
 * The WhatsApp user of every call event, as `{ phoneNumber?, userId?, parentUserId?, username? }`:
 * phone-number users, users with both identifiers, and users who adopted a username and arrive
 * with a BSUID only (fixtures: test/fixtures/whatsapp/webhooks/README.md).
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  parseWebhookRawBody,
  type WhatsAppWebhookEvent,
} from '../../../src/whatsapp/webhook-events.js';

const DIR = new URL('../../fixtures/whatsapp/webhooks/', import.meta.url);
const BSUID = 'US.13491208655302741918';
const PARENT = 'US.ENT.11815799212886844830';
const USERNAME_ONLY = { userId: BSUID, parentUserId: PARENT, username: 'ada.lovelace' };

function single<K extends WhatsAppWebhookEvent['kind']>(
  name: string,
  kind: K,
): Extract<WhatsAppWebhookEvent, { kind: K }> {
  const { events, problems } = parseWebhookRawBody(readFileSync(new URL(name, DIR), 'utf8'));
  assert.deepEqual(problems, [], name);
  assert.equal(events.length, 1, name);
  assert.equal(events[0]?.kind, kind, name);
  return events[0] as Extract<WhatsAppWebhookEvent, { kind: K }>;
}

describe('users who adopted a username (BSUID, no phone number)', () => {
  test('a user-initiated connect names the caller by BSUID, parent BSUID and username', () => {
    const e = single('bsuid-uic-connect-username-only.json', 'call_connect');
    assert.equal(e.direction, 'USER_INITIATED');
    assert.deepEqual(e.user, USERNAME_ONLY);
    assert.equal(e.from, undefined);
    assert.equal(e.contact?.userId, BSUID);
    assert.equal(e.contact?.waId, undefined);
  });

  test('a business-initiated connect names the callee by BSUID', () => {
    const e = single('bsuid-bic-connect-username-only.json', 'call_connect');
    assert.equal(e.direction, 'BUSINESS_INITIATED');
    assert.deepEqual(e.user, USERNAME_ONLY);
    assert.equal(e.to, undefined);
  });

  test('a call status names the callee by BSUID', () => {
    const e = single('bsuid-call-status-ringing-username-only.json', 'call_status');
    assert.equal(e.status, 'RINGING');
    assert.equal(e.recipientId, undefined);
    assert.deepEqual(e.user, { userId: BSUID, parentUserId: PARENT });
  });

  test('a terminate names the callee by BSUID and keeps the call facts', () => {
    const e = single('bsuid-bic-terminate-username-only.json', 'call_terminate');
    assert.deepEqual(e.user, USERNAME_ONLY);
    assert.equal(e.status, 'COMPLETED');
    assert.equal(e.durationSeconds, 120);
  });

  test('a terminate without direction still finds the user by the side carrying a BSUID', () => {
    const body = JSON.parse(
      readFileSync(new URL('bsuid-bic-terminate-username-only.json', DIR), 'utf8'),
    ) as { entry: { changes: { value: { calls: Record<string, unknown>[] } }[] }[] };
    const call = body.entry[0]?.changes[0]?.value.calls[0];
    assert.ok(call);
    delete call.direction;
    const e = parseWebhookRawBody(JSON.stringify(body)).events[0];
    assert.equal(e?.kind, 'call_terminate');
    assert.deepEqual(e.kind === 'call_terminate' ? e.user : undefined, USERNAME_ONLY);
  });

  test('a call permission reply names the user by BSUID', () => {
    const e = single('bsuid-permission-reply-username-only.json', 'call_permission_reply');
    assert.equal(e.from, undefined);
    assert.equal(e.fromUserId, BSUID);
    assert.deepEqual(e.user, USERNAME_ONLY);
    assert.equal(e.response, 'accept');
  });
});

describe('users with a phone number', () => {
  test("Meta's 2026 user-initiated sample carries both identifiers and the username", () => {
    // That sample's `from` repeats the business's own number (Meta mislabels the parties there),
    // so the user's number is its contact's `wa_id` placeholder.
    const e = single('ref-uic-connect.json', 'call_connect');
    assert.deepEqual(e.user, {
      phoneNumber: '<USER_PHONE_NUMBER>',
      userId: '<BSUID>',
      parentUserId: '<PARENT_BSUID>',
      username: '<USERNAME>',
    });
  });

  test("in Meta's business-initiated sample (from/to swapped) the callee is the contact", () => {
    // `to` repeats the business's own number there; the user's number is the contact's wa_id.
    const e = single('ref-bic-connect.json', 'call_connect');
    assert.equal(e.user.phoneNumber, '16315553602');
    assert.equal(e.user.userId, '<BSUID>');
  });

  test('statuses and permission replies of phone users keep the number', () => {
    const status = single('ref-call-status-accepted.json', 'call_status');
    assert.deepEqual(status.user, {
      phoneNumber: '163155536021',
      userId: '<BSUID>',
      parentUserId: '<PARENT_BSUID>',
    });
    const reply = single('permission-reply-reject.json', 'call_permission_reply');
    assert.deepEqual(reply.user, { phoneNumber: '16315553601' });
  });

  test('the real terminate of 2025 names the caller by number only', () => {
    const e = single('cap1-uic-terminate-138021.json', 'call_terminate');
    assert.deepEqual(e.user, { phoneNumber: '917358580180' });
  });
});
