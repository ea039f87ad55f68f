import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  formatDuration,
  formatLevel,
  formatMs,
  formatPercent,
  shortId,
} from '../../../src/console/format.js';

test('call ids that share their start and end still get different short tags', () => {
  const a =
    'wacid.HBgNNDkxNTExMjM0OTAwNRUCABIYIDI0NzM0OUUyNzJEODNERTRGNzdCMEFGNUU3MTM4OTc0HBgLMTU1NTAwMDEyMzQVAgAVCgA=';
  const b =
    'wacid.HBgNNDkxNTExMjM0OTAwNRUCABIYIDk5OTk0OUUyNzJEODNERTRGNzdCMEFGNUU3MTM4OTc0HBgLMTU1NTAwMDEyMzQVAgAVCgA=';
  assert.match(shortId(a), /^wacid·[0-9a-f]{8}$/);
  assert.notEqual(shortId(a), shortId(b));
  assert.equal(shortId(a), shortId(a), 'stable');
  assert.equal(shortId('wacid.short'), 'wacid.short');
});

test('numbers read as an operator expects them', () => {
  assert.equal(formatDuration(5), '5s');
  assert.equal(formatDuration(65), '1m 05s');
  assert.equal(formatDuration(3725), '1h 02m');
  assert.equal(formatPercent(undefined), '—');
  assert.equal(formatPercent(2.345), '2.3 %');
  assert.equal(formatMs(12.25), '12.3 ms');
  assert.equal(formatLevel(-17.6), '−18 dBFS');
  assert.equal(formatLevel(Number.NEGATIVE_INFINITY), 'silent');
  assert.equal(formatLevel(undefined), '—');
});
