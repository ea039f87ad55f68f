/**
 * Regions of a cluster: each instance names its region (`REGION`), and a call's
 * `destination_country` names the region it should run in through a country → region map. The
 * default map groups countries by continent into six regions; `REGION_MAP` (or the file's
 * `regions.map`) overrides single countries. See the README's "Regions" section.
 */
import { z } from 'zod';
import { ConfigError } from './config-error.js';

/** The regions of the default map (continents). */
export const DEFAULT_REGIONS = ['af', 'as', 'eu', 'na', 'oc', 'sa'] as const;

/**
 * ISO 3166-1 alpha-2 codes per default region. Countries on two continents go where their
 * network paths usually go (Turkey, Cyprus and Russia: eu; Egypt: af). Remote territories go with
 * the nearest mainland region.
 */
const CONTINENTS: Record<(typeof DEFAULT_REGIONS)[number], string> = {
  af:
    'AO BF BI BJ BW CD CF CG CI CM CV DJ DZ EG EH ER ET GA GH GM GN GQ GW KE KM LR LS LY MA MG ' +
    'ML MR MU MW MZ NA NE NG RE RW SC SD SH SL SN SO SS ST SZ TD TF TG TN TZ UG YT ZA ZM ZW',
  as:
    'AE AF AM AZ BD BH BN BT CN GE HK ID IL IN IO IQ IR JO JP KG KH KP KR KW KZ LA LB LK MM MN ' +
    'MO MV MY NP OM PH PK PS QA SA SG SY TH TJ TL TM TW UZ VN YE',
  eu:
    'AD AL AT AX BA BE BG BY CH CY CZ DE DK EE ES FI FO FR GB GG GI GR HR HU IE IM IS IT JE LI ' +
    'LT LU LV MC MD ME MK MT NL NO PL PT RO RS RU SE SI SJ SK SM TR UA VA',
  na:
    'AG AI AW BB BL BM BQ BS BZ CA CR CU CW DM DO GD GL GP GT HN HT JM KN KY LC MF MQ MS MX NI ' +
    'PA PM PR SV SX TC TT UM US VC VG VI',
  oc: 'AQ AS AU CC CK CX FJ FM GU HM KI MH MP NC NF NR NU NZ PF PG PN PW SB TK TO TV VU WF WS',
  sa: 'AR BO BR BV CL CO EC FK GF GS GY PE PY SR UY VE',
};

/** The default country → region map (every assigned ISO 3166-1 alpha-2 code). */
export const DEFAULT_REGION_MAP: Readonly<Record<string, string>> = Object.freeze(
  Object.fromEntries(
    Object.entries(CONTINENTS).flatMap(([region, codes]) =>
      codes.split(' ').map((code) => [code, region]),
    ),
  ),
);

/** Regional placement settings (`Config.regions`). */
export interface RegionSettings {
  /** This instance's region, e.g. `eu`. Unset: no region (`REGION`). */
  region: string | undefined;
  /**
   * Region of calls whose `destination_country` is unset or not in the map. Unset: such calls
   * have no preferred region and run where there is room, this instance first (`DEFAULT_REGION`).
   */
  defaultRegion: string | undefined;
  /** Country (ISO 3166-1 alpha-2, upper case) → region: the default map with the overrides. */
  map: Readonly<Record<string, string>>;
}

/** The `regions` section of the configuration file. */
export const regionsFileSchema = z
  .object({
    /** This instance's region (`REGION`). */
    region: z.string().optional(),
    /** Region of calls without a mapped destination country (`DEFAULT_REGION`). */
    default_region: z.string().optional(),
    /** Country → region overrides of the default map (`REGION_MAP`). */
    map: z.record(z.string(), z.string()).optional(),
  })
  .strict();

const REGION_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const COUNTRY = /^[A-Z]{2}$/;

function regionName(setting: string, value: string): string {
  const v = value.trim().toLowerCase();
  if (!REGION_NAME.test(v)) {
    throw new ConfigError(
      setting,
      `expected a region name (lower-case letters, digits and "-", e.g. eu or us-east), got ${JSON.stringify(value)}`,
    );
  }
  return v;
}

/** `REGION_MAP`: `BR=sa,IN=in-west` (country=region pairs, commas or newlines between). */
export function parseRegionMap(setting: string, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(/[,\n]/)) {
    const entry = part.trim();
    if (!entry) continue;
    const idx = entry.indexOf('=');
    if (idx <= 0) {
      throw new ConfigError(
        setting,
        `expected COUNTRY=region pairs (e.g. BR=sa), got ${JSON.stringify(entry)}`,
      );
    }
    Object.assign(out, mapEntry(setting, entry.slice(0, idx), entry.slice(idx + 1)));
  }
  return out;
}

function mapEntry(setting: string, country: string, region: string): Record<string, string> {
  const code = country.trim().toUpperCase();
  if (!COUNTRY.test(code)) {
    throw new ConfigError(
      setting,
      `expected an ISO 3166-1 alpha-2 country code, got ${JSON.stringify(country)}`,
    );
  }
  return { [code]: regionName(setting, region) };
}

/** Read the region settings: environment over the file's `regions` section. */
export function loadRegionSettings(
  env: NodeJS.ProcessEnv,
  file: z.infer<typeof regionsFileSchema> | undefined,
): RegionSettings {
  const regionRaw = env.REGION || file?.region;
  const defaultRaw = env.DEFAULT_REGION || file?.default_region;
  const overrides: Record<string, string> = {};
  for (const [country, region] of Object.entries(file?.map ?? {})) {
    Object.assign(overrides, mapEntry('regions.map', country, region));
  }
  if (env.REGION_MAP) Object.assign(overrides, parseRegionMap('REGION_MAP', env.REGION_MAP));
  return {
    region: regionRaw ? regionName('REGION', regionRaw) : undefined,
    defaultRegion: defaultRaw ? regionName('DEFAULT_REGION', defaultRaw) : undefined,
    map: Object.freeze({ ...DEFAULT_REGION_MAP, ...overrides }),
  };
}

/** The region a call for `country` should run in; undefined: no preference. */
export function regionOfCountry(
  settings: Pick<RegionSettings, 'map' | 'defaultRegion'>,
  country: string | undefined,
): string | undefined {
  const mapped = country ? settings.map[country.trim().toUpperCase()] : undefined;
  return mapped ?? settings.defaultRegion;
}
