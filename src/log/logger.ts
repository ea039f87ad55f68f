import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';

export type { Logger } from 'pino';

/**
 * Structured field names that may carry secrets. They are always censored, at the top level and
 * one level down (pino redaction paths are explicit, so nesting deeper than that is not logged).
 */
const SECRET_FIELDS = [
  'apiKey',
  'api_key',
  'apiSecret',
  'api_secret',
  'secret',
  'token',
  'accessToken',
  'access_token',
  'authorization',
  'whatsappApiKey',
  'whatsapp_api_key',
  'appSecret',
  'app_secret',
  'verifyToken',
  'verify_token',
  'password',
];

/** Structured field names that carry phone numbers; redacted unless disabled. */
export const PHONE_FIELDS = [
  'phone',
  'phoneNumber',
  'from',
  'to',
  'caller',
  'callee',
  'waId',
  'wa_id',
];

/** Mask a phone number, keeping the last 3 digits so calls can still be told apart. */
export function redactPhone(value: unknown): string {
  const s = String(value ?? '');
  const digits = s.replace(/\D/g, '');
  if (digits.length <= 3) return '***';
  return `***${digits.slice(-3)}`;
}

function paths(fields: string[]): string[] {
  return fields.flatMap((f) => [f, `*.${f}`]);
}

export interface CreateLoggerOptions {
  level?: string;
  /** Mask phone number fields. Default true. */
  redactPhoneNumbers?: boolean;
  /** Logger name, shown as `name`. */
  name?: string;
  /** Where to write; default stdout. Tests pass a stream to inspect output. */
  destination?: DestinationStream;
}

/** The service logger: JSON lines, secrets censored, phone numbers masked by default. */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const redactPhones = options.redactPhoneNumbers ?? true;
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name ?? 'whatsapp-connector',
    base: undefined,
    redact: {
      paths: [...paths(SECRET_FIELDS), ...(redactPhones ? paths(PHONE_FIELDS) : [])],
      censor: (value, path) => {
        const field = path[path.length - 1] ?? '';
        return PHONE_FIELDS.includes(field) ? redactPhone(value) : '[REDACTED]';
      },
    },
    serializers: { err: pino.stdSerializers.err },
  };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

/** A logger that discards everything (library default). */
export const silentLogger: Logger = pino({ level: 'silent' });
