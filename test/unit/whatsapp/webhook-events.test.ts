import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  callEventPhase,
  parseWebhookBody,
  parseWebhookRawBody,
  type CallConnectEvent,
  type CallPermissionReplyEvent,
  type CallStatusEvent,
  type CallTerminateEvent,
  type OtherWebhookEvent,
  type WhatsAppWebhookEvent,
} from '../../../src/whatsapp/webhook-events.js';
import type { WhatsAppWebhookPayload } from '../../../src/whatsapp/webhook-payloads.js';
import { normaliseMetaSdp } from '../../../src/whatsapp/meta-sdp.js';
import { sdpFixture } from './sdp-fixtures.js';

const DIR = new URL('../../fixtures/whatsapp/webhooks/', import.meta.url);

function raw(name: string): string {
  return readFileSync(new URL(name, DIR), 'utf8');
}

function single<K extends WhatsAppWebhookEvent['kind']>(
  name: string,
  kind: K,
): Extract<WhatsAppWebhookEvent, { kind: K }> {
  const { events, problems } = parseWebhookRawBody(raw(name));
  assert.deepEqual(problems, [], name);
  assert.equal(events.length, 1, name);
  const [event] = events;
  assert.equal(event?.kind, kind, name);
  return event as Extract<WhatsAppWebhookEvent, { kind: K }>;
}

describe('call connect', () => {
  test('the real user-initiated connect yields the offer and the caller', () => {
    const e: CallConnectEvent = single('cap1-uic-connect.json', 'call_connect');
    assert.equal(
      e.callId,
      'wacid.HBgMOTE3MzU4NTgwMTgwFQIAEhggQUNEODk3OUQ3NzI4MjZBRTZFNEE2MzU3NDEzNDg4RUUcGAsxNTU1MTQ0MTkwNhUCABUKAA==',
    );
    assert.equal(e.direction, 'USER_INITIATED');
    assert.equal(e.from, '917358580180');
    assert.equal(e.to, '15551441906');
    assert.equal(e.phoneNumberId, '518638374672395');
    assert.equal(e.displayPhoneNumber, '15551441906');
    assert.equal(e.wabaId, '553133154547046');
    assert.equal(e.timestamp, 1760681506);
    assert.deepEqual(e.contact, {
      name: '917358580180',
      username: undefined,
      waId: '917358580180',
      userId: undefined,
      parentUserId: undefined,
    });
    // A pre-BSUID capture: the user is a phone number and nothing else.
    assert.deepEqual(e.user, { phoneNumber: '917358580180' });
    assert.equal(e.session.sdpType, 'offer');
    assert.equal(e.session.sdp, sdpFixture('cap1-uic-offer-2025-10-17.sdp'));
    assert.equal(normaliseMetaSdp(e.session.sdp, { type: 'offer' }).ok, true);
    assert.equal(e.dedupeKey, `call_connect:${e.callId}`);
    assert.equal(e.field, 'calls');
  });

  test("Meta's documented user-initiated connect parses, direction inferred from the offer", () => {
    const e = single('ref-uic-connect.json', 'call_connect');
    assert.equal(e.direction, 'USER_INITIATED');
    assert.equal(e.session.sdpType, 'offer');
    assert.equal(e.contact?.userId, '<BSUID>');
    assert.equal(e.contact?.username, '<USERNAME>');
  });

  test('the business-initiated connect yields the answer, callee contact and opaque data', () => {
    const e = single('ref-bic-connect.json', 'call_connect');
    assert.equal(e.direction, 'BUSINESS_INITIATED');
    assert.equal(e.session.sdpType, 'answer');
    assert.equal(e.contact?.waId, '16315553602');
    const legacy = single('ref-bic-connect-with-legacy-connection.json', 'call_connect');
    assert.equal(legacy.session.sdp, sdpFixture('ref-bic-connect-answer.sdp'));
    assert.equal(legacy.phoneNumberId, '105615555715855');
    assert.equal(legacy.contact?.waId, '16501230000');
  });

  test('a connect with only the legacy connection.webrtc.sdp still yields its SDP', () => {
    const body = JSON.parse(raw('ref-bic-connect-with-legacy-connection.json')) as {
      entry: { changes: { value: { calls: Record<string, unknown>[] } }[] }[];
    };
    const call = body.entry[0]?.changes[0]?.value.calls[0];
    assert.ok(call);
    delete call.session;
    const { events, problems } = parseWebhookBody(body);
    assert.deepEqual(problems, []);
    const e = events[0] as CallConnectEvent;
    assert.equal(e.session.sdpType, 'answer');
    assert.equal(e.session.sdp, sdpFixture('ref-bic-connect-answer.sdp'));
  });
});

describe('call terminate and status', () => {
  test('the real failed terminate keeps duration, times and the 138021 error', () => {
    const e: CallTerminateEvent = single('cap1-uic-terminate-138021.json', 'call_terminate');
    assert.equal(e.status, 'FAILED');
    assert.equal(e.startTime, 1760681513);
    assert.equal(e.endTime, 1760681533);
    assert.equal(e.durationSeconds, 20);
    assert.equal(e.timestamp, 1760681533);
    assert.equal(e.direction, 'USER_INITIATED');
    assert.equal(e.errors.length, 1);
    assert.equal(e.errors[0]?.code, 138021);
    assert.equal(
      e.errors[0]?.details,
      'WhatsApp client terminated the call due to not receiving any media for a long time.',
    );
    assert.equal(e.dedupeKey, `call_terminate:${e.callId}`);
  });

  test("Meta's documented terminate parses with opaque data and a value-level error", () => {
    const e = single('ref-bic-terminate.json', 'call_terminate');
    assert.equal(e.status, 'COMPLETED');
    assert.equal(e.durationSeconds, 120);
    assert.equal(e.bizOpaqueCallbackData, 'random_string');
    assert.equal(e.errors[0]?.code, 138019);
    assert.equal(e.errors[0]?.href, 'ERROR_HREF');
  });

  test('terminate errors with only code and title are kept', () => {
    const body = JSON.parse(raw('cap1-uic-terminate-138021.json')) as WhatsAppWebhookPayload;
    const change = body.entry[0]?.changes[0];
    assert.ok(change && change.field === 'calls');
    const value = change.value as { calls: { errors?: unknown }[]; errors?: unknown };
    const call = value.calls[0];
    assert.ok(call);
    call.errors = [{ code: 138021, title: 'No media for a long time.' }];
    delete value.errors;
    const e = parseWebhookBody(body).events[0] as CallTerminateEvent;
    assert.deepEqual(e.errors, [
      {
        code: 138021,
        title: 'No media for a long time.',
        message: undefined,
        details: undefined,
        href: undefined,
      },
    ]);
  });

  test('call statuses RINGING, ACCEPTED and REJECTED parse with distinct dedupe keys', () => {
    const keys = new Set<string>();
    for (const status of ['RINGING', 'ACCEPTED', 'REJECTED'] as const) {
      const e: CallStatusEvent = single(
        `ref-call-status-${status.toLowerCase()}.json`,
        'call_status',
      );
      assert.equal(e.status, status);
      assert.equal(e.callId, 'wacid.ABGGFjFVU2AfAgo6V');
      assert.equal(e.recipientId, '163155536021');
      assert.equal(e.bizOpaqueCallbackData, 'random_string');
      assert.equal(e.timestamp, 1671644824);
      keys.add(e.dedupeKey);
    }
    assert.equal(keys.size, 3);
  });

  test('phases order connect, ringing, pickup and terminate of one call', () => {
    const connect = single('ref-bic-connect.json', 'call_connect');
    const ringing = single('ref-call-status-ringing.json', 'call_status');
    const accepted = single('ref-call-status-accepted.json', 'call_status');
    const terminate = single('ref-bic-terminate.json', 'call_terminate');
    assert.deepEqual([connect, ringing, accepted, terminate].map(callEventPhase), [0, 1, 2, 3]);
  });
});

describe('duplicates', () => {
  test('redelivered webhooks produce the same dedupe keys', () => {
    for (const name of [
      'cap1-uic-connect.json',
      'cap1-uic-terminate-138021.json',
      'ref-call-status-accepted.json',
      'permission-reply-temporary-accept.json',
      'messages-text.json',
    ]) {
      const first = parseWebhookRawBody(raw(name)).events.map((e) => e.dedupeKey);
      const again = parseWebhookRawBody(raw(name)).events.map((e) => e.dedupeKey);
      assert.deepEqual(first, again, name);
      assert.equal(first.length, 1, name);
    }
  });

  test('connect and terminate of the same call have different keys', () => {
    const c = single('cap1-uic-connect.json', 'call_connect');
    const t = single('cap1-uic-terminate-138021.json', 'call_terminate');
    assert.equal(c.callId, t.callId);
    assert.notEqual(c.dedupeKey, t.dedupeKey);
  });
});

describe('call permission replies', () => {
  test('all six documented scenarios parse', () => {
    const cases: [string, Partial<CallPermissionReplyEvent>][] = [
      [
        'temporary-accept',
        {
          response: 'accept',
          isPermanent: false,
          expirationTimestamp: 1768550400,
          responseSource: 'user_action',
          contextId: 'wamid.gBGGFlaCmZ9plHrf2Mh-o',
          callId: undefined,
        },
      ],
      [
        'permanent-accept',
        { response: 'accept', isPermanent: true, expirationTimestamp: undefined },
      ],
      [
        'permanent-accept-from-profile',
        { response: 'accept', isPermanent: true, contextId: undefined },
      ],
      ['reject', { response: 'reject', isPermanent: false, responseSource: 'user_action' }],
      [
        'automatic-callback-accept',
        {
          response: 'accept',
          responseSource: 'automatic',
          callId: 'wacid.ABGGFjFVU2AfAgo6V-Hc5eCgK5Gh',
        },
      ],
      [
        'automatic-revoke',
        { response: 'reject', responseSource: 'automatic', contextId: undefined },
      ],
    ];
    for (const [scenario, expected] of cases) {
      const e = single(`permission-reply-${scenario}.json`, 'call_permission_reply');
      assert.equal(e.from, '16315553601', scenario);
      assert.equal(e.timestamp, 1767168000, scenario);
      assert.equal(e.field, 'messages', scenario);
      for (const [key, value] of Object.entries(expected)) {
        assert.deepEqual(e[key as keyof CallPermissionReplyEvent], value, `${scenario}.${key}`);
      }
    }
  });
});

describe('other fields and bad input', () => {
  test('an ordinary message is passed on as an other event with its value', () => {
    const e: OtherWebhookEvent = single('messages-text.json', 'other');
    assert.equal(e.field, 'messages');
    assert.equal(e.phoneNumberId, '518638374672395');
    assert.match(e.dedupeKey, /^other:messages:[0-9a-f]{32}$/);
    assert.equal(
      (e.value as { messages: { text: { body: string } }[] }).messages[0]?.text.body,
      'Hello, can you call me?',
    );
  });

  test('unknown fields and unknown call events become other events', () => {
    const body = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: '1',
          changes: [
            { field: 'account_settings_update', value: { type: 'PHONE_NUMBER_SETTINGS' } },
            {
              field: 'calls',
              value: {
                messaging_product: 'whatsapp',
                metadata: { phone_number_id: '2', display_phone_number: '3' },
                calls: [{ id: 'wacid.X', event: 'call_created', timestamp: '5', future_field: 1 }],
              },
            },
          ],
        },
      ],
    };
    const { events, problems } = parseWebhookBody(body);
    assert.deepEqual(problems, []);
    assert.deepEqual(
      events.map((e) => [e.kind, e.field, (e as OtherWebhookEvent).reason]),
      [
        ['other', 'account_settings_update', 'field "account_settings_update"'],
        ['other', 'calls', 'call event "call_created"'],
      ],
    );
  });

  test('one malformed call does not hide the valid ones next to it', () => {
    const body = JSON.parse(raw('cap1-uic-connect.json')) as {
      entry: { changes: { value: { calls: unknown[] } }[] }[];
    };
    body.entry[0]?.changes[0]?.value.calls.unshift(
      { event: 'connect', timestamp: '1' },
      { id: 'wacid.Y', event: 'connect', timestamp: '1', session: { sdp_type: 'bogus' } },
      'not an object',
    );
    const { events, problems } = parseWebhookBody(body);
    const connects = events.filter((e) => e.kind === 'call_connect');
    assert.equal(connects.length, 1);
    assert.ok(problems.length >= 3, JSON.stringify(problems));
    assert.ok(problems.every((p) => p.path.startsWith('entry[0].changes[0].value.calls[')));
  });

  test('garbage bodies give problems, never exceptions', () => {
    const bodies: unknown[] = [
      null,
      'text',
      42,
      [],
      {},
      { object: 'page', entry: [] },
      { object: 'whatsapp_business_account' },
      {
        object: 'whatsapp_business_account',
        entry: [null, { changes: 'x' }, { changes: [1, {}] }],
      },
      {
        object: 'whatsapp_business_account',
        entry: [
          { changes: [{ field: 'calls', value: { calls: 'x', statuses: [{ type: 'call' }] } }] },
        ],
      },
      {
        object: 'whatsapp_business_account',
        entry: [
          {
            changes: [
              {
                field: 'messages',
                value: { messages: [{ interactive: { type: 'call_permission_reply' } }] },
              },
            ],
          },
        ],
      },
    ];
    for (const body of bodies) {
      const result = parseWebhookBody(body);
      assert.ok(result.problems.length > 0, JSON.stringify(body));
    }
    assert.deepEqual(parseWebhookRawBody('{not json').problems, [
      { path: '$', message: 'body is not valid JSON' },
    ]);
  });

  test('a payload built with the raw webhook types parses into the expected event', () => {
    const payload: WhatsAppWebhookPayload = {
      object: 'whatsapp_business_account',
      entry: [
        {
          id: 'waba-1',
          changes: [
            {
              field: 'calls',
              value: {
                messaging_product: 'whatsapp',
                metadata: { display_phone_number: '15550001111', phone_number_id: '123' },
                contacts: [{ profile: { name: 'Ann' }, wa_id: '15552223333' }],
                calls: [
                  {
                    id: 'wacid.built',
                    from: '15552223333',
                    to: '15550001111',
                    event: 'terminate',
                    timestamp: '1700000100',
                    direction: 'USER_INITIATED',
                    status: 'COMPLETED',
                    start_time: '1700000000',
                    end_time: '1700000100',
                    duration: 100,
                  },
                ],
              },
            },
          ],
        },
      ],
    };
    const { events, problems } = parseWebhookRawBody(JSON.stringify(payload));
    assert.deepEqual(problems, []);
    const e = events[0] as CallTerminateEvent;
    assert.equal(e.kind, 'call_terminate');
    assert.equal(e.contact?.name, 'Ann');
    assert.equal(e.durationSeconds, 100);
    assert.deepEqual(e.errors, []);
  });
});
