import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';

/**
 * Service configuration, loaded in one place from (lowest to highest precedence):
 * built-in defaults → an optional YAML file (LiveKit style, snake_case keys) → environment
 * variables → explicit CLI overrides. Anything invalid fails at start with the setting's name.
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

const fileSchema = z
  .object({
    port: z.coerce.number().int().min(0).max(65535).optional(),
    bind_address: z.string().optional(),
    log_level: z.enum(logLevels).optional(),
    redis_url: z.string().optional(),
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
        hide_phone_number: z.boolean().optional(),
        room_worker_calls_per_process: z.coerce.number().int().nonnegative().optional(),
      })
      .strict()
      .optional(),
    media: z
      .object({
        ice_addresses: z.array(z.string()).optional(),
        ice_port_range: z.string().optional(),
      })
      .strict()
      .optional(),
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

export interface Config {
  /** TCP port of the HTTP listener (Connector API, webhooks, metrics). Default 8080; 0 = any free port. */
  port: number;
  /** Address the HTTP listener binds to. Default `0.0.0.0`. */
  bindAddress: string;
  logLevel: (typeof logLevels)[number];
  /** Replace phone numbers in logs with a redacted form. Default true. */
  redactPhoneNumbers: boolean;
  livekit: LiveKitConfig;
  /** API key → secret pairs the Connector API accepts (always includes the LiveKit key). */
  apiKeys: Record<string, string>;
  /** Redis URL for shared state; unset = single-node, in-memory. */
  redisUrl: string | undefined;
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
  };
  calls: {
    /** Ringing timeout when a request leaves it unset, in seconds. Default 30. */
    ringingTimeoutSeconds: number;
    /** Cleanup delay after a user hang-up that nobody disconnects, in seconds. Default 30. */
    userHangupCleanupSeconds: number;
    /** No audio from Meta for this long ends an answered call, in seconds. Default 10. */
    mediaTimeoutSeconds: number;
    /** Calls accepted at once before `resource_exhausted`. Default 200. */
    maxConcurrentCalls: number;
    /** Leave `whatsapp.phoneNumber` out of participant attributes. Default false. */
    hidePhoneNumber: boolean;
    /**
     * Calls whose LiveKit leg shares one room worker process; 0 runs every leg in the main
     * process. rtc-node's per-process cost grows with the square of the calls it hosts, so
     * workers keep CPU linear in calls. Default 6 (`ROOM_WORKER_CALLS_PER_PROCESS`).
     */
    roomWorkerCallsPerProcess: number;
  };
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    /** The setting at fault, as a user would write it (env var name or YAML path). */
    readonly setting: string,
    message: string,
  ) {
    super(`invalid configuration: ${setting}: ${message}`);
  }
}

export interface LoadConfigOptions {
  /** Path of a YAML file; also `WHATSAPP_CONNECTOR_CONFIG`. */
  configFile?: string | undefined;
  /** Environment to read; defaults to `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Highest-precedence overrides (CLI flags). */
  overrides?: Partial<Pick<Config, 'port' | 'bindAddress' | 'logLevel'>>;
}

export const DEFAULT_GRAPH_URL = 'https://graph.facebook.com';

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

function envPort(env: NodeJS.ProcessEnv): number | undefined {
  const raw = env.PORT;
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new ConfigError('PORT', `expected an integer 0..65535, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function checkUrl(setting: string, value: string, protocols: string[]): string {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(setting, `not a URL: ${JSON.stringify(value)}`);
  }
  if (!protocols.includes(url.protocol)) {
    throw new ConfigError(setting, `expected a ${protocols.join(' or ')} URL, got ${url.protocol}`);
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

function roomWorkerCallsPerProcess(env: NodeJS.ProcessEnv, file: ConfigFile): number {
  const raw = env.ROOM_WORKER_CALLS_PER_PROCESS;
  if (raw === undefined || raw === '') return file.calls?.room_worker_calls_per_process ?? 6;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    throw new ConfigError(
      'ROOM_WORKER_CALLS_PER_PROCESS',
      `expected an integer >= 0 (0 = in-process), got ${JSON.stringify(raw)}`,
    );
  }
  return n;
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
  const apiSecret = env.LIVEKIT_API_SECRET ?? file.livekit?.api_secret;
  if (!apiKey)
    throw new ConfigError('LIVEKIT_API_KEY', 'is required (or livekit.api_key in the config file)');
  if (!apiSecret)
    throw new ConfigError(
      'LIVEKIT_API_SECRET',
      'is required (or livekit.api_secret in the config file)',
    );

  const apiKeys: Record<string, string> = { ...(file.api_keys ?? {}) };
  if (env.CONNECTOR_API_KEYS)
    Object.assign(apiKeys, parseKeyList('CONNECTOR_API_KEYS', env.CONNECTOR_API_KEYS));
  apiKeys[apiKey] = apiSecret;

  const graphUrl = checkUrl(
    'WHATSAPP_GRAPH_URL',
    env.WHATSAPP_GRAPH_URL ?? file.whatsapp?.graph_url ?? DEFAULT_GRAPH_URL,
    ['http:', 'https:'],
  );

  const redisUrl = env.REDIS_URL ?? file.redis_url;
  if (redisUrl) checkUrl('REDIS_URL', redisUrl, ['redis:', 'rediss:']);

  const instanceUrl = env.INSTANCE_URL || file.cluster?.instance_url;

  const webhookPath =
    env.WHATSAPP_WEBHOOK_PATH ?? file.whatsapp?.webhook_path ?? '/whatsapp/webhook';
  if (!webhookPath.startsWith('/') || webhookPath.startsWith('/twirp/')) {
    throw new ConfigError('WHATSAPP_WEBHOOK_PATH', 'must start with "/" and not be under /twirp/');
  }
  const forwardUrl = env.WHATSAPP_FORWARD_URL ?? file.whatsapp?.forward_url;
  if (forwardUrl) checkUrl('WHATSAPP_FORWARD_URL', forwardUrl, ['http:', 'https:']);

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

  return {
    port: options.overrides?.port ?? envPort(env) ?? file.port ?? 8080,
    bindAddress:
      options.overrides?.bindAddress ?? env.BIND_ADDRESS ?? file.bind_address ?? '0.0.0.0',
    logLevel: logLevelRaw as Config['logLevel'],
    redactPhoneNumbers: env.LOG_REDACT_PHONE_NUMBERS
      ? env.LOG_REDACT_PHONE_NUMBERS !== 'false'
      : (file.logging?.redact_phone_numbers ?? true),
    livekit: {
      url: checkUrl('LIVEKIT_URL', livekitUrl, ['ws:', 'wss:', 'http:', 'https:']),
      apiKey,
      apiSecret,
    },
    apiKeys,
    redisUrl: redisUrl || undefined,
    cluster: {
      instanceId: instanceId(env, file),
      instanceUrl: instanceUrl
        ? checkUrl('INSTANCE_URL', instanceUrl, ['http:', 'https:'])
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
      verifyToken: env.WHATSAPP_VERIFY_TOKEN ?? file.whatsapp?.verify_token,
      appSecret: env.WHATSAPP_APP_SECRET ?? file.whatsapp?.app_secret,
      forwardUrl: forwardUrl || undefined,
      numbers: file.whatsapp?.numbers ?? [],
      raw: (file.whatsapp ?? {}) as Record<string, unknown>,
    },
    media: { iceAddresses, icePortRange },
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
      maxConcurrentCalls: num(
        'MAX_CONCURRENT_CALLS',
        env.MAX_CONCURRENT_CALLS,
        file.calls?.max_concurrent_calls ?? 200,
        1,
      ),
      hidePhoneNumber: env.HIDE_PHONE_NUMBER
        ? env.HIDE_PHONE_NUMBER === 'true'
        : (file.calls?.hide_phone_number ?? false),
      roomWorkerCallsPerProcess: roomWorkerCallsPerProcess(env, file),
    },
  };
}
