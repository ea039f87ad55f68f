import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConnectTwilioCallRequest_TwilioCallDirection as Direction } from '@livekit/protocol';
import { ConnectorClient } from 'livekit-server-sdk';
import { loadConfig, type Config } from '../../../src/config/index.js';
import { createLogger } from '../../../src/log/index.js';
import { ConnectorServer } from '../../../src/server/connector-server.js';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';

/** A real livekit-server and the real connector on loopback; Twilio is played by the test. */
export interface TwilioStack {
  lk: LiveKitServerHandle;
  server: ConnectorServer;
  config: Config;
  /** The official Node SDK client pointed at the connector. */
  client: ConnectorClient;
  connectorUrl: string;
  stop(): Promise<void>;
}

export async function startTwilioStack(env: Record<string, string> = {}): Promise<TwilioStack> {
  const lk = await startLiveKitServer();
  const config = loadConfig({
    env: {
      LIVEKIT_URL: lk.wsUrl,
      LIVEKIT_API_KEY: lk.apiKey,
      LIVEKIT_API_SECRET: lk.apiSecret,
      LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
      // Admission control measures this process, which in tests also runs the test's own room
      // listeners and simulator: a loaded test machine must not refuse calls. Tests of admission
      // control turn it on.
      ADMISSION_CONTROL: 'false',
      STATE_DIR: mkdtempSync(join(tmpdir(), 'wac-state-')),
      ...env,
    },
    overrides: { port: 0, bindAddress: '127.0.0.1' },
  });
  const server = new ConnectorServer({ config, logger: createLogger({ level: config.logLevel }) });
  const port = await server.start();
  const connectorUrl = `http://127.0.0.1:${port}`;
  return {
    lk,
    server,
    config,
    client: new ConnectorClient(connectorUrl, lk.apiKey, lk.apiSecret),
    connectorUrl,
    async stop() {
      await server.close();
      await lk.stop();
    },
  };
}

export { Direction };

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Poll `check` until it returns a truthy value or `timeoutMs` passes. */
export async function eventually<T>(
  check: () => T | Promise<T>,
  timeoutMs = 10_000,
  what = 'condition',
): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v) return v as NonNullable<T>;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await sleep(50);
  }
}
