/**
 * What the client commands (`dial`, `calls`, `hangup`, `permissions`) share: the configuration,
 * the URL of the running connector, and its authenticated endpoints. Loaded only when such a
 * command runs; the heavy SDK only by the commands that place Twirp calls.
 */
import { request } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { SignJWT } from 'jose/jwt/sign';
import type { ConnectorClient } from 'livekit-server-sdk';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import type { CallsListing, ListedCall } from '../connector/calls-endpoint.js';
import type { GatewaySettings } from '../gateway/gateway-config.js';
import { CliError, EXIT_USAGE } from './cli-errors.js';

export { CliError, EXIT_FAILURE, EXIT_NO_PERMISSION, EXIT_USAGE } from './cli-errors.js';

/**
 * Path of the call listing on the internal listener (`src/connector/calls-endpoint.ts` serves it;
 * not imported from there, to keep its token verifier out of the CLI's start-up).
 */
const CALLS_PATH = '/api/calls';

/** How long a token the CLI signs for itself is valid, s. */
const CLI_TOKEN_TTL_SECONDS = 60;

/** Options every client command (talking to a running connector) accepts. */
export interface ConnectorClientOptions {
  /** Base URL of the running connector. */
  url?: string;
}

/** Configuration for a CLI command: file from `-c`, then the environment. */
export function cliConfig(configFile: string | undefined): Config {
  try {
    return loadConfig({ configFile });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT_USAGE);
    throw err;
  }
}

/** The gateway's view of the configuration (phone numbers and their tokens). */
export async function cliGatewaySettings(config: Config): Promise<GatewaySettings> {
  const { loadGatewaySettings } = await import('../gateway/gateway-config.js');
  try {
    return loadGatewaySettings(config);
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT_USAGE);
    throw err;
  }
}

/**
 * URL of the running connector's internal listener, which serves the Connector API and
 * `/api/calls`: `--url`, `WHATSAPP_CONNECTOR_URL`, else the configured internal address and port.
 */
export function connectorUrl(config: Config, url: string | undefined): string {
  const host = ['0.0.0.0', '::', ''].includes(config.internal.bindAddress)
    ? '127.0.0.1'
    : config.internal.bindAddress;
  const fallback = `http://${host.includes(':') ? `[${host}]` : host}:${config.internal.port}`;
  const raw = url ?? process.env.WHATSAPP_CONNECTOR_URL ?? fallback;
  try {
    const parsed = new URL(raw);
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw new Error('protocol');
  } catch {
    throw new CliError(`not an http(s) URL: ${JSON.stringify(raw)}`, EXIT_USAGE);
  }
  return raw.replace(/\/+$/, '');
}

/** Connector API client authenticated with the configured LiveKit key. */
export async function connectorClient(config: Config, url: string): Promise<ConnectorClient> {
  const { ConnectorClient } = await import('livekit-server-sdk');
  return new ConnectorClient(url, config.livekit.apiKey, config.livekit.apiSecret);
}

/**
 * An access token for the connector's own endpoints, as the LiveKit SDKs sign them: HS256 over the
 * API key's secret, `iss` = the key, with the `roomCreate` grant every Connector method needs.
 */
export function apiAccessToken(config: Config): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ video: { roomCreate: true } })
    .setProtectedHeader({ alg: 'HS256' })
    .setIssuer(config.livekit.apiKey)
    .setNotBefore(now)
    .setExpirationTime(now + CLI_TOKEN_TTL_SECONDS)
    .sign(new TextEncoder().encode(config.livekit.apiSecret));
}

interface HttpAnswer {
  status: number;
  body: string;
}

/** A GET with node's own client (fetch would load undici, a tenth of a second the CLI can keep). */
function httpGet(url: string, headers: Record<string, string>): Promise<HttpAnswer> {
  return httpSend(url, 'GET', headers, undefined, 10_000);
}

function httpSend(
  url: string,
  method: 'GET' | 'POST',
  headers: Record<string, string>,
  body: string | undefined,
  timeoutMs: number,
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const send = url.startsWith('https:') ? httpsRequest : request;
    const req = send(url, { method, headers, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
      );
      res.on('error', reject);
    });
    req.on('timeout', () =>
      req.destroy(new Error(`no answer within ${Math.round(timeoutMs / 1000)} s`)),
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** What a connector endpoint answered: its HTTP status and parsed JSON body (or undefined). */
export interface ConnectorJsonAnswer {
  status: number;
  body: Record<string, unknown> | undefined;
}

/**
 * An authenticated JSON `POST` to one of the running connector's endpoints (e.g.
 * `/api/calls/{id}/transfer`); any HTTP status is returned for the command to explain.
 */
export async function postConnectorJson(
  config: Config,
  url: string,
  path: string,
  body: unknown,
  timeoutMs = 30_000,
): Promise<ConnectorJsonAnswer> {
  const token = await apiAccessToken(config);
  let res: HttpAnswer;
  try {
    res = await httpSend(
      `${url}${path}`,
      'POST',
      { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
      JSON.stringify(body),
      timeoutMs,
    );
  } catch (err) {
    throw unreachable(url, err);
  }
  let parsed: Record<string, unknown> | undefined;
  try {
    const value: unknown = JSON.parse(res.body);
    parsed = value !== null && typeof value === 'object' ? (value as Record<string, unknown>) : {};
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed };
}

/**
 * An authenticated `GET` of one of the running connector's JSON endpoints on its internal
 * listener (`/api/calls`, `/api/webhooks`, `/api/permissions`).
 */
export async function getConnectorJson<T>(config: Config, url: string, path: string): Promise<T> {
  const token = await apiAccessToken(config);
  let res: HttpAnswer;
  try {
    res = await httpGet(`${url}${path}`, { Authorization: `Bearer ${token}` });
  } catch (err) {
    throw unreachable(url, err);
  }
  if (res.status !== 200) {
    const hint =
      res.status === 404
        ? ` (is this the internal listener? ${path.split('?')[0]} is served on INTERNAL_PORT)`
        : '';
    throw new CliError(
      `the connector answered HTTP ${res.status}: ${res.body.slice(0, 200)}${hint}`,
    );
  }
  return JSON.parse(res.body) as T;
}

/** `GET /api/calls` of the running connector: the calls of its whole cluster. */
export async function callsListing(
  config: Config,
  url: string,
  all: boolean,
): Promise<CallsListing> {
  const listing = await getConnectorJson<CallsListing>(
    config,
    url,
    `${CALLS_PATH}${all ? '?all=true' : ''}`,
  );
  return {
    calls: listing.calls,
    twilioCalls: listing.twilioCalls ?? [],
    instances: listing.instances ?? [],
  };
}

/** The calls of the running connector's cluster. */
export async function listCalls(config: Config, url: string, all: boolean): Promise<ListedCall[]> {
  return (await callsListing(config, url, all)).calls;
}

/** The error for a connector that cannot be reached. */
export function unreachable(url: string, err: unknown): CliError {
  const cause =
    err instanceof Error
      ? err.cause instanceof Error
        ? err.cause.message
        : ((err as NodeJS.ErrnoException).code ?? err.message)
      : '';
  return new CliError(
    `cannot reach the connector at ${url}${cause ? ` (${cause})` : ''}: is "whatsapp-connector serve" running? (set --url or WHATSAPP_CONNECTOR_URL to its internal listener)`,
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
