import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ConfigError,
  DEFAULT_ADMISSION_MAX_CPU,
  DEFAULT_ADMISSION_MAX_EVENT_LOOP_LAG_MS,
  DEFAULT_MAX_CONCURRENT_CALLS,
  DEFAULT_REGION_MAP,
  DEFAULT_REGIONS,
  MIN_API_SECRET_LENGTH,
  loadConfig,
  regionOfCountry,
} from '../../../src/config/index.js';
import { ISO_3166_ALPHA2_CODES } from '../../../src/connector/iso-country-codes.js';

const base = { LIVEKIT_API_KEY: 'APIkey', LIVEKIT_API_SECRET: 'x'.repeat(MIN_API_SECRET_LENGTH) };
const dir = mkdtempSync(join(tmpdir(), 'wac-regions-'));

function refusal(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  assert.fail('expected a ConfigError');
}

test('the default region map puts every ISO 3166-1 country in one of the six continent regions', () => {
  for (const code of ISO_3166_ALPHA2_CODES) {
    const region = DEFAULT_REGION_MAP[code];
    assert.ok(region !== undefined, `${code} has no region`);
    assert.ok((DEFAULT_REGIONS as readonly string[]).includes(region), `${code} → ${region}`);
  }
  assert.equal(Object.keys(DEFAULT_REGION_MAP).length, ISO_3166_ALPHA2_CODES.size);
  assert.equal(DEFAULT_REGION_MAP.DE, 'eu');
  assert.equal(DEFAULT_REGION_MAP.BR, 'sa');
  assert.equal(DEFAULT_REGION_MAP.US, 'na');
  assert.equal(DEFAULT_REGION_MAP.IN, 'as');
  assert.equal(DEFAULT_REGION_MAP.NG, 'af');
  assert.equal(DEFAULT_REGION_MAP.AU, 'oc');
});

test('without region settings an instance has no region and calls no preferred region', () => {
  const { regions } = loadConfig({ env: base });
  assert.equal(regions.region, undefined);
  assert.equal(regions.defaultRegion, undefined);
  assert.equal(regionOfCountry(regions, 'DE'), 'eu');
  assert.equal(regionOfCountry(regions, undefined), undefined);
});

test('REGION_MAP overrides single countries; DEFAULT_REGION takes calls without a country', () => {
  const { regions } = loadConfig({
    env: { ...base, REGION: 'SA', REGION_MAP: 'br=br-east, IN=in-west', DEFAULT_REGION: 'eu' },
  });
  assert.equal(regions.region, 'sa');
  assert.equal(regionOfCountry(regions, 'BR'), 'br-east');
  assert.equal(regionOfCountry(regions, 'in'), 'in-west');
  assert.equal(regionOfCountry(regions, 'AR'), 'sa');
  assert.equal(regionOfCountry(regions, undefined), 'eu');
});

test('the file has a regions section; the environment wins', () => {
  const path = join(dir, 'regions.yaml');
  writeFileSync(
    path,
    'regions:\n  region: eu\n  default_region: na\n  map:\n    MX: mx\n    CA: mx\n',
  );
  const fromFile = loadConfig({ env: base, configFile: path }).regions;
  assert.equal(fromFile.region, 'eu');
  assert.equal(regionOfCountry(fromFile, 'MX'), 'mx');
  assert.equal(regionOfCountry(fromFile, 'XX'), 'na');
  const overridden = loadConfig({
    env: { ...base, REGION: 'na', REGION_MAP: 'CA=na' },
    configFile: path,
  }).regions;
  assert.equal(overridden.region, 'na');
  assert.equal(regionOfCountry(overridden, 'CA'), 'na');
  assert.equal(regionOfCountry(overridden, 'MX'), 'mx');
});

test('bad region settings are refused naming the setting', () => {
  assert.match(
    refusal(() => loadConfig({ env: { ...base, REGION: 'eu west' } })).message,
    /REGION/,
  );
  assert.match(
    refusal(() => loadConfig({ env: { ...base, REGION_MAP: 'Germany=eu' } })).message,
    /REGION_MAP.*country code/,
  );
  assert.match(
    refusal(() => loadConfig({ env: { ...base, REGION_MAP: 'DE' } })).message,
    /REGION_MAP.*COUNTRY=region/,
  );
});

test('admission control is on by default with documented limits; the settings are read and checked', () => {
  const defaults = loadConfig({ env: base }).admission;
  assert.deepEqual(defaults, {
    enabled: true,
    maxEventLoopLagMs: DEFAULT_ADMISSION_MAX_EVENT_LOOP_LAG_MS,
    maxCpu: DEFAULT_ADMISSION_MAX_CPU,
  });
  const set = loadConfig({
    env: {
      ...base,
      ADMISSION_CONTROL: 'off',
      ADMISSION_MAX_EVENT_LOOP_LAG_MS: '40',
      ADMISSION_MAX_CPU: '0.75',
    },
  }).admission;
  assert.deepEqual(set, { enabled: false, maxEventLoopLagMs: 40, maxCpu: 0.75 });
  assert.match(
    refusal(() => loadConfig({ env: { ...base, ADMISSION_MAX_CPU: '90' } })).message,
    /ADMISSION_MAX_CPU.*share of one core/,
  );
  assert.match(
    refusal(() => loadConfig({ env: { ...base, ADMISSION_CONTROL: 'maybe' } })).message,
    /ADMISSION_CONTROL/,
  );
  const path = join(dir, 'admission.yaml');
  writeFileSync(path, 'admission:\n  enabled: false\n  max_cpu: 0.5\n');
  assert.deepEqual(loadConfig({ env: base, configFile: path }).admission, {
    enabled: false,
    maxEventLoopLagMs: DEFAULT_ADMISSION_MAX_EVENT_LOOP_LAG_MS,
    maxCpu: 0.5,
  });
});

test('the default call limit is 20 calls', () => {
  assert.equal(DEFAULT_MAX_CONCURRENT_CALLS, 20);
  assert.equal(loadConfig({ env: base }).calls.maxConcurrentCalls, 20);
  assert.equal(
    loadConfig({ env: { ...base, MAX_CONCURRENT_CALLS: '3' } }).calls.maxConcurrentCalls,
    3,
  );
});
