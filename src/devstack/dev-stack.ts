/**
 * The complete local stack of `whatsapp-connector dev` (and `make dev`): livekit-server, the
 * WhatsApp simulator as Meta (unless the configuration names real numbers), the connector with
 * its webhook gateway, and the demo echo agent.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify as toYaml } from 'yaml';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { loadGatewaySettings } from '../gateway/gateway-config.js';
import { createLogger } from '../log/index.js';
import { ConnectorServer } from '../server/connector-server.js';
import { WhatsAppSimulator } from '../simulator/index.js';
import { DemoEchoParticipant } from './demo-echo-participant.js';
import {
  PUBLIC_DEV_API_SECRET,
  startLiveKitServer,
  type LiveKitServerHandle,
} from './livekit-server.js';

export interface DevStackOptions {
  /** Required - connector public port (webhooks, Connector API). */
  port: number;
  /** Optional - connector internal port (metrics, health, `/api/calls`). Default `port + 1`. */
  internalPort?: number | undefined;
  /** Required - livekit-server port. */
  livekitPort: number;
  /** Required - simulator port. */
  simulatorPort: number;
  /** Required - where the generated configuration and the dev API secret are kept. */
  runDir: string;
  /** Optional - a configuration with real WhatsApp numbers runs against Meta, not the simulator. */
  configFile?: string | undefined;
  /** Required - join each call's room with the demo echo agent. */
  demo: boolean;
  /** Optional - progress lines while starting. */
  onProgress?: (line: string) => void;
}

/** The running dev stack. */
export interface DevStack {
  config: Config;
  /** The configuration file the CLI can use against this stack (generated or the user's). */
  configFile: string | undefined;
  livekit: LiveKitServerHandle;
  server: ConnectorServer;
  /** The simulator playing Meta; undefined with real numbers. */
  simulator: WhatsAppSimulator | undefined;
  /** Addresses the connector listens on were narrowed to loopback (real numbers). */
  loopbackOnly: boolean;
  stop(): Promise<void>;
}

/** A part of the stack did not start; the message says which and what to do. */
export class DevStackError extends Error {
  override readonly name = 'DevStackError';
}

export const DEV_ACCESS_TOKEN = 'dev-access-token';
export const DEV_APP_SECRET = 'dev-app-secret';
export const DEV_VERIFY_TOKEN = 'dev-verify-token';
/** The API key of the local livekit-server (its secret is generated, see {@link devApiSecret}). */
export const DEV_API_KEY = 'devkey';

/** File in the run directory holding the generated API secret. */
const SECRET_FILE = 'livekit-api-secret';

/**
 * The API secret of the dev stack: generated on first use and kept (mode 0600) in the run
 * directory, so agents and the CLI keep working across restarts. Never a published value: the
 * Connector API of a stack with real numbers must not accept tokens anyone can sign.
 */
export function devApiSecret(runDir: string): string {
  const path = resolve(runDir, SECRET_FILE);
  if (existsSync(path)) {
    const kept = readFileSync(path, 'utf8').trim();
    if (kept.length >= 32) return kept;
  }
  mkdirSync(runDir, { recursive: true });
  const secret = randomBytes(32).toString('base64url');
  writeFileSync(path, `${secret}\n`, { mode: 0o600 });
  return secret;
}

/**
 * Refuse API keys whose secret is public: the test bed's default, LiveKit's `devkey: secret`.
 * @throws ConfigError naming the key.
 */
export function refusePublicApiSecrets(config: Config): void {
  for (const [key, secret] of Object.entries(config.apiKeys)) {
    if (secret === PUBLIC_DEV_API_SECRET || (key === 'devkey' && secret === 'secret')) {
      throw new ConfigError(
        key === config.livekit.apiKey ? 'LIVEKIT_API_SECRET' : `api_keys.${key}`,
        `the secret of API key ${JSON.stringify(key)} is a published development secret: with real WhatsApp numbers, use your own (openssl rand -base64 32)`,
      );
    }
  }
}

/** What the connector needs to reach the dev stack's livekit-server. */
export interface DevLiveKitSettings {
  LIVEKIT_URL: string;
  LIVEKIT_API_KEY: string;
  LIVEKIT_API_SECRET: string;
}

/**
 * The user's configuration when it names real WhatsApp numbers (an `access_token`), else
 * undefined. Such a stack listens on loopback only, whatever the file says (a tunnel brings Meta's
 * webhooks in), and refuses API secrets that are published.
 * @throws ConfigError for an invalid file or a published secret.
 */
export function realNumbersConfig(
  configFile: string | undefined,
  livekit: DevLiveKitSettings,
  options: Pick<DevStackOptions, 'port' | 'internalPort'>,
  env: NodeJS.ProcessEnv = process.env,
): Config | undefined {
  if (!configFile) return undefined;
  const config = loadConfig({
    configFile,
    env: { ...livekit, ...env },
    overrides: {
      port: options.port,
      bindAddress: '127.0.0.1',
      internalBindAddress: '127.0.0.1',
      ...(options.internalPort !== undefined ? { internalPort: options.internalPort } : {}),
    },
  });
  const numbers = loadGatewaySettings(config, env).numbers.filter((n) => n.accessToken);
  if (numbers.length === 0) return undefined;
  refusePublicApiSecrets(config);
  return config;
}

/**
 * Start the stack. Cleans up what it started if a later step fails.
 * @throws DevStackError naming the part that failed; ConfigError for a bad configuration.
 */
export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const progress = options.onProgress ?? (() => undefined);
  const stops: (() => Promise<void>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
    stops.length = 0;
  };
  try {
    const runDir = resolve(options.runDir);
    const apiSecret = devApiSecret(runDir);
    const livekitEnv: DevLiveKitSettings = {
      LIVEKIT_URL: `ws://127.0.0.1:${options.livekitPort}`,
      LIVEKIT_API_KEY: DEV_API_KEY,
      LIVEKIT_API_SECRET: apiSecret,
    };
    // The user's configuration is checked before anything starts.
    const real = realNumbersConfig(options.configFile, livekitEnv, options);
    progress(`starting livekit-server on 127.0.0.1:${options.livekitPort} ...`);
    const lk = await startLiveKitServer({
      port: options.livekitPort,
      apiKey: DEV_API_KEY,
      apiSecret,
    }).catch((err: unknown) => {
      throw new DevStackError(
        `livekit-server did not start (is port ${options.livekitPort} free? use --livekit-port): ${(err as Error).message.split('\n')[0] ?? ''}`,
      );
    });
    stops.push(() => lk.stop());

    let config: Config;
    let simulator: WhatsAppSimulator | undefined;
    let configFile: string | undefined;
    if (real) {
      config = real;
      configFile = options.configFile;
    } else {
      simulator = await WhatsAppSimulator.start({
        port: options.simulatorPort,
        accessToken: DEV_ACCESS_TOKEN,
        appSecret: DEV_APP_SECRET,
        webhookUrl: `http://127.0.0.1:${options.port}/whatsapp/webhook`,
        // Dialled users pick up after 2 s and say a 440 Hz tone.
        businessCallBehaviour: {
          action: 'answer',
          delayMs: 2000,
          voice: { kind: 'tone', frequencyHz: 440 },
        },
      }).catch((err: unknown) => {
        throw new DevStackError(
          `the simulator did not start (is port ${options.simulatorPort} free? use --simulator-port): ${(err as Error).message}`,
        );
      });
      const sim = simulator;
      stops.push(() => sim.close());
      configFile = writeSimulatedConfig(runDir, options, lk, sim);
      const env: NodeJS.ProcessEnv = { ...process.env };
      for (const k of Object.keys(env))
        if (k.startsWith('WHATSAPP_') || k.startsWith('LIVEKIT_')) delete env[k];
      config = loadConfig({ configFile, env: { LOG_LEVEL: 'warn', ...env } });
    }

    // The operator console is always on in dev (opt-in for serve).
    config = { ...config, console: { enabled: true } };
    // Simulated calls keep their state with the run, unless STATE_DIR says otherwise.
    if (!real && !process.env.STATE_DIR) config = { ...config, stateDir: resolve(runDir, 'state') };
    const logger = createLogger({
      level: config.logLevel,
      redactPhoneNumbers: config.redactPhoneNumbers,
    });
    const server = new ConnectorServer({
      config,
      logger,
      consoleSignInHint: config.livekit.apiKey,
    });
    stops.push(() => server.close());
    await server.start().catch((err: unknown) => {
      throw new DevStackError(
        `the connector cannot listen on ports ${config.port} and ${config.internal.port} (use --port, --internal-port): ${(err as Error).message}`,
      );
    });

    if (options.demo) {
      const demo = new DemoEchoParticipant(config.livekit, logger.child({ component: 'demo' }));
      server.gateway?.on('inboundCall', (r) => void demo.join(r.roomName));
      // Dialled calls: join their rooms as soon as they appear.
      const watch = setInterval(() => {
        for (const c of server.calls?.registry.list() ?? []) {
          if (c.direction === 'outbound' && c.state !== 'ending' && c.state !== 'ended') {
            void demo.join(c.roomName);
          }
        }
      }, 300);
      stops.push(async () => clearInterval(watch));
      stops.push(() => demo.close());
    }
    return {
      config,
      configFile,
      livekit: lk,
      server,
      simulator,
      loopbackOnly: Boolean(real),
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A real configuration file for the simulated stack, so the CLI (dial, calls, ...) works with it. */
function writeSimulatedConfig(
  runDir: string,
  options: DevStackOptions,
  lk: LiveKitServerHandle,
  sim: WhatsAppSimulator,
): string {
  mkdirSync(runDir, { recursive: true });
  const configFile = resolve(runDir, 'config.yaml');
  const config = {
    port: options.port,
    bind_address: '127.0.0.1',
    ...(options.internalPort !== undefined ? { internal_port: options.internalPort } : {}),
    internal_bind_address: '127.0.0.1',
    state_dir: resolve(runDir, 'state'),
    livekit: { url: lk.wsUrl, api_key: lk.apiKey, api_secret: lk.apiSecret },
    media: { ice_addresses: ['127.0.0.1'] },
    whatsapp: {
      graph_url: sim.graphUrl,
      verify_token: DEV_VERIFY_TOKEN,
      app_secret: DEV_APP_SECRET,
      numbers: [
        {
          phone_number_id: sim.defaultPhoneNumberId,
          access_token: DEV_ACCESS_TOKEN,
          api_version: '24.0',
          inbound: {
            room: 'whatsapp-{caller}',
            participant: {
              identity: 'whatsapp_{caller}',
              name: '{callerName}',
              attributes: { 'demo.source': 'whatsapp-connector dev' },
            },
            accept: options.demo ? 'when_agent_ready' : 'immediately',
            agent_ready_timeout_seconds: 10,
          },
        },
      ],
    },
  };
  writeFileSync(
    configFile,
    `# Generated by "whatsapp-connector dev": the local stack with the WhatsApp simulator as Meta.\n${toYaml(config)}`,
    { mode: 0o600 },
  );
  return configFile;
}
