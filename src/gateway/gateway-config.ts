/**
 * Settings of the built-in webhook gateway: webhook secrets, forwarding, and the routing rules
 * per WhatsApp phone number id. They live in the `whatsapp` section of the YAML file (snake_case,
 * like the rest of it) plus a few environment variables; `loadConfig` keeps that section whole in
 * `config.whatsapp.raw`, and this module gives it its schema, defaults and checks.
 */
import { z } from 'zod';
import {
  ConfigError,
  type businessHoursSchema,
  inboundRuleSchema,
  numberRoutingSchema,
  type Config,
} from '../config/index.js';
import { normaliseCloudApiVersion } from '../whatsapp/api-version.js';
import { TEMPLATE_VARIABLES, unknownTemplateVariables } from './call-template.js';

export type Weekday = z.infer<typeof businessHoursSchema>['open'][number]['days'][number];

// The schemas themselves live with the rest of the configuration (`src/config/config.ts`), so
// `loadConfig` already refuses a malformed file; this module re-reads the section for the gateway.
const gatewaySectionSchema = z
  .object({
    forward_max_attempts: z.coerce.number().int().min(1).max(20).optional(),
    forward_timeout_ms: z.coerce.number().int().positive().optional(),
    max_webhook_age_seconds: z.coerce.number().positive().optional(),
    check_call_permission: z.boolean().optional(),
    numbers: z.array(numberRoutingSchema).optional(),
  })
  .passthrough();

export interface OpeningWindow {
  days: Weekday[];
  /** "HH:MM", inclusive. */
  from: string;
  /** "HH:MM", exclusive. */
  to: string;
}

export interface BusinessHours {
  timezone: string;
  open: OpeningWindow[];
  outsideHours: 'reject' | 'ignore';
}

export interface AgentRule {
  name: string;
  /** Template. */
  metadata: string | undefined;
}

/** What the gateway does with a user-initiated call to one number. Strings are templates. */
export interface InboundRule {
  enabled: boolean;
  room: string;
  agents: AgentRule[];
  participant: {
    /** Unset: the Connector API default `whatsapp_<call id>`. */
    identity: string | undefined;
    name: string;
    metadata: string | undefined;
    attributes: Record<string, string>;
  };
  accept: 'immediately' | 'when_agent_ready';
  /** Wait for a room participant's audio this long before rejecting, ms. */
  agentReadyTimeoutMs: number;
  hours: BusinessHours | undefined;
}

export interface PhoneNumberRule {
  phoneNumberId: string;
  /** Graph access token; never logged. */
  accessToken: string | undefined;
  /** Bare Cloud API version, e.g. "24.0". */
  apiVersion: string;
  /** Secret of the Meta app this number's webhooks come from; falls back to the global one. */
  appSecret: string | undefined;
  /** Unset: calls to this number are not answered by the gateway (forwarding still applies). */
  inbound: InboundRule | undefined;
  checkCallPermission: boolean;
}

export interface GatewaySettings {
  webhookPath: string;
  verifyToken: string | undefined;
  /** Global app secret (`WHATSAPP_APP_SECRET`). */
  appSecret: string | undefined;
  forwardUrl: string | undefined;
  /** Delivery attempts per forwarded webhook. Default 5. */
  forwardMaxAttempts: number;
  /** Per-attempt timeout of a forward, ms. Default 10000. */
  forwardTimeoutMs: number;
  /** Call webhooks older than this are not acted on (Meta retries for a long time), s. Default 300. */
  maxWebhookAgeSeconds: number;
  /** Check call permission before dialling numbers without their own setting. Default true. */
  checkCallPermission: boolean;
  numbers: PhoneNumberRule[];
}

/** Default Cloud API version for numbers that do not name one. */
export const DEFAULT_CLOUD_API_VERSION = '24.0';

function envBool(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  if (/^(1|true|yes|on)$/i.test(raw)) return true;
  if (/^(0|false|no|off)$/i.test(raw)) return false;
  throw new ConfigError(name, `expected true or false, got ${JSON.stringify(raw)}`);
}

function envInt(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) {
    throw new ConfigError(name, `expected an integer >= ${min}, got ${JSON.stringify(raw)}`);
  }
  return n;
}

function toInbound(raw: z.infer<typeof inboundRuleSchema>): InboundRule {
  return {
    enabled: raw.enabled,
    room: raw.room,
    agents: raw.agents.map((a) => ({ name: a.name, metadata: a.metadata })),
    participant: {
      identity: raw.participant.identity || undefined,
      name: raw.participant.name,
      metadata: raw.participant.metadata,
      attributes: raw.participant.attributes,
    },
    accept: raw.accept,
    agentReadyTimeoutMs: Math.round(raw.agent_ready_timeout_seconds * 1000),
    hours: raw.hours
      ? {
          timezone: raw.hours.timezone,
          open: raw.hours.open,
          outsideHours: raw.hours.outside_hours,
        }
      : undefined,
  };
}

function checkTemplates(path: string, inbound: z.infer<typeof inboundRuleSchema>): void {
  const templates: [string, string | undefined][] = [
    ['room', inbound.room],
    ['participant.identity', inbound.participant.identity],
    ['participant.name', inbound.participant.name],
    ['participant.metadata', inbound.participant.metadata],
    ...Object.entries(inbound.participant.attributes).map(([k, v]): [string, string] => [
      `participant.attributes.${k}`,
      v,
    ]),
    ...inbound.agents.map((a, i): [string, string | undefined] => [
      `agents.${i}.metadata`,
      a.metadata,
    ]),
  ];
  for (const [where, template] of templates) {
    const unknown = template === undefined ? [] : unknownTemplateVariables(template);
    if (unknown.length > 0) {
      throw new ConfigError(
        `${path}.${where}`,
        `unknown template variable {${unknown[0] ?? ''}} (known: ${TEMPLATE_VARIABLES.join(', ')})`,
      );
    }
  }
}

/**
 * Parse and check the gateway settings.
 * Environment variables (override the file): `WHATSAPP_FORWARD_MAX_ATTEMPTS`,
 * `WHATSAPP_FORWARD_TIMEOUT_MS`, `WHATSAPP_MAX_WEBHOOK_AGE_SECONDS`,
 * `WHATSAPP_CHECK_CALL_PERMISSION`, and for a one-number setup without a file
 * `WHATSAPP_PHONE_NUMBER_ID` + `WHATSAPP_ACCESS_TOKEN` (+ `WHATSAPP_API_VERSION`,
 * `WHATSAPP_INBOUND_ROOM`, `WHATSAPP_INBOUND_AGENT`), which adds an inbound rule for that number
 * unless the file already has one.
 * @throws ConfigError naming the bad setting.
 */
export function loadGatewaySettings(
  config: Config,
  env: NodeJS.ProcessEnv = process.env,
): GatewaySettings {
  const parsed = gatewaySectionSchema.safeParse(config.whatsapp.raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new ConfigError(`whatsapp.${issue?.path.join('.') ?? ''}`, issue?.message ?? 'invalid');
  }
  const section = parsed.data;
  const checkCallPermission =
    envBool(env, 'WHATSAPP_CHECK_CALL_PERMISSION') ?? section.check_call_permission ?? true;

  const numbers: PhoneNumberRule[] = [];
  const seen = new Set<string>();
  (section.numbers ?? []).forEach((n, i) => {
    if (seen.has(n.phone_number_id)) {
      throw new ConfigError(
        `whatsapp.numbers.${i}.phone_number_id`,
        `duplicate phone number id ${n.phone_number_id}`,
      );
    }
    seen.add(n.phone_number_id);
    const apiVersion = normaliseCloudApiVersion(n.api_version ?? DEFAULT_CLOUD_API_VERSION);
    if (apiVersion === undefined) {
      throw new ConfigError(
        `whatsapp.numbers.${i}.api_version`,
        `unsupported Cloud API version ${JSON.stringify(n.api_version)}`,
      );
    }
    if (n.inbound && !n.access_token) {
      throw new ConfigError(
        `whatsapp.numbers.${i}.access_token`,
        'is required to answer calls (inbound)',
      );
    }
    if (n.inbound) checkTemplates(`whatsapp.numbers.${i}.inbound`, n.inbound);
    numbers.push({
      phoneNumberId: n.phone_number_id,
      accessToken: n.access_token || undefined,
      apiVersion,
      appSecret: n.app_secret || undefined,
      inbound: n.inbound ? toInbound(n.inbound) : undefined,
      checkCallPermission: n.outbound.check_permission ?? checkCallPermission,
    });
  });

  const envNumber = env.WHATSAPP_PHONE_NUMBER_ID;
  if (envNumber && !seen.has(envNumber)) {
    const accessToken = env.WHATSAPP_ACCESS_TOKEN;
    if (!accessToken) {
      throw new ConfigError('WHATSAPP_ACCESS_TOKEN', 'is required with WHATSAPP_PHONE_NUMBER_ID');
    }
    const apiVersion = normaliseCloudApiVersion(
      env.WHATSAPP_API_VERSION ?? DEFAULT_CLOUD_API_VERSION,
    );
    if (apiVersion === undefined) {
      throw new ConfigError('WHATSAPP_API_VERSION', 'unsupported Cloud API version');
    }
    const inbound = toInbound(
      inboundRuleSchema.parse({
        ...(env.WHATSAPP_INBOUND_ROOM ? { room: env.WHATSAPP_INBOUND_ROOM } : {}),
        ...(env.WHATSAPP_INBOUND_AGENT ? { agents: [{ name: env.WHATSAPP_INBOUND_AGENT }] } : {}),
      }),
    );
    numbers.push({
      phoneNumberId: envNumber,
      accessToken,
      apiVersion,
      appSecret: undefined,
      inbound,
      checkCallPermission,
    });
  }

  return {
    webhookPath: config.whatsapp.webhookPath,
    verifyToken: config.whatsapp.verifyToken || undefined,
    appSecret: config.whatsapp.appSecret || undefined,
    forwardUrl: config.whatsapp.forwardUrl,
    forwardMaxAttempts:
      envInt(env, 'WHATSAPP_FORWARD_MAX_ATTEMPTS', 1) ?? section.forward_max_attempts ?? 5,
    forwardTimeoutMs:
      envInt(env, 'WHATSAPP_FORWARD_TIMEOUT_MS', 1) ?? section.forward_timeout_ms ?? 10_000,
    maxWebhookAgeSeconds:
      envInt(env, 'WHATSAPP_MAX_WEBHOOK_AGE_SECONDS', 1) ?? section.max_webhook_age_seconds ?? 300,
    checkCallPermission,
    numbers,
  };
}
