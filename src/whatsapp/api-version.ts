import { ConnectorError } from '../errors/connector-error.js';

/**
 * Cloud API (Graph) versions this connector is tested against. Meta's calling reference offers
 * v23.0–v25.0; older versions still answer but are not supported here so that request and webhook
 * shapes stay the ones documented for calling.
 */
export const SUPPORTED_CLOUD_API_VERSIONS = ['23.0', '24.0', '25.0'] as const;

export type CloudApiVersion = (typeof SUPPORTED_CLOUD_API_VERSIONS)[number];

/** Version used when a request does not name one. */
export const DEFAULT_CLOUD_API_VERSION: CloudApiVersion = '24.0';

const VERSION_PATTERN = /^v?(\d+)\.(\d+)$/i;

/**
 * Accepts "v24.0", "24.0" (and "24" as shorthand for "24.0"), trimmed; returns the canonical
 * "24.0" or undefined when the input is not a supported version.
 */
export function normaliseCloudApiVersion(v: string): string | undefined {
  if (typeof v !== 'string') return undefined;
  const trimmed = v.trim();
  const withMinor = /^v?\d+$/i.test(trimmed) ? `${trimmed}.0` : trimmed;
  const match = VERSION_PATTERN.exec(withMinor);
  if (!match) return undefined;
  const canonical = `${Number(match[1])}.${Number(match[2])}`;
  return (SUPPORTED_CLOUD_API_VERSIONS as readonly string[]).includes(canonical)
    ? canonical
    : undefined;
}

/**
 * Path segment for a version: "24.0" / "v24.0" → "v24.0".
 * @throws ConnectorError `invalid_argument` when the version is not supported.
 */
export function graphVersionPath(v: string): string {
  const canonical = normaliseCloudApiVersion(v);
  if (canonical === undefined) {
    throw new ConnectorError(
      'invalid_argument',
      `unsupported WhatsApp Cloud API version "${String(v)}" (supported: ${SUPPORTED_CLOUD_API_VERSIONS.join(', ')})`,
    );
  }
  return `v${canonical}`;
}
