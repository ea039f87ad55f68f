import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isWithinBusinessHours } from '../../../src/gateway/business-hours.js';
import type { BusinessHours } from '../../../src/gateway/gateway-config.js';

const berlinOffice: BusinessHours = {
  timezone: 'Europe/Berlin',
  open: [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], from: '09:00', to: '17:00' }],
  outsideHours: 'reject',
};

test('hours are read on the business’s own clock, including daylight saving time', () => {
  // Wednesday 2026-07-15 07:30 UTC is 09:30 in Berlin (CEST, UTC+2): open.
  assert.equal(isWithinBusinessHours(berlinOffice, new Date('2026-07-15T07:30:00Z')), true);
  // Wednesday 2026-01-14 07:30 UTC is 08:30 in Berlin (CET, UTC+1): not yet open.
  assert.equal(isWithinBusinessHours(berlinOffice, new Date('2026-01-14T07:30:00Z')), false);
});

test('the closing minute is outside, the opening minute inside', () => {
  assert.equal(isWithinBusinessHours(berlinOffice, new Date('2026-07-15T07:00:00Z')), true);
  assert.equal(isWithinBusinessHours(berlinOffice, new Date('2026-07-15T15:00:00Z')), false);
});

test('the weekday is the local one, not UTC’s', () => {
  const tokyo: BusinessHours = {
    timezone: 'Asia/Tokyo',
    open: [{ days: ['sat'], from: '00:00', to: '24:00' }],
    outsideHours: 'reject',
  };
  // Friday 2026-07-17 20:00 UTC is Saturday 05:00 in Tokyo.
  assert.equal(isWithinBusinessHours(tokyo, new Date('2026-07-17T20:00:00Z')), true);
  assert.equal(isWithinBusinessHours(tokyo, new Date('2026-07-17T10:00:00Z')), false);
});
