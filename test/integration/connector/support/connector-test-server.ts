import { Writable } from 'node:stream';
import { SignJWT } from 'jose';
import { loadConfig } from '../../../../src/config/index.js';
import { createLogger } from '../../../../src/log/index.js';
import { ConnectorServer } from '../../../../src/server/connector-server.js';
import { RecordingCalls } from './recording-calls.js';
import { RecordingTwilioBackend } from './recording-twilio-backend.js';

export const TEST_API_KEY = 'APIcompatKey';
export const TEST_API_SECRET = 'compat-secret-that-is-long-enough-0123456789';
export const SECOND_API_KEY = 'APIsecondKey';
export const SECOND_API_SECRET = 'second-secret-that-is-long-enough-9876543210';

export interface ConnectorTestServer {
  /** `http://127.0.0.1:<port>` */
  url: string;
  server: ConnectorServer;
  backend: RecordingCalls;
  /** Records `ConnectTwilioCall` requests. */
  twilio: RecordingTwilioBackend;
  /** Every log line the server wrote (JSON text), to check nothing secret is logged. */
  logs: string[];
  close(): Promise<void>;
}

/**
 * A real ConnectorServer on 127.0.0.1 (port 0) with the Twirp endpoint mounted on a recording
 * double of the call layer, logging at debug level into memory.
 */
export async function startConnectorTestServer(
  env: Record<string, string> = {},
): Promise<ConnectorTestServer> {
  const config = loadConfig({
    env: {
      LIVEKIT_API_KEY: TEST_API_KEY,
      LIVEKIT_API_SECRET: TEST_API_SECRET,
      CONNECTOR_API_KEYS: `${SECOND_API_KEY}: ${SECOND_API_SECRET}`,
      PORT: '0',
      BIND_ADDRESS: '127.0.0.1',
      ...env,
    },
  });
  const logs: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      logs.push(chunk.toString('utf8'));
      cb();
    },
  });
  const logger = createLogger({ level: 'debug', destination });
  const backend = new RecordingCalls();
  const twilio = new RecordingTwilioBackend();
  const server = new ConnectorServer({ config, logger, backend, twilio });
  const port = await server.start();
  return {
    url: `http://127.0.0.1:${port}`,
    server,
    backend,
    twilio,
    logs,
    close: () => server.close(),
  };
}

export interface TokenOptions {
  apiKey?: string;
  secret?: string;
  /** Extra or replacement claims; `undefined` values remove a claim. */
  claims?: Record<string, unknown>;
  /** Seconds from now; negative = in the past. Default 600. */
  expiresIn?: number | null;
  header?: Record<string, unknown>;
}

/** An HS256 access token like the SDKs sign (video.roomCreate), with knobs for negative tests. */
export async function signTestToken(options: TokenOptions = {}): Promise<string> {
  const now = Math.floor(Date.now() / 1000);
  const claims: Record<string, unknown> = {
    video: { roomCreate: true },
    iss: options.apiKey ?? TEST_API_KEY,
    nbf: now,
    ...(options.expiresIn === null ? {} : { exp: now + (options.expiresIn ?? 600) }),
    ...options.claims,
  };
  for (const [k, v] of Object.entries(claims)) if (v === undefined) delete claims[k];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256', ...options.header })
    .sign(new TextEncoder().encode(options.secret ?? TEST_API_SECRET));
}

export interface TwirpAnswer {
  status: number;
  contentType: string | null;
  body: Buffer;
  /** Parsed JSON body when it is JSON, else undefined. */
  json: unknown;
}

/** POST raw bytes to a Connector method (or any path) and collect the answer. */
export async function postTwirp(
  baseUrl: string,
  pathOrMethod: string,
  body: string | Uint8Array,
  headers: Record<string, string> = {},
  method = 'POST',
): Promise<TwirpAnswer> {
  const path = pathOrMethod.startsWith('/')
    ? pathOrMethod
    : `/twirp/livekit.Connector/${pathOrMethod}`;
  const res = await fetch(`${baseUrl}${path}`, {
    method,
    headers,
    body: method === 'GET' || method === 'HEAD' ? undefined : body,
  });
  const buf = Buffer.from(await res.arrayBuffer());
  const contentType = res.headers.get('content-type');
  let json: unknown;
  if (contentType?.startsWith('application/json')) {
    try {
      json = JSON.parse(buf.toString('utf8'));
    } catch {
      json = undefined;
    }
  }
  return { status: res.status, contentType, body: buf, json };
}
