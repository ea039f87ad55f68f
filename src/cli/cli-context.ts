import { AccessToken, ConnectorClient } from 'livekit-server-sdk';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import type { CallSummary } from '../calls/whatsapp-call.js';
import { CALLS_ENDPOINT_PATH, type CallsListing } from '../gateway/calls-endpoint.js';
import { loadGatewaySettings, type GatewaySettings } from '../gateway/gateway-config.js';

/** Exit codes: 0 ok, 1 failure, 2 bad usage or configuration, 3 no call permission. */
export const EXIT_FAILURE = 1;
export const EXIT_USAGE = 2;
export const EXIT_NO_PERMISSION = 3;

/** A failure the CLI reports as one line and an exit code (no stack trace). */
export class CliError extends Error {
  override readonly name = 'CliError';
  constructor(
    message: string,
    readonly exitCode: number = EXIT_FAILURE,
  ) {
    super(message);
  }
}

/** Options every client command (talking to a running connector) accepts. */
export interface ConnectorClientOptions {
  /** Base URL of the running connector. */
  url?: string;
}

/** Configuration for a CLI command: file from `-c`, then the environment. */
export function cliConfig(configFile: string | undefined): {
  config: Config;
  gateway: GatewaySettings;
} {
  try {
    const config = loadConfig({ configFile });
    return { config, gateway: loadGatewaySettings(config) };
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT_USAGE);
    throw err;
  }
}

/** URL of the running connector: `--url`, `WHATSAPP_CONNECTOR_URL`, else the configured port on loopback. */
export function connectorUrl(config: Config, url: string | undefined): string {
  const raw = url ?? process.env.WHATSAPP_CONNECTOR_URL ?? `http://127.0.0.1:${config.port}`;
  try {
    const parsed = new URL(raw);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new CliError(`not an http(s) URL: ${JSON.stringify(raw)}`, EXIT_USAGE);
  }
  return raw.replace(/\/+$/, '');
}

/** Connector API client authenticated with the configured LiveKit key. */
export function connectorClient(config: Config, url: string): ConnectorClient {
  return new ConnectorClient(url, config.livekit.apiKey, config.livekit.apiSecret);
}

/** `GET /api/calls` of the running connector. */
export async function listCalls(config: Config, url: string, all: boolean): Promise<CallSummary[]> {
  const token = new AccessToken(config.livekit.apiKey, config.livekit.apiSecret, { ttl: 60 });
  token.addGrant({ roomCreate: true });
  let res: Response;
  try {
    res = await fetch(`${url}${CALLS_ENDPOINT_PATH}${all ? '?all=true' : ''}`, {
      headers: { Authorization: `Bearer ${await token.toJwt()}` },
    });
  } catch (err) {
    throw unreachable(url, err);
  }
  if (!res.ok) {
    const text = await res.text().catch(() => '');
    throw new CliError(`the connector answered HTTP ${res.status}: ${text.slice(0, 200)}`);
  }
  return ((await res.json()) as CallsListing).calls;
}

/** The error for a connector that cannot be reached. */
export function unreachable(url: string, err: unknown): CliError {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : '';
  return new CliError(
    `cannot reach the connector at ${url}${cause ? ` (${cause})` : ''}: is "whatsapp-connector serve" running? (set --url or WHATSAPP_CONNECTOR_URL)`,
  );
}

/** Turn a Connector API failure into a one-line CLI error. */
export function apiFailure(what: string, url: string, err: unknown): CliError {
  if (err instanceof CliError) return err;
  const e = err as { message?: string; code?: string; name?: string; cause?: unknown };
  if (e.name === 'TypeError' && /fetch failed/.test(e.message ?? '')) return unreachable(url, err);
  return new CliError(`${what} failed: ${e.message ?? String(err)}${e.code ? ` (${e.code})` : ''}`);
}

/** "1m 05s" */
export function formatDuration(seconds: number): string {
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, '0')}m`;
}
