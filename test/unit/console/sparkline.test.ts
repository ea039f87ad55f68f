import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sparkline } from '../../../src/console/sparkline.js';

const options = { width: 100, height: 20, slots: 11, label: 'loss & jitter' };

function points(svg: string, cls: string): string[] {
  return [...svg.matchAll(new RegExp(`class="${cls}" points="([^"]*)"`, 'g'))].map((m) => m[1]!);
}

test('the newest value is at the right edge, one slot apart, scaled to the larger of floor and maximum', () => {
  const svg = sparkline([{ values: [0, 5, 10], className: 'a', floor: 5 }], options).text;
  // Slot width 10; the top (y = 1.5) stands for 10, the baseline (y = 18.5) for 0.
  assert.deepEqual(points(svg, 'a'), ['80.0,18.5 90.0,10.0 100.0,1.5']);
});

test('small values stay low: the floor sets the top', () => {
  const svg = sparkline([{ values: [1, 1], className: 'a', floor: 4 }], options).text;
  assert.deepEqual(points(svg, 'a'), ['90.0,14.3 100.0,14.3']);
});

test('unknown values break the line; a lone point becomes a dot', () => {
  const svg = sparkline(
    [{ values: [1, undefined, 2, 3, undefined, 4], className: 'a', floor: 4 }],
    options,
  ).text;
  assert.equal(points(svg, 'a').length, 1);
  assert.equal((svg.match(/<circle\s+class="a"/g) ?? []).length, 2);
});

test('the label is the accessible name and the tooltip, escaped', () => {
  const svg = sparkline([], options).text;
  assert.match(svg, /role="img"\s+aria-label="loss &amp; jitter"/);
  assert.match(svg, /<title>loss &amp; jitter<\/title>/);
});
