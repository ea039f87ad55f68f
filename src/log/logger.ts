import { pino, type Logger, type LoggerOptions, type DestinationStream } from 'pino';
import { redactLogValue, type RedactionOptions } from './log-redaction.js';

export type { Logger } from 'pino';
export {
  CENSORED,
  PHONE_BEARING_FIELDS,
  PHONE_FIELDS,
  maskDigits,
  maskEmbeddedPhoneNumbers,
  redactLogValue,
  redactPhone,
} from './log-redaction.js';

export interface CreateLoggerOptions {
  level?: string;
  /** Mask phone numbers, also inside room names and identities. Default true. */
  redactPhoneNumbers?: boolean;
  /** Logger name, shown as `name`. */
  name?: string;
  /** Where to write; default stdout. Tests pass a stream to inspect output. */
  destination?: DestinationStream;
}

/**
 * The service logger: JSON lines; secrets censored and phone numbers masked (by default) in every
 * structured field at any depth, in child bindings and serialized errors alike. Messages are
 * static text: values go in fields, where this can see them.
 */
export function createLogger(options: CreateLoggerOptions = {}): Logger {
  const redaction: RedactionOptions = { maskPhoneNumbers: options.redactPhoneNumbers ?? true };
  const redact = (value: object) => redactLogValue(value, redaction) as Record<string, unknown>;
  const opts: LoggerOptions = {
    level: options.level ?? 'info',
    name: options.name ?? 'whatsapp-connector',
    base: undefined,
    // `log` sees each call's fields; pino serializes after it.
    formatters: {
      log: (fields) => {
        const { err, ...rest } = fields;
        const out = redact(rest);
        // The error serializer needs the Error itself; its output is redacted below.
        if (err !== undefined) out.err = err;
        return out;
      },
    },
    serializers: {
      err: (err: unknown) =>
        err instanceof Error
          ? redact(pino.stdSerializers.err(err))
          : redactLogValue(err, redaction),
    },
  };
  const logger = options.destination ? pino(opts, options.destination) : pino(opts);
  // pino gives child bindings to no formatter (it resets `formatters.bindings` for children), so
  // they are redacted on the way in. Children inherit this `child` through their prototype.
  const child = logger.child;
  logger.child = function (this: Logger, bindings, childOptions) {
    return child.call(this, redact(bindings), childOptions);
  } as Logger['child'];
  return logger;
}

/** A logger that discards everything (library default). */
export const silentLogger: Logger = pino({ level: 'silent' });
