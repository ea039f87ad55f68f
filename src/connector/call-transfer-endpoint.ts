/**
 * `POST /api/calls/{callId}/transfer`: move a live call into another room (the WhatsApp leg stays
 * up). Authenticated like the Connector API (a LiveKit access token with `roomCreate`, signed with
 * one of the configured API keys); answers JSON in the Connector API's error shape
 * (`{"code","msg","meta"}`, Twirp codes and HTTP statuses) so clients handle both alike.
 */
import { randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { z } from 'zod';
import { CallNotFoundError, CallOwnerGoneError } from '../calls/call-errors.js';
import type { CallOperations, TransferParams } from '../calls/call-params.js';
import { validateTransferParams } from '../calls/call-params-validation.js';
import { ConnectorError } from '../errors/index.js';
import type { Logger } from '../log/index.js';
import { BodyTooLargeError, readBody, type RouteHandler } from '../server/http-server.js';
import { authenticateConnectorRequest } from './connector-auth.js';
import { toTwirpError } from './connector-errors.js';

/** Prefix the transfer endpoint is routed under (`/api/calls/{callId}/transfer`). */
export const CALL_ACTIONS_PATH_PREFIX = '/api/calls/';

/** Largest transfer request body, bytes: a room, a participant and a few agents. */
export const MAX_TRANSFER_BODY_BYTES = 64 * 1024;

/**
 * How long a transfer request may take, ms: joining a room is a second or two; a client that has
 * not had an answer by then should look at the call listing rather than wait.
 */
export const TRANSFER_REQUEST_TIMEOUT_MS = 20_000;

const text = z.string();

/** The request body (camelCase, like `GET /api/calls`). Unknown fields are refused. */
export const transferRequestBody = z
  .object({
    /** Required - the room to move the call into. */
    room: z.string().min(1, 'room is required'),
    identity: z.string().min(1).optional(),
    name: text.optional(),
    metadata: text.optional(),
    attributes: z.record(text).optional(),
    agents: z
      .array(
        z
          .object({
            agentName: z.string().min(1, 'agentName is required'),
            metadata: text.optional(),
          })
          .strict(),
      )
      .optional(),
  })
  .strict();

export type TransferRequestBody = z.infer<typeof transferRequestBody>;

/** The call layer's parameters of a request body for `callId`. */
export function transferParamsOf(callId: string, body: TransferRequestBody): TransferParams {
  return {
    callId,
    roomName: body.room,
    identity: body.identity,
    name: body.name,
    metadata: body.metadata,
    attributes: body.attributes,
    agents: body.agents?.map((a) => ({
      agentName: a.agentName,
      metadata: a.metadata ?? '',
      restartPolicy: 0,
      deployment: '',
      attributes: {},
    })),
  };
}

/** Why a parsed body is unusable, in one line naming the field. */
export function describeBodyError(err: z.ZodError): string {
  const issue = err.issues[0];
  if (!issue) return 'invalid request body';
  const path = issue.path.join('.');
  if (issue.code === 'unrecognized_keys') return `unknown field ${issue.keys.join(', ')}`;
  if (issue.code === 'invalid_type' && issue.received === 'undefined') {
    return `${path} is required`;
  }
  return path ? `${path}: ${issue.message}` : issue.message;
}

/** The Twilio calls of this instance, as the endpoint needs them (`TwilioConnector`). */
export interface TwilioTransfers {
  /** Undefined when no active Twilio call with this call SID or session id is held here. */
  transfer(
    id: string,
    target: Omit<TransferParams, 'callId'>,
  ): Promise<{ roomName: string; identity: string } | undefined>;
}

export interface CallTransferEndpointOptions {
  /** The calls wherever they are held (the router: a call on a peer is transferred there). */
  calls: Pick<CallOperations, 'transfer'>;
  /**
   * Optional - Twilio calls of this instance, tried when no WhatsApp call has the id (a Twilio
   * call SID `CA…`). Twilio calls are not shared in a cluster: ask the instance holding it.
   */
  twilio?: TwilioTransfers | undefined;
  /** LiveKit API key → secret; a request's token must be signed with one of them. */
  apiKeys: Readonly<Record<string, string>>;
  logger: Logger;
}

function answer(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
  res.end(JSON.stringify(body));
}

function answerError(res: ServerResponse, err: ConnectorError): void {
  answer(res, err.httpStatus, {
    code: err.code,
    msg: err.message,
    ...(Object.keys(err.meta).length > 0 ? { meta: err.meta } : {}),
  });
}

/** The handler of `POST /api/calls/{callId}/transfer` (route it at {@link CALL_ACTIONS_PATH_PREFIX}). */
export function createCallTransferEndpoint(options: CallTransferEndpointOptions): RouteHandler {
  const log = options.logger.child({ component: 'transfer-endpoint' });
  return async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const match = /^\/api\/calls\/([^/]+)\/transfer$/.exec(url.pathname);
    if (!match?.[1]) {
      answerError(res, new ConnectorError('bad_route', 'no such endpoint'));
      return;
    }
    if (req.method !== 'POST') {
      res.setHeader('Allow', 'POST');
      answer(res, 405, { code: 'bad_route', msg: 'use POST' });
      return;
    }
    let apiKeyId: string;
    try {
      const auth = req.headers.authorization;
      ({ apiKeyId } = await authenticateConnectorRequest(
        Array.isArray(auth) ? auth[0] : auth,
        options.apiKeys,
      ));
    } catch (err) {
      answerError(res, toTwirpError(err));
      return;
    }
    let callId: string;
    try {
      callId = decodeURIComponent(match[1]);
    } catch {
      answerError(res, new ConnectorError('invalid_argument', 'malformed call id in the path'));
      return;
    }
    let body: TransferRequestBody;
    try {
      const raw = await readBody(req, MAX_TRANSFER_BODY_BYTES);
      const parsed = transferRequestBody.safeParse(JSON.parse(raw.toString('utf8') || 'null'));
      if (!parsed.success) {
        answerError(res, new ConnectorError('invalid_argument', describeBodyError(parsed.error)));
        return;
      }
      body = parsed.data;
    } catch (err) {
      // The listener answers 413 for a body over the cap.
      if (err instanceof BodyTooLargeError) throw err;
      answerError(
        res,
        err instanceof SyntaxError
          ? new ConnectorError('malformed', 'the body must be a JSON object')
          : toTwirpError(err),
      );
      return;
    }
    const controller = new AbortController();
    res.once('close', () => {
      if (!res.writableFinished) controller.abort(new Error('client went away'));
    });
    const requestId = randomUUID();
    const logger = log.child({ requestId, callId });
    const params = transferParamsOf(callId, body);
    try {
      validateTransferParams(params);
      let result;
      try {
        result = await options.calls.transfer(params, {
          logger,
          signal: controller.signal,
          origin: 'api',
          requestId,
          requester: apiKeyId,
          deadline: Date.now() + TRANSFER_REQUEST_TIMEOUT_MS,
        });
      } catch (err) {
        const twilio =
          err instanceof CallNotFoundError && !(err instanceof CallOwnerGoneError)
            ? await options.twilio?.transfer(callId, params)
            : undefined;
        if (!twilio) throw err;
        result = { callId, roomName: twilio.roomName, participantIdentity: twilio.identity };
      }
      answer(res, 200, result);
    } catch (err) {
      const e = toTwirpError(err);
      if (e.code === 'internal') logger.error({ err }, 'transfer failed');
      else logger.info({ code: e.code, reason: e.message }, 'transfer refused');
      answerError(res, e);
    }
  };
}
