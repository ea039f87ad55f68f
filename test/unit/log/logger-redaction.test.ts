import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Writable } from 'node:stream';
import { createLogger, redactPhone } from '../../../src/log/index.js';

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
  return { logger, lines };
}

test('secrets are never printed, at the top level or one level down', () => {
  const { logger, lines } = capture();
  logger.info(
    {
      apiSecret: 'S3CRET',
      token: 'eyJhbGc',
      call: { whatsappApiKey: 'EAAG-key', access_token: 'tok' },
    },
    'x',
  );
  const out = lines.join('');
  for (const s of ['S3CRET', 'eyJhbGc', 'EAAG-key', '"tok"'])
    assert.ok(!out.includes(s), `${s} leaked: ${out}`);
  assert.match(out, /\[REDACTED\]/);
});

test('phone numbers are masked by default and kept when redaction is off', () => {
  const a = capture();
  a.logger.info({ from: '+15551234567', call: { to: '15557654321' } }, 'call');
  const masked = a.lines.join('');
  assert.ok(!masked.includes('5551234567') && !masked.includes('5557654321'), masked);
  assert.match(masked, /\*\*\*567/);
  const b = capture(false);
  b.logger.info({ from: '+15551234567' }, 'call');
  assert.match(b.lines.join(''), /15551234567/);
});

test('redactPhone keeps only the last three digits', () => {
  assert.equal(redactPhone('+1 (555) 123-4567'), '***567');
  assert.equal(redactPhone('12'), '***');
});
