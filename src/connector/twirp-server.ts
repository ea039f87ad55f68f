import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Message, MessageType } from '@bufbuild/protobuf';
import {
  AcceptWhatsAppCallRequest,
  ConnectTwilioCallRequest,
  ConnectWhatsAppCallRequest,
  ConnectWhatsAppCallResponse,
  DialWhatsAppCallRequest,
  DisconnectWhatsAppCallRequest,
  DisconnectWhatsAppCallResponse,
} from '@livekit/protocol';
import type { CallOperations } from '../calls/call-params.js';
import { ConnectorError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { silentLogger } from '../log/index.js';
import { BodyTooLargeError, readBody, type RouteHandler } from '../server/http-server.js';
import { authenticateConnectorRequest } from './connector-auth.js';
import { toTwirpError } from './connector-errors.js';
import {
  acceptParamsOf,
  acceptResponseOf,
  connectParamsOf,
  dialParamsOf,
  dialResponseOf,
  disconnectParamsOf,
  operationContextOf,
} from './connector-params.js';
import {
  ConnectorRequestValidator,
  type ConnectorRequestDefaults,
} from './connector-request-validator.js';
import type { ConnectorMethod, RequestContext } from './request-context.js';
import { validateConnectTwilioCall, type TwilioCallBackend } from './twilio-call-backend.js';

/** Path prefix every LiveKit SDK uses, at the root of the listener. */
export const TWIRP_PREFIX = '/twirp/';
/** Fully qualified Twirp service name. */
export const CONNECTOR_SERVICE = 'livekit.Connector';
/** Default request body limit: 1 MiB, far above any real Connector request (SDPs are ~2 KiB). */
export const DEFAULT_MAX_BODY_BYTES = 1024 * 1024;

export interface ConnectorTwirpHandlerOptions {
  /** API key → secret pairs accepted in access tokens (`Config.apiKeys`). */
  apiKeys: Readonly<Record<string, string>>;
  /**
   * Does the work once a request is authenticated, validated and converted into call parameters
   * (the call router, in the server).
   */
  calls: CallOperations;
  /** Serves `ConnectTwilioCall`; without it the method answers `unimplemented`. */
  twilio?: TwilioCallBackend | undefined;
  /** Default: silent. Never receives request bodies, tokens or WhatsApp api keys. */
  logger?: Logger;
  /** Largest accepted request body in bytes. Default {@link DEFAULT_MAX_BODY_BYTES} (1 MiB). */
  maxBodyBytes?: number;
  /** Request defaults (ringing timeout, supported Cloud API versions, …). */
  defaults?: ConnectorRequestDefaults;
}

type Encoding = 'json' | 'protobuf';

/** Content types accepted per encoding; `application/x-protobuf` is a common alias. */
const CONTENT_TYPES: Record<string, Encoding> = {
  'application/json': 'json',
  'application/protobuf': 'protobuf',
  'application/x-protobuf': 'protobuf',
};

const RESPONSE_CONTENT_TYPE: Record<Encoding, string> = {
  json: 'application/json',
  protobuf: 'application/protobuf',
};

/** Twirp services in Go emit snake_case with every field (livekit-server keeps those defaults). */
const JSON_WRITE_OPTIONS = { useProtoFieldName: true, emitDefaultValues: true } as const;

/**
 * Serialise a ConnectorError as a Twirp error: the one place that does so. Body is exactly
 * `{"code","msg"}` plus `meta` when non-empty (never null, string values only) and the header is
 * exactly `Content-Type: application/json` — the Node SDK compares it literally, the Go client
 * rejects unknown keys, the Rust client requires `msg`.
 */
export function writeTwirpError(res: ServerResponse, err: ConnectorError): void {
  const body: { code: string; msg: string; meta?: Record<string, string> } = {
    code: err.code,
    msg: String(err.message ?? ''),
  };
  const meta: Record<string, string> = {};
  for (const [key, value] of Object.entries(err.meta ?? {})) {
    if (typeof value === 'string') meta[key] = value;
  }
  if (Object.keys(meta).length > 0) body.meta = meta;
  const payload = Buffer.from(JSON.stringify(body), 'utf8');
  if (res.headersSent) {
    res.end();
    return;
  }
  res.writeHead(err.httpStatus, {
    'Content-Type': 'application/json',
    'Content-Length': String(payload.length),
  });
  res.end(payload);
}

function badRoute(msg: string, req: IncomingMessage, path: string): ConnectorError {
  return new ConnectorError('bad_route', msg, {
    twirp_invalid_route: `${req.method ?? ''} ${path}`,
  });
}

function twilioUnimplemented(): ConnectorError {
  return new ConnectorError(
    'unimplemented',
    'ConnectTwilioCall is not implemented by this connector',
  );
}

/** One Twirp method: how to decode, validate, run and encode it. */
interface MethodBinding {
  invoke(body: Buffer, encoding: Encoding, ctx: RequestContext): Promise<Uint8Array>;
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function decode<T extends Message<T>>(type: MessageType<T>, body: Buffer, encoding: Encoding): T {
  if (encoding === 'protobuf') {
    try {
      return type.fromBinary(body, { readUnknownFields: false });
    } catch {
      throw new ConnectorError('malformed', 'the protobuf request could not be decoded');
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(utf8.decode(body));
  } catch {
    throw new ConnectorError('malformed', 'the json request could not be decoded');
  }
  if (json === null || typeof json !== 'object' || Array.isArray(json)) {
    throw new ConnectorError('malformed', 'the json request could not be decoded', {
      cause: 'the body must be a JSON object',
    });
  }
  try {
    return type.fromJson(json as never, { ignoreUnknownFields: true });
  } catch (err) {
    throw new ConnectorError('malformed', 'the json request could not be decoded', {
      cause: describeJsonError(err),
    });
  }
}

/**
 * protobuf-es says which field failed and then echoes the offending value; keep the field only,
 * so a mistyped api key never ends up in an answer or a log.
 */
function describeJsonError(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const head = text.split(' from JSON')[0] ?? '';
  const name = /((?:[A-Za-z_]\w*\.)+[A-Za-z_]\w*)/.exec(head)?.[1];
  return name ? `invalid value for ${name}` : 'invalid field value';
}

function encode<T extends Message<T>>(message: T, encoding: Encoding): Uint8Array {
  if (encoding === 'protobuf') return message.toBinary();
  return Buffer.from(JSON.stringify(message.toJson(JSON_WRITE_OPTIONS)), 'utf8');
}

function bind<Req extends Message<Req>, Res extends Message<Res>>(
  requestType: MessageType<Req>,
  validate: (req: Req) => Req,
  call: (req: Req, ctx: RequestContext) => Promise<Res>,
): MethodBinding {
  return {
    async invoke(body, encoding, ctx) {
      const request = validate(decode(requestType, body, encoding));
      const response = await call(request, ctx);
      return encode(response, encoding);
    },
  };
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function clientRequestId(req: IncomingMessage): string | undefined {
  const value = headerValue(req, 'x-livekit-request-id');
  return value && /^[\x21-\x7e]{1,128}$/.test(value) ? value : undefined;
}

/** `scheme://host` the client addressed, trusting X-Forwarded-* as a reverse proxy sets them. */
function requestOrigin(req: IncomingMessage): string | undefined {
  const first = (value: string | undefined) => value?.split(',')[0]?.trim() || undefined;
  const host = first(headerValue(req, 'x-forwarded-host')) ?? first(headerValue(req, 'host'));
  if (!host || !/^[A-Za-z0-9.:[\]-]{1,255}$/.test(host)) return undefined;
  const proto = first(headerValue(req, 'x-forwarded-proto'))?.toLowerCase();
  return `${proto === 'https' || proto === 'wss' ? 'https' : 'http'}://${host}`;
}

function clientTimeoutMs(req: IncomingMessage): number | undefined {
  const value = headerValue(req, 'x-twirp-timeout-ms');
  if (!value || !/^\d{1,9}$/.test(value)) return undefined;
  const ms = Number(value);
  return ms > 0 ? ms : undefined;
}

/**
 * The `livekit.Connector` Twirp endpoint, mounted with `HttpServer.route('/twirp/', handler)`.
 * Order of work per request, mirroring a Go Twirp server behind livekit-server's auth:
 * HTTP method (POST only) → path (`bad_route`) → access token (401, before the body is read) →
 * `ConnectTwilioCall` without a Twilio backend (`unimplemented`) → Content-Type (`bad_route`) →
 * body (size limit,
 * `malformed`) → validation (catalogue errors) → conversion into call parameters → the call API
 * → answer in the request's encoding. Failures of the call API are typed errors, mapped to
 * Twirp codes and LiveKit's messages here, once (`toTwirpError`).
 */
export function createConnectorTwirpHandler(options: ConnectorTwirpHandlerOptions): RouteHandler {
  const { apiKeys, calls, twilio } = options;
  const logger = options.logger ?? silentLogger;
  const maxBodyBytes = options.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const validator = new ConnectorRequestValidator(options.defaults);

  const methods: Record<ConnectorMethod, MethodBinding> = {
    DialWhatsAppCall: bind(
      DialWhatsAppCallRequest,
      (r) => validator.dial(r),
      async (r, ctx) =>
        dialResponseOf(await calls.dial(dialParamsOf(r, ctx), operationContextOf(ctx))),
    ),
    ConnectWhatsAppCall: bind(
      ConnectWhatsAppCallRequest,
      (r) => validator.connect(r),
      async (r, ctx) => {
        await calls.connect(connectParamsOf(r), operationContextOf(ctx));
        return new ConnectWhatsAppCallResponse();
      },
    ),
    AcceptWhatsAppCall: bind(
      AcceptWhatsAppCallRequest,
      (r) => validator.accept(r),
      async (r, ctx) =>
        acceptResponseOf(await calls.accept(acceptParamsOf(r), operationContextOf(ctx))),
    ),
    DisconnectWhatsAppCall: bind(
      DisconnectWhatsAppCallRequest,
      (r) => validator.disconnect(r),
      async (r, ctx) => {
        await calls.disconnect(disconnectParamsOf(r), operationContextOf(ctx));
        return new DisconnectWhatsAppCallResponse();
      },
    ),
    ConnectTwilioCall: bind(
      ConnectTwilioCallRequest,
      (r) => validateConnectTwilioCall(r),
      (r, ctx) => {
        if (!twilio) throw twilioUnimplemented();
        return twilio.connectTwilioCall(r, ctx);
      },
    ),
  };

  return async (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> => {
    const path = url.pathname;
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client closed the connection'));
    });
    let method: ConnectorMethod | undefined;
    let log = logger;
    try {
      if (req.method !== 'POST') {
        throw badRoute(
          `unsupported method ${JSON.stringify(req.method ?? '')} (only POST is allowed)`,
          req,
          path,
        );
      }
      const parts = path.startsWith(TWIRP_PREFIX) ? path.slice(TWIRP_PREFIX.length).split('/') : [];
      const [service, name] = parts;
      const known =
        parts.length === 2 &&
        service === CONNECTOR_SERVICE &&
        name !== undefined &&
        Object.hasOwn(methods, name);
      if (!known) throw badRoute(`no handler for path ${JSON.stringify(path)}`, req, path);

      const caller = await authenticateConnectorRequest(headerValue(req, 'authorization'), apiKeys);
      if (name === 'ConnectTwilioCall' && !twilio) throw twilioUnimplemented();
      method = name as ConnectorMethod;

      const contentType = (headerValue(req, 'content-type') ?? '').split(';')[0]?.trim();
      const encoding = CONTENT_TYPES[contentType?.toLowerCase() ?? ''];
      if (!encoding) {
        throw badRoute(`unexpected Content-Type: ${JSON.stringify(contentType ?? '')}`, req, path);
      }

      const fromClient = clientRequestId(req);
      const requestId = fromClient ?? randomUUID();
      log = logger.child({ method, requestId });
      const ctx: RequestContext = {
        method,
        apiKeyId: caller.apiKeyId,
        requestId,
        clientRequestId: fromClient !== undefined,
        signal: controller.signal,
        clientTimeoutMs: clientTimeoutMs(req),
        logger: log,
        clientOrigin: requestOrigin(req),
      };

      let body: Buffer;
      try {
        body = await readBody(req, maxBodyBytes);
      } catch (err) {
        if (err instanceof BodyTooLargeError) {
          // The rest of an oversized body is not worth reading: close the connection after answering.
          res.setHeader('Connection', 'close');
          throw new ConnectorError(
            'malformed',
            `failed to read request body: larger than ${maxBodyBytes} bytes`,
          );
        }
        throw new ConnectorError('malformed', 'failed to read request body', {}, { cause: err });
      }

      log.debug({ apiKeyId: caller.apiKeyId, encoding, bytes: body.length }, 'connector request');
      const answer = await methods[method].invoke(body, encoding, ctx);
      if (res.headersSent) return;
      res.writeHead(200, {
        'Content-Type': RESPONSE_CONTENT_TYPE[encoding],
        'Content-Length': String(answer.length),
      });
      res.end(answer);
    } catch (thrown) {
      const err = toTwirpError(thrown);
      if (err.code === 'internal' || err.code === 'unknown') {
        log.error({ err: thrown, method, code: err.code }, 'connector request failed');
      } else {
        log.debug({ method, code: err.code, msg: err.message }, 'connector request rejected');
      }
      writeTwirpError(res, err);
    }
  };
}
