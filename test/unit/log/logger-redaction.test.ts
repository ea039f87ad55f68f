import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import {
  createLogger,
  maskDigits,
  maskEmbeddedPhoneNumbers,
  redactLogValue,
  redactPhone,
} from '../../../src/log/index.js';

function capture(redactPhoneNumbers?: boolean) {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  const logger = createLogger({
    destination,
    level: 'info',
    ...(redactPhoneNumbers === undefined ? {} : { redactPhoneNumbers }),
  });
  return { logger, lines, text: () => lines.join('') };
}

test('secrets are never printed, at the top level or one level down', () => {
  const { logger, text } = capture();
  logger.info(
    {
      apiSecret: 'S3CRET',
      token: 'eyJhbGc',
      call: { whatsappApiKey: 'EAAG-key', access_token: 'tok' },
    },
    'x',
  );
  const out = text();
  for (const s of ['S3CRET', 'eyJhbGc', 'EAAG-key', '"tok"'])
    assert.ok(!out.includes(s), `${s} leaked: ${out}`);
  assert.match(out, /\[REDACTED\]/);
});

test('secrets are censored at any depth, inside arrays, and in child bindings', () => {
  const { logger, text } = capture();
  const deep = { a: { b: { c: { d: { e: { appSecret: 'DEEP-SECRET-5' } } } } } };
  const child = logger.child({ request: { headers: { Authorization: 'Bearer BOUND-JWT' } } });
  child.info(
    {
      deep,
      numbers: [{ phone_number_id: '1065', access_token: 'EAAG-IN-ARRAY' }],
      api_keys: { APIkey: 'KEYLIST-SECRET' },
      credentials: { apiKey: 'k', apiSecret: 'CRED-SECRET' },
    },
    'nested',
  );
  const out = text();
  for (const s of [
    'DEEP-SECRET-5',
    'BOUND-JWT',
    'EAAG-IN-ARRAY',
    'KEYLIST-SECRET',
    'CRED-SECRET',
  ]) {
    assert.ok(!out.includes(s), `${s} leaked: ${out}`);
  }
  // What is not secret stays readable.
  assert.match(out, /"phone_number_id":"1065"/);
  // The caller's object is not modified.
  assert.equal(deep.a.b.c.d.e.appSecret, 'DEEP-SECRET-5');
});

test('a redis URL logged in a field keeps its host but not its password', () => {
  const { logger, text } = capture();
  logger.warn({ redisUrl: 'redis://:hunter2-pw@10.0.0.5:6379/0', target: 'https://x.example/a' });
  const out = text();
  assert.ok(!out.includes('hunter2-pw'), out);
  assert.match(out, /redis:\/\/:\*\*\*@10\.0\.0\.5:6379/);
  assert.match(out, /https:\/\/x\.example\/a/);
});

test('secrets in an error and its cause are censored, and the error stays readable', () => {
  const { logger, text } = capture();
  const err = Object.assign(new Error('graph call failed'), {
    request: { accessToken: 'EAAG-ERR-TOKEN' },
  });
  logger.error({ err, attempt: 2 }, 'failed');
  const out = text();
  assert.ok(!out.includes('EAAG-ERR-TOKEN'), out);
  assert.match(out, /graph call failed/);
  assert.match(out, /"stack":"Error: graph call failed/);
});

test('deeply nested and circular values are cut instead of walked forever', () => {
  type Node = { next?: Node; self?: unknown };
  const root: Node = {};
  let cur = root;
  for (let i = 0; i < 30; i++) cur = cur.next = {};
  const loop: Node = {};
  loop.self = loop;
  const out = JSON.stringify(redactLogValue({ root, loop }, { maskPhoneNumbers: true }));
  assert.match(out, /\[Object\]/);
  assert.match(out, /\[Circular\]/);
});

test('phone numbers are masked by default and kept when redaction is off', () => {
  const a = capture();
  a.logger.info({ from: '+15551234567', call: { to: '15557654321' } }, 'call');
  const masked = a.text();
  assert.ok(!masked.includes('5551234567') && !masked.includes('5557654321'), masked);
  assert.match(masked, /"from":"\+1555\*\*\*\*\*67"/);
  const b = capture(false);
  b.logger.info({ from: '+15551234567' }, 'call');
  assert.match(b.text(), /15551234567/);
});

test('phone numbers inside room names and participant identities are masked', () => {
  const { logger, text } = capture();
  const child = logger.child({ roomName: 'support-4915112345678' });
  child.info(
    {
      participantIdentity: 'whatsapp_4915112345678',
      call: { room: 'sales-+15551234567-vip', identity: 'agent-7' },
    },
    'joined',
  );
  const out = text();
  assert.ok(!out.includes('4915112345678') && !out.includes('15551234567'), out);
  assert.match(out, /"roomName":"support-49151\*\*\*\*\*\*78"/);
  assert.match(out, /"participantIdentity":"whatsapp_49151\*\*\*\*\*\*78"/);
  assert.match(out, /"room":"sales-\+1555\*\*\*\*\*67-vip"/);
  // Short digit runs are not phone numbers.
  assert.match(out, /"identity":"agent-7"/);
});

test('state transitions logged as from/to are not mangled by phone masking', () => {
  const { logger, text } = capture();
  logger.info({ from: 'ringing', to: 'active' }, 'state');
  assert.match(text(), /"from":"ringing","to":"active"/);
});

test('masking keeps a prefix and the last two digits and always hides at least five', () => {
  assert.equal(maskDigits('4915112345678'), '49151******78');
  assert.equal(maskDigits('15551234567'), '1555*****67');
  assert.equal(maskDigits('12345678'), '1*****78');
  assert.equal(maskDigits('1234567'), '*****67');
  assert.equal(maskDigits('1234'), '****');
  assert.equal(redactPhone('+1 (555) 123-4567'), '+1555*****67');
  assert.equal(maskEmbeddedPhoneNumbers('room-20260101123456789-x'), 'room-20260101123456789-x');
});
