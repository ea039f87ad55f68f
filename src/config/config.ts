import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { resolve } from 'node:path';
import { randomBytes } from 'node:crypto';
import type * as Yaml from 'yaml';
import { z } from 'zod';
import {
  admissionFileSchema,
  loadAdmissionSettings,
  type AdmissionSettings,
} from './admission-settings.js';
import { ConfigError } from './config-error.js';
import { loadRegionSettings, regionsFileSchema, type RegionSettings } from './region-map.js';
import { checkApiSecret, isLoopbackHost, readSecretVariable } from './secret-settings.js';

export { ConfigError } from './config-error.js';

/**
 * Service configuration, loaded in one place from (lowest to highest precedence):
 * built-in defaults → an optional YAML file (LiveKit style, snake_case keys) → environment
 * variables → explicit CLI overrides. Anything invalid fails at start with the setting's name.
 * Secrets come from the environment (or `X_FILE` files) and the YAML file, never from flags
 * (see `secret-settings.ts`).
 */

const logLevels = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const;

const nonEmpty = z.string().min(1, 'must not be empty');

const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;

function isTimeZone(tz: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

const clockTime = z
  .string()
  .regex(/^([01]\d|2[0-4]):[0-5]\d$/, 'expected "HH:MM" (24 h)')
  .refine((v) => v <= '24:00', 'expected a time up to 24:00');

/** Business hours of an inbound rule (the gateway's `hours` policy). */
export const businessHoursSchema = z
  .object({
    /** IANA time zone the windows are in. Default UTC. */
    timezone: z
      .string()
      .default('UTC')
      .refine(isTimeZone, 'unknown IANA time zone (e.g. "Europe/Berlin")'),
    /** Opening windows, `from` inclusive, `to` exclusive. */
    open: z
      .array(
        z
          .object({ days: z.array(z.enum(WEEKDAYS)).min(1), from: clockTime, to: clockTime })
          .strict()
          .refine((w) => w.from < w.to, { message: '"from" must be before "to"' }),
      )
      .min(1),
    /** Calls outside the windows: rejected at Meta, or left unanswered. Default reject. */
    outside_hours: z.enum(['reject', 'ignore']).default('reject'),
  })
  .strict();

/**
 * What the webhook gateway does with user-initiated calls to one number. String values are
 * templates (`{caller}`, `{callerName}`, `{callId}`, … — see `src/gateway/call-template.ts`).
 */
export const inboundRuleSchema = z
  .object({
    enabled: z.boolean().default(true),
    /** Room name template. Default `whatsapp-{random}` (LiveKit's default shape). */
    room: z.string().min(1).default('whatsapp-{random}'),
    agents: z
      .array(z.object({ name: nonEmpty, metadata: z.string().optional() }).strict())
      .default([]),
    participant: z
      .object({
        /** Default: the Connector API's `whatsapp_<call id>`. */
        identity: z.string().optional(),
        name: z.string().default('{callerName}'),
        metadata: z.string().optional(),
        attributes: z.record(nonEmpty, z.string()).default({}),
      })
      .strict()
      .default({}),
    /** Accept at once, or once a participant (agent) in the room published audio. */
    accept: z.enum(['immediately', 'when_agent_ready']).default('immediately'),
    /** With `when_agent_ready`: reject the call after this long without audio, s. Default 20. */
    agent_ready_timeout_seconds: z.coerce.number().positive().max(50).default(20),
    hours: businessHoursSchema.optional(),
  })
  .strict();

/** One business phone number: credentials and routing rules (`whatsapp.numbers[]`). */
export const numberRoutingSchema = z
  .object({
    /** WhatsApp phone number id this rule applies to. */
    phone_number_id: nonEmpty,
    /** Access token used for Graph API calls on this number. */
    access_token: z.string().optional(),
    /** Cloud API version, e.g. "23.0". Default 24.0. */
    api_version: z.string().optional(),
    /** App secret used to check webhook signatures for this number's app. */
    app_secret: z.string().optional(),
    /** Unset: the gateway leaves this number's incoming calls alone (forwarding still applies). */
    inbound: inboundRuleSchema.optional(),
    outbound: z
      .object({
        /** Check call permission before dialling. Default `whatsapp.check_call_permission`. */
        check_permission: z.boolean().optional(),
      })
      .strict()
      .default({}),
  })
  .strict();

const portSchema = z.coerce.number().int().min(0).max(65535);

const fileSchema = z
  .object({
    port: portSchema.optional(),
    bind_address: z.string().optional(),
    max_connections: z.coerce.number().int().positive().optional(),
    internal_port: portSchema.optional(),
    internal_bind_address: z.string().optional(),
    internal_max_connections: z.coerce.number().int().positive().optional(),
    connector_api_enabled: z.boolean().optional(),
    console: z
      .object({
        /** Serve the operator console on the internal listener. Default false (`dev`: true). */
        enabled: z.boolean().optional(),
      })
      .strict()
      .optional(),
    state_dir: z.string().min(1).optional(),
    shutdown_drain_seconds: z.number().min(0).optional(),
    log_level: z.enum(logLevels).optional(),
    redis_url: z.string().optional(),
    public_url: z.string().optional(),
    livekit: z
      .object({
        url: z.string().optional(),
        api_key: z.string().optional(),
        api_secret: z.string().optional(),
      })
      .strict()
      .optional(),
    /** Extra API key → secret pairs accepted by the Connector API. */
    api_keys: z.record(nonEmpty, nonEmpty).optional(),
    whatsapp: z
      .object({
        graph_url: z.string().optional(),
        webhook_path: z.string().optional(),
        verify_token: z.string().optional(),
        app_secret: z.string().optional(),
        forward_url: z.string().optional(),
        /** Delivery attempts per forwarded webhook. Default 5. */
        forward_max_attempts: z.coerce.number().int().min(1).max(20).optional(),
        /** Per-attempt timeout of a forward, ms. Default 10000. */
        forward_timeout_ms: z.coerce.number().int().positive().optional(),
        /** Call webhooks older than this are not acted on, s. Default 300. */
        max_webhook_age_seconds: z.coerce.number().positive().optional(),
        /** Check call permission before dialling. Default true. */
        check_call_permission: z.boolean().optional(),
        numbers: z.array(numberRoutingSchema).optional(),
      })
      .passthrough()
      .optional(),
    calls: z
      .object({
        ringing_timeout_seconds: z.coerce.number().positive().optional(),
        user_hangup_cleanup_seconds: z.coerce.number().nonnegative().optional(),
        max_concurrent_calls: z.coerce.number().int().positive().optional(),
        media_timeout_seconds: z.coerce.number().positive().optional(),
        max_duration_seconds: z.coerce.number().nonnegative().optional(),
        hide_phone_number: z.boolean().optional(),
        transfer_data_messages: z.boolean().optional(),
        /** Deprecated, ignored (room legs no longer run in worker processes). */
        room_worker_calls_per_process: z.coerce.number().int().nonnegative().optional(),
        play_ringback: z.boolean().optional(),
      })
      .strict()
      .optional(),
    media: z
      .object({
        ice_addresses: z.array(z.string()).optional(),
        ice_port_range: z.string().optional(),
        allowed_candidate_networks: z.array(z.string()).optional(),
        forwarded_opus: z.enum(['auto', 'passthrough', 'reencode']).optional(),
        opus_complexity: z.number().int().min(0).max(10).optional(),
      })
      .strict()
      .optional(),
    twilio: z
      .object({
        connect_url_ttl_seconds: z.coerce.number().positive().optional(),
        stream_timeout_seconds: z.coerce.number().positive().optional(),
      })
      .strict()
      .optional(),
    admission: admissionFileSchema.optional(),
    regions: regionsFileSchema.optional(),
    cluster: z
      .object({
        instance_id: z.string().optional(),
        instance_url: z.string().optional(),
        key_prefix: z.string().optional(),
        heartbeat_seconds: z.coerce.number().positive().optional(),
      })
      .strict()
      .optional(),
    logging: z
      .object({
        level: z.enum(logLevels).optional(),
        redact_phone_numbers: z.boolean().optional(),
      })
      .strict()
      .optional(),
  })
  .passthrough();

export type ConfigFile = z.infer<typeof fileSchema>;
export type NumberRouting = z.infer<typeof numberRoutingSchema>;

export interface LiveKitConfig {
  /** ws(s):// or http(s):// URL of livekit-server. */
  url: string;
  apiKey: string;
  apiSecret: string;
}

/** Default connection cap of the public listener (`MAX_CONNECTIONS`). */
export const DEFAULT_MAX_CONNECTIONS = 512;
/** Default connection cap of the internal listener (`INTERNAL_MAX_CONNECTIONS`). */
export const DEFAULT_INTERNAL_MAX_CONNECTIONS = 64;
/** Default `SHUTDOWN_DRAIN_SECONDS`: long enough for most calls to end on their own. */
export const DEFAULT_SHUTDOWN_DRAIN_SECONDS = 300;

/** Default `STATE_DIR`, relative to the working directory. */
export const DEFAULT_STATE_DIR = '.whatsapp-connector';

export interface Config {
  /**
   * TCP port of the public HTTP listener: the WhatsApp webhook and, unless
   * `connectorApiEnabled` is false, the Connector API. Default 8080; 0 = any free port.
   */
  port: number;
  /** Address the public listener binds to. Default `0.0.0.0`. */
  bindAddress: string;
  /** Open connections the public listener accepts; more are dropped. Default 512 (`MAX_CONNECTIONS`). */
  maxConnections: number;
  /** Serve the Connector API (`/twirp/`) on the public listener too. Default true (`CONNECTOR_API_ENABLED`). */
  connectorApiEnabled: boolean;
  /**
   * The internal listener: `/metrics`, `/healthz`, `/readyz`, `/api/calls`, the cluster endpoint
   * and the Connector API. Keep it off the internet.
   */
  internal: {
    /** TCP port. Default `port + 1`, or any free port when `port` is 0 (`INTERNAL_PORT`). */
    port: number;
    /** Bind address. Default `127.0.0.1` (`INTERNAL_BIND_ADDRESS`); cluster peers must reach it. */
    bindAddress: string;
    /** Open connections accepted; more are dropped. Default 64 (`INTERNAL_MAX_CONNECTIONS`). */
    maxConnections: number;
  };
  /** The operator console (`src/console/`), served on the internal listener under `/console/`. */
  console: {
    /**
     * Serve it. Default false (`CONSOLE_ENABLED`, `console.enabled`); `whatsapp-connector dev`
     * turns it on. Sign-in needs an API key and secret (or a token with `roomCreate`).
     */
    enabled: boolean;
  };
  /**
   * Directory of the local state store (call records, webhook queues) when `redisUrl` is unset,
   * absolute. Default `.whatsapp-connector/` in the working directory (`STATE_DIR`).
   */
  stateDir: string;
  /**
   * On SIGTERM/SIGINT, how long live calls may go on before the leftovers are ended at Meta, in
   * seconds; a second signal cuts the drain short. Default 300 (`SHUTDOWN_DRAIN_SECONDS`).
   */
  shutdownDrainSeconds: number;
  logLevel: (typeof logLevels)[number];
  /** Replace phone numbers in logs with a redacted form. Default true. */
  redactPhoneNumbers: boolean;
  livekit: LiveKitConfig;
  /** API key → secret pairs the Connector API accepts (always includes the LiveKit key). */
  apiKeys: Record<string, string>;
  /** Redis URL for shared state; unset = single-node, in-memory. */
  redisUrl: string | undefined;
  /**
   * Base URL at which the outside world (Twilio) reaches this service's public listener, e.g.
   * `https://connector.example.com`; Twilio connect URLs are built on it (https → wss). https or
   * wss (http/ws only on loopback). Unset: the Host and X-Forwarded-Proto of the ConnectTwilioCall
   * request (`PUBLIC_URL`).
   */
  publicUrl: string | undefined;
  /** Twilio Media Streams (`ConnectTwilioCall`, see `src/twilio/`). */
  twilio: {
    /** How long a connect URL stays usable, in seconds. Default 300 (`TWILIO_CONNECT_URL_TTL_SECONDS`). */
    connectUrlTtlSeconds: number;
    /**
     * A media stream that sends no media for this long ends the call, in seconds (Twilio sends a
     * media frame every 20 ms while the call is up). Default 5 (`TWILIO_STREAM_TIMEOUT_SECONDS`).
     */
    streamTimeoutSeconds: number;
  };
  /** Admission control: when new calls are refused because the instance is busy. */
  admission: AdmissionSettings;
  /** Regions: this instance's, and where calls for each destination country should run. */
  regions: RegionSettings;
  /** Scale-out settings, used only when `redisUrl` is set (see `src/cluster/`). */
  cluster: {
    /** Name of this instance in the cluster. Default `<hostname>-<pid>-<random>` (`INSTANCE_ID`). */
    instanceId: string;
    /**
     * URL other instances reach this one at (same listener as the Connector API), e.g.
     * `http://10.0.3.7:8080`. Default: the bind address (or the first non-internal IPv4 address
     * when binding all interfaces) and the listening port (`INSTANCE_URL`).
     */
    instanceUrl: string | undefined;
    /** Prefix of every Redis key. Default `whatsapp-connector:` (`REDIS_KEY_PREFIX`). */
    keyPrefix: string;
    /**
     * Heartbeat period in seconds; an instance (and its calls' directory entries) silent for three
     * periods counts as gone. Default 5 (`CLUSTER_HEARTBEAT_SECONDS`).
     */
    heartbeatSeconds: number;
  };
  whatsapp: {
    /** Base URL of Meta's Graph API. Default `https://graph.facebook.com`. */
    graphUrl: string;
    /** Path of the built-in webhook endpoint. Default `/whatsapp/webhook`. */
    webhookPath: string;
    verifyToken: string | undefined;
    appSecret: string | undefined;
    /** URL every received webhook is forwarded to, re-signed. */
    forwardUrl: string | undefined;
    numbers: NumberRouting[];
    /** The raw `whatsapp` section, for features that own their own sub-schemas. */
    raw: Record<string, unknown>;
  };
  media: {
    /**
     * Local addresses the WebRTC legs to Meta use for ICE (others are neither advertised nor
     * used). Loopback addresses are added to gathering when listed. Default: all interfaces.
     */
    iceAddresses: string[];
    /** UDP port range for ICE, `[min, max]`. Default: any port. */
    icePortRange: [number, number] | undefined;
    /**
     * Networks whose ICE candidates (from Meta's SDP) the legs may contact: CIDRs, addresses or
     * `public`. Undefined: public addresses, plus loopback when `iceAddresses` has loopback.
     */
    allowedCandidateNetworks: string[] | undefined;
    /**
     * What happens to an agent's Opus forwarded to Meta (one speaker in the room): `auto`
     * forwards it unchanged unless, over a full 5 s window, it averages above 64 kbit/s or is not
     * in 20 ms packets, and re-encodes at Meta's 20 kbit/s then; `passthrough` never re-encodes;
     * `reencode` always does. Default `auto` (`MEDIA_FORWARDED_OPUS`; see the README).
     */
    forwardedOpus: 'auto' | 'passthrough' | 'reencode';
    /**
     * Opus encoder complexity (0-10) of the audio encoded for the WhatsApp user: the room mixed
     * (two or more speakers) and re-encoded agents. Lower costs less CPU per mixed call at some
     * quality. Default 9 (`MEDIA_OPUS_COMPLEXITY`).
     */
    opusComplexity: number;
  };
  calls: {
    /** Ringing timeout when a request leaves it unset, in seconds. Default 30. */
    ringingTimeoutSeconds: number;
    /** Cleanup delay after a user hang-up that nobody disconnects, in seconds. Default 30. */
    userHangupCleanupSeconds: number;
    /** No audio from Meta for this long ends an answered call, in seconds. Default 10. */
    mediaTimeoutSeconds: number;
    /** An answered call lasting this long is ended, in seconds; 0 = no limit. Default 14400 (4 h). */
    maxDurationSeconds: number;
    /**
     * Calls held at once before `resource_exhausted`. Default
     * {@link DEFAULT_MAX_CONCURRENT_CALLS} (20), from the bench's measured cost per call.
     */
    maxConcurrentCalls: number;
    /** Leave `whatsapp.phoneNumber` out of participant attributes. Default false. */
    hidePhoneNumber: boolean;
    /**
     * Honour transfer requests sent as data messages (topic `whatsapp-connector.transfer`) by
     * agent participants of a call's room. Default false (`TRANSFER_DATA_MESSAGES`,
     * `calls.transfer_data_messages`).
     */
    transferDataMessages: boolean;
    /**
     * Play a ringback tone into the room while a business-initiated call rings; it stops the
     * moment the user answers. Default false (`CALL_PLAY_RINGBACK`).
     */
    playRingback: boolean;
  };
  /**
   * Settings that were given but no longer do anything (e.g. `ROOM_WORKER_CALLS_PER_PROCESS`):
   * the server warns about each at start.
   */
  deprecatedSettings: string[];
}

export interface LoadConfigOptions {
  /** Path of a YAML file; also `WHATSAPP_CONNECTOR_CONFIG`. */
  configFile?: string | undefined;
  /** Environment to read; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Highest-precedence overrides (CLI flags). */
  overrides?: Partial<Pick<Config, 'port' | 'bindAddress' | 'logLevel'>> & {
    internalPort?: number;
    internalBindAddress?: string;
  };
  /** Directory `STATE_DIR` is relative to. Default `process.cwd()`. */
  cwd?: string;
}

export const DEFAULT_GRAPH_URL = 'https://graph.facebook.com';

/**
 * Default `MAX_CONCURRENT_CALLS`. The media path (legs to Meta and to the room, Opus, SRTP) runs
 * on the main thread, so one process is bounded by one core however many the machine has. The
 * native path measured 0.96-1.48 connector CPU-s per call-minute in passthrough and 1.85-2.19
 * when mixing two agents (bench/native-media-cpu.ts, 4 and 8 calls, 2-core VM, 2026-12-01);
 * at 1.5 CPU-s per call-minute, 20 calls use half of one core, leaving the rest for setup bursts
 * (DTLS, SDP), GC and mixing. Admission control guards the rest. Run more instances for more.
 */
export const DEFAULT_MAX_CONCURRENT_CALLS = 20;

// Loaded on demand: YAML parsing is only needed with a file, and the CLI's start-up time counts.
const requireModule = createRequire(import.meta.url);
function parseYaml(text: string): unknown {
  return (requireModule('yaml') as typeof Yaml).parse(text);
}

function readFileConfig(path: string): ConfigFile {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError('config file', `cannot read ${path}: ${(err as Error).message}`);
  }
  let data: unknown;
  try {
    data = parseYaml(text) ?? {};
  } catch (err) {
    throw new ConfigError('config file', `${path} is not valid YAML: ${(err as Error).message}`);
  }
  const parsed = fileSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') || '(root)';
    throw new ConfigError(where, issue?.message ?? 'invalid');
  }
  return parsed.data;
}

function envPort(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError(name, `expected an integer 0..65535, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function envBoolean(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

function checkBindAddress(setting: string, value: string): string {
  if (value !== 'localhost' && !isIP(value)) {
    throw new ConfigError(setting, `expected an IP address, got ${JSON.stringify(value)}`);
  }
  return value;
}

interface UrlRules {
  /** Accepted protocols, e.g. `['https:']`. */
  protocols: string[];
  /** Protocols accepted only when the host is loopback (e.g. plain http to a local simulator). */
  loopbackProtocols?: string[];
  /** The value may hold a password: never repeat it in a message. */
  secret?: boolean;
}

function checkUrl(setting: string, value: string, rules: UrlRules): string {
  const shown = rules.secret ? '' : `: ${JSON.stringify(value)}`;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(setting, `not a valid URL${shown}`);
  }
  if (!rules.protocols.includes(url.protocol)) {
    const loopbackOnly = rules.loopbackProtocols?.includes(url.protocol) ?? false;
    if (!loopbackOnly) {
      const expected = [...rules.protocols, ...(rules.loopbackProtocols ?? [])];
      throw new ConfigError(
        setting,
        `expected a ${expected.join(' or ')} URL, got ${url.protocol}`,
      );
    }
    if (!isLoopbackHost(url.hostname)) {
      throw new ConfigError(
        setting,
        `expected a ${rules.protocols.join(' or ')} URL: ${url.protocol} is allowed only on loopback (127.0.0.1, ::1, localhost), got host ${url.hostname}`,
      );
    }
  }
  return value.replace(/\/+$/, '');
}

/** `key: secret, key2: secret2` as LiveKit's LIVEKIT_KEYS accepts. */
function parseKeyList(setting: string, raw: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of raw.split(/[,\n]/)) {
    const trimmed = part.trim();
    if (!trimmed) continue;
    const idx = trimmed.indexOf(':');
    if (idx <= 0)
      throw new ConfigError(setting, 'expected "key: secret" pairs separated by commas');
    const key = trimmed.slice(0, idx).trim();
    const secret = trimmed.slice(idx + 1).trim();
    if (!key || !secret)
      throw new ConfigError(setting, 'expected "key: secret" pairs separated by commas');
    out[key] = secret;
  }
  return out;
}

/**
 * Settings still accepted but ignored. `ROOM_WORKER_CALLS_PER_PROCESS`: room legs ran in worker
 * processes while they were rtc-node participants; the TypeScript participant needs none.
 */
function deprecatedSettings(env: NodeJS.ProcessEnv, file: ConfigFile): string[] {
  const out: string[] = [];
  if (
    (env.ROOM_WORKER_CALLS_PER_PROCESS !== undefined && env.ROOM_WORKER_CALLS_PER_PROCESS !== '') ||
    file.calls?.room_worker_calls_per_process !== undefined
  ) {
    out.push('ROOM_WORKER_CALLS_PER_PROCESS');
  }
  return out;
}

function forwardedOpus(
  env: NodeJS.ProcessEnv,
  file: ConfigFile,
): 'auto' | 'passthrough' | 'reencode' {
  const raw = env.MEDIA_FORWARDED_OPUS;
  if (raw === undefined || raw === '') return file.media?.forwarded_opus ?? 'auto';
  if (raw === 'auto' || raw === 'passthrough' || raw === 'reencode') return raw;
  throw new ConfigError(
    'MEDIA_FORWARDED_OPUS',
    `expected auto, passthrough or reencode, got ${JSON.stringify(raw)}`,
  );
}

function opusComplexity(env: NodeJS.ProcessEnv, file: ConfigFile): number {
  const raw = env.MEDIA_OPUS_COMPLEXITY;
  if (raw === undefined || raw === '') return file.media?.opus_complexity ?? 9;
  const n = Number(raw);
  if (!/^\d{1,2}$/.test(raw) || n > 10) {
    throw new ConfigError(
      'MEDIA_OPUS_COMPLEXITY',
      `expected a whole number from 0 to 10, got ${JSON.stringify(raw)}`,
    );
  }
  return n;
}

function booleanSetting(name: string, raw: string | undefined, fallback: boolean): boolean {
  if (raw === undefined || raw === '') return fallback;
  if (raw === 'true') return true;
  if (raw === 'false') return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

function instanceId(env: NodeJS.ProcessEnv, file: ConfigFile): string {
  const raw = env.INSTANCE_ID || file.cluster?.instance_id;
  if (!raw) return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
  if (!/^[A-Za-z0-9._-]{1,100}$/.test(raw)) {
    throw new ConfigError('INSTANCE_ID', 'expected 1-100 characters of A-Z a-z 0-9 . _ -');
  }
  return raw;
}

/** Load and validate the configuration. Throws {@link ConfigError} naming the bad setting. */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const env = options.env ?? process.env;
  const path = options.configFile ?? env.WHATSAPP_CONNECTOR_CONFIG;
  const file: ConfigFile = path ? readFileConfig(path) : {};

  const logLevelRaw =
    options.overrides?.logLevel ?? env.LOG_LEVEL ?? file.logging?.level ?? file.log_level ?? 'info';
  if (!(logLevels as readonly string[]).includes(logLevelRaw)) {
    throw new ConfigError(
      'LOG_LEVEL',
      `expected one of ${logLevels.join(', ')}, got ${JSON.stringify(logLevelRaw)}`,
    );
  }

  const livekitUrl = env.LIVEKIT_URL ?? file.livekit?.url ?? 'ws://127.0.0.1:7880';
  const apiKey = env.LIVEKIT_API_KEY ?? file.livekit?.api_key;
  const envSecret = readSecretVariable(env, 'LIVEKIT_API_SECRET');
  const apiSecret = envSecret ?? file.livekit?.api_secret;
  if (!apiKey)
    throw new ConfigError('LIVEKIT_API_KEY', 'is required (or livekit.api_key in the config file)');
  if (!apiSecret)
    throw new ConfigError(
      'LIVEKIT_API_SECRET',
      'is required (or LIVEKIT_API_SECRET_FILE, or livekit.api_secret in the config file)',
    );
  checkApiSecret(envSecret !== undefined ? 'LIVEKIT_API_SECRET' : 'livekit.api_secret', apiSecret);

  const apiKeys: Record<string, string> = {};
  for (const [key, secret] of Object.entries(file.api_keys ?? {})) {
    checkApiSecret(`api_keys.${key}`, secret);
    apiKeys[key] = secret;
  }
  const keyList = readSecretVariable(env, 'CONNECTOR_API_KEYS');
  if (keyList) {
    for (const [key, secret] of Object.entries(parseKeyList('CONNECTOR_API_KEYS', keyList))) {
      checkApiSecret(`CONNECTOR_API_KEYS (key ${JSON.stringify(key)})`, secret);
      apiKeys[key] = secret;
    }
  }
  apiKeys[apiKey] = apiSecret;

  // Access tokens go to the Graph API: plain http only to a local stand-in (the simulator).
  const graphUrl = checkUrl(
    'WHATSAPP_GRAPH_URL',
    env.WHATSAPP_GRAPH_URL ?? file.whatsapp?.graph_url ?? DEFAULT_GRAPH_URL,
    { protocols: ['https:'], loopbackProtocols: ['http:'] },
  );

  const redisUrl = readSecretVariable(env, 'REDIS_URL') ?? file.redis_url;
  if (redisUrl) {
    checkUrl(env.REDIS_URL || env.REDIS_URL_FILE ? 'REDIS_URL' : 'redis_url', redisUrl, {
      protocols: ['redis:', 'rediss:'],
      secret: true,
    });
  }

  const instanceUrl = env.INSTANCE_URL || file.cluster?.instance_url;
  const publicUrl = env.PUBLIC_URL || file.public_url;

  const webhookPath =
    env.WHATSAPP_WEBHOOK_PATH ?? file.whatsapp?.webhook_path ?? '/whatsapp/webhook';
  if (!webhookPath.startsWith('/') || webhookPath.startsWith('/twirp/')) {
    throw new ConfigError('WHATSAPP_WEBHOOK_PATH', 'must start with "/" and not be under /twirp/');
  }
  const forwardUrl = env.WHATSAPP_FORWARD_URL ?? file.whatsapp?.forward_url;
  if (forwardUrl) checkUrl('WHATSAPP_FORWARD_URL', forwardUrl, { protocols: ['http:', 'https:'] });

  const num = (setting: string, raw: string | undefined, fallback: number, min = 0): number => {
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isFinite(n) || n < min)
      throw new ConfigError(setting, `expected a number >= ${min}, got ${JSON.stringify(raw)}`);
    return n;
  };

  const iceAddressesRaw = env.MEDIA_ICE_ADDRESSES;
  const iceAddresses = iceAddressesRaw
    ? iceAddressesRaw
        .split(',')
        .map((a) => a.trim())
        .filter(Boolean)
    : (file.media?.ice_addresses ?? []);
  for (const a of iceAddresses) {
    if (!isIP(a))
      throw new ConfigError('MEDIA_ICE_ADDRESSES', `not an IP address: ${JSON.stringify(a)}`);
  }
  const rangeRaw = env.MEDIA_ICE_PORT_RANGE ?? file.media?.ice_port_range;
  let icePortRange: [number, number] | undefined;
  if (rangeRaw) {
    const m = /^(\d+)\s*-\s*(\d+)$/.exec(rangeRaw);
    const lo = Number(m?.[1]);
    const hi = Number(m?.[2]);
    if (!m || lo < 1024 || hi > 65535 || lo >= hi) {
      throw new ConfigError(
        'MEDIA_ICE_PORT_RANGE',
        `expected "min-max" within 1024-65535, got ${JSON.stringify(rangeRaw)}`,
      );
    }
    icePortRange = [lo, hi];
  }
  const networksRaw = env.MEDIA_ALLOWED_CANDIDATE_NETWORKS;
  const allowedCandidateNetworks = networksRaw
    ? networksRaw
        .split(',')
        .map((n) => n.trim())
        .filter(Boolean)
    : file.media?.allowed_candidate_networks;
  for (const n of allowedCandidateNetworks ?? []) {
    const [address = '', prefix, extra] = n.split('/');
    const bits = isIP(address) === 6 ? 128 : 32;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (n.toLowerCase() !== 'public' && (!isIP(address) || !prefixOk || extra !== undefined)) {
      throw new ConfigError(
        'MEDIA_ALLOWED_CANDIDATE_NETWORKS',
        `expected "public", IP addresses or CIDRs (e.g. 157.240.0.0/16), got ${JSON.stringify(n)}`,
      );
    }
  }

  const port = options.overrides?.port ?? envPort(env, 'PORT') ?? file.port ?? 8080;
  const internalPort =
    options.overrides?.internalPort ??
    envPort(env, 'INTERNAL_PORT') ??
    file.internal_port ??
    (port === 0 ? 0 : port + 1);
  if (internalPort > 65535) {
    throw new ConfigError('INTERNAL_PORT', `PORT + 1 is out of range: set INTERNAL_PORT`);
  }
  if (internalPort !== 0 && internalPort === port) {
    throw new ConfigError('INTERNAL_PORT', `must differ from PORT (${port})`);
  }

  return {
    port,
    bindAddress: checkBindAddress(
      'BIND_ADDRESS',
      options.overrides?.bindAddress ?? env.BIND_ADDRESS ?? file.bind_address ?? '0.0.0.0',
    ),
    maxConnections: num(
      'MAX_CONNECTIONS',
      env.MAX_CONNECTIONS,
      file.max_connections ?? DEFAULT_MAX_CONNECTIONS,
      1,
    ),
    connectorApiEnabled:
      envBoolean(env, 'CONNECTOR_API_ENABLED') ?? file.connector_api_enabled ?? true,
    internal: {
      port: internalPort,
      bindAddress: checkBindAddress(
        'INTERNAL_BIND_ADDRESS',
        options.overrides?.internalBindAddress ??
          env.INTERNAL_BIND_ADDRESS ??
          file.internal_bind_address ??
          '127.0.0.1',
      ),
      maxConnections: num(
        'INTERNAL_MAX_CONNECTIONS',
        env.INTERNAL_MAX_CONNECTIONS,
        file.internal_max_connections ?? DEFAULT_INTERNAL_MAX_CONNECTIONS,
        1,
      ),
    },
    console: {
      enabled: envBoolean(env, 'CONSOLE_ENABLED') ?? file.console?.enabled ?? false,
    },
    stateDir: resolve(
      options.cwd ?? process.cwd(),
      env.STATE_DIR || file.state_dir || DEFAULT_STATE_DIR,
    ),
    shutdownDrainSeconds: num(
      'SHUTDOWN_DRAIN_SECONDS',
      env.SHUTDOWN_DRAIN_SECONDS,
      file.shutdown_drain_seconds ?? DEFAULT_SHUTDOWN_DRAIN_SECONDS,
    ),
    logLevel: logLevelRaw as Config['logLevel'],
    redactPhoneNumbers: env.LOG_REDACT_PHONE_NUMBERS
      ? env.LOG_REDACT_PHONE_NUMBERS !== 'false'
      : (file.logging?.redact_phone_numbers ?? true),
    livekit: {
      url: checkUrl('LIVEKIT_URL', livekitUrl, { protocols: ['ws:', 'wss:', 'http:', 'https:'] }),
      apiKey,
      apiSecret,
    },
    apiKeys,
    redisUrl: redisUrl || undefined,
    publicUrl: publicUrl
      ? // Twilio connects to wss:// only; plain http/ws is for a local stand-in.
        checkUrl('PUBLIC_URL', publicUrl, {
          protocols: ['https:', 'wss:'],
          loopbackProtocols: ['http:', 'ws:'],
        })
      : undefined,
    twilio: {
      connectUrlTtlSeconds: num(
        'TWILIO_CONNECT_URL_TTL_SECONDS',
        env.TWILIO_CONNECT_URL_TTL_SECONDS,
        file.twilio?.connect_url_ttl_seconds ?? 300,
        1,
      ),
      streamTimeoutSeconds: num(
        'TWILIO_STREAM_TIMEOUT_SECONDS',
        env.TWILIO_STREAM_TIMEOUT_SECONDS,
        file.twilio?.stream_timeout_seconds ?? 5,
        0.1,
      ),
    },
    admission: loadAdmissionSettings(env, file.admission),
    regions: loadRegionSettings(env, file.regions),
    cluster: {
      instanceId: instanceId(env, file),
      instanceUrl: instanceUrl
        ? checkUrl('INSTANCE_URL', instanceUrl, { protocols: ['http:', 'https:'] })
        : undefined,
      keyPrefix: env.REDIS_KEY_PREFIX ?? file.cluster?.key_prefix ?? 'whatsapp-connector:',
      heartbeatSeconds: num(
        'CLUSTER_HEARTBEAT_SECONDS',
        env.CLUSTER_HEARTBEAT_SECONDS,
        file.cluster?.heartbeat_seconds ?? 5,
        0.05,
      ),
    },
    whatsapp: {
      graphUrl,
      webhookPath,
      verifyToken: readSecretVariable(env, 'WHATSAPP_VERIFY_TOKEN') ?? file.whatsapp?.verify_token,
      appSecret: readSecretVariable(env, 'WHATSAPP_APP_SECRET') ?? file.whatsapp?.app_secret,
      forwardUrl: forwardUrl || undefined,
      numbers: file.whatsapp?.numbers ?? [],
      raw: (file.whatsapp ?? {}) as Record<string, unknown>,
    },
    media: {
      iceAddresses,
      icePortRange,
      allowedCandidateNetworks,
      forwardedOpus: forwardedOpus(env, file),
      opusComplexity: opusComplexity(env, file),
    },
    calls: {
      ringingTimeoutSeconds: num(
        'CALL_RINGING_TIMEOUT_SECONDS',
        env.CALL_RINGING_TIMEOUT_SECONDS,
        file.calls?.ringing_timeout_seconds ?? 30,
        1,
      ),
      userHangupCleanupSeconds: num(
        'CALL_USER_HANGUP_CLEANUP_SECONDS',
        env.CALL_USER_HANGUP_CLEANUP_SECONDS,
        file.calls?.user_hangup_cleanup_seconds ?? 30,
      ),
      mediaTimeoutSeconds: num(
        'CALL_MEDIA_TIMEOUT_SECONDS',
        env.CALL_MEDIA_TIMEOUT_SECONDS,
        file.calls?.media_timeout_seconds ?? 10,
        0.1,
      ),
      maxDurationSeconds: num(
        'CALL_MAX_DURATION_SECONDS',
        env.CALL_MAX_DURATION_SECONDS,
        file.calls?.max_duration_seconds ?? 14_400,
      ),
      maxConcurrentCalls: num(
        'MAX_CONCURRENT_CALLS',
        env.MAX_CONCURRENT_CALLS,
        file.calls?.max_concurrent_calls ?? DEFAULT_MAX_CONCURRENT_CALLS,
        1,
      ),
      hidePhoneNumber: env.HIDE_PHONE_NUMBER
        ? env.HIDE_PHONE_NUMBER === 'true'
        : (file.calls?.hide_phone_number ?? false),
      transferDataMessages:
        envBoolean(env, 'TRANSFER_DATA_MESSAGES') ?? file.calls?.transfer_data_messages ?? false,
      playRingback: booleanSetting(
        'CALL_PLAY_RINGBACK',
        env.CALL_PLAY_RINGBACK,
        file.calls?.play_ringback ?? false,
      ),
    },
    deprecatedSettings: deprecatedSettings(env, file),
  };
}
