import { stringify as toYaml } from 'yaml';
import { freeTcpPort, freeUdpPort } from './free-ports.js';
import { startProcess, type ManagedProcess } from './managed-process.js';
import { locateLiveKitServer } from './tool-binaries.js';

/**
 * The API key pair a local livekit-server gets when the caller names none. It is published in this
 * repository, so it is for tests on loopback only: `dev` with real WhatsApp numbers refuses it.
 */
export const PUBLIC_DEV_API_KEY = 'devkey';
export const PUBLIC_DEV_API_SECRET = 'devsecret-0123456789-0123456789-abcdef';

export interface LiveKitServerOptions {
  /** Optional - API key. Default {@link PUBLIC_DEV_API_KEY}. */
  apiKey?: string;
  /** Optional - its secret (32 characters or more). Default {@link PUBLIC_DEV_API_SECRET}. */
  apiSecret?: string;
  /** HTTP/WebSocket port; default: a free one. */
  port?: number;
  /** Redis address `host:port` for multi-node mode. */
  redisAddress?: string;
  /** Room empty timeout in seconds (default 30). */
  emptyTimeoutSeconds?: number;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** Print the server's output to stderr. */
  echo?: boolean;
  /** Optional - URLs livekit-server posts its webhooks to (signed with the API key). Default none. */
  webhookUrls?: string[];
}

export interface LiveKitServerHandle {
  /** ws://127.0.0.1:PORT */
  wsUrl: string;
  /** http://127.0.0.1:PORT */
  httpUrl: string;
  apiKey: string;
  apiSecret: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/**
 * Start a real livekit-server on loopback only: `node_ip: 127.0.0.1`, no external IP discovery,
 * loopback candidates on, and a loopback STUN address so clients are never handed public STUN
 * servers. Each call gets its own ports.
 */
export async function startLiveKitServer(
  options: LiveKitServerOptions = {},
): Promise<LiveKitServerHandle> {
  // A port found free can be taken by a parallel test run before the server binds it; that
  // shows as an early exit, so try again with fresh ports (unless the caller fixed the port).
  for (let attempt = 1; ; attempt++) {
    try {
      return await startOnce(options);
    } catch (err) {
      if (!(err instanceof EarlyExitError) || options.port !== undefined || attempt >= 3) throw err;
    }
  }
}

class EarlyExitError extends Error {}

async function startOnce(options: LiveKitServerOptions): Promise<LiveKitServerHandle> {
  const bin = locateLiveKitServer();
  const apiKey = options.apiKey ?? PUBLIC_DEV_API_KEY;
  const apiSecret = options.apiSecret ?? PUBLIC_DEV_API_SECRET;
  const port = options.port ?? (await freeTcpPort());
  const tcpPort = await freeTcpPort();
  const udpPort = await freeUdpPort();
  const config: Record<string, unknown> = {
    port,
    bind_addresses: ['127.0.0.1'],
    keys: { [apiKey]: apiSecret },
    rtc: {
      tcp_port: tcpPort,
      udp_port: udpPort,
      use_external_ip: false,
      node_ip: '127.0.0.1',
      enable_loopback_candidate: true,
      stun_servers: ['127.0.0.1:3478'],
    },
    room: {
      auto_create: true,
      empty_timeout: options.emptyTimeoutSeconds ?? 30,
      departure_timeout: 5,
    },
    logging: { level: options.logLevel ?? 'info', json: true },
  };
  if (options.redisAddress) config.redis = { address: options.redisAddress };
  if (options.webhookUrls?.length) config.webhook = { api_key: apiKey, urls: options.webhookUrls };
  const proc = startProcess(bin, ['--config-body', toYaml(config)], {
    name: 'livekit-server',
    echo: options.echo ?? false,
  });
  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (proc.child.exitCode !== null) {
      throw new EarlyExitError(
        `livekit-server exited with code ${proc.child.exitCode}:\n${proc.tail()}`,
      );
    }
    try {
      const res = await fetch(httpUrl, { signal: AbortSignal.timeout(1000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await proc.stop();
      throw new Error(`livekit-server did not become ready within 30 s:\n${proc.tail()}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    wsUrl: `ws://127.0.0.1:${port}`,
    httpUrl,
    apiKey,
    apiSecret,
    port,
    process: proc,
    stop: () => proc.stop(),
  };
}
