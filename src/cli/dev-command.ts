import { loadConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { ConnectorServer } from '../server/connector-server.js';

export interface DevOptions {
  /** Connector HTTP port. */
  port: number;
  configFile?: string | undefined;
}

/**
 * `whatsapp-connector dev`: the whole stack on loopback with embedded defaults. livekit-server
 * is started from the project's test bed (built on first use).
 */
export async function runDev(options: DevOptions): Promise<void> {
  // The test bed lives outside src/ (it is a development tool, not part of the service package).
  const { startLiveKitServer } = await import('../../testbed/livekit-server.js');
  console.log('starting livekit-server (loopback only)...');
  const lk = await startLiveKitServer({ port: 7880 });
  const config = loadConfig({
    configFile: options.configFile,
    env: {
      ...process.env,
      LIVEKIT_URL: process.env.LIVEKIT_URL ?? lk.wsUrl,
      LIVEKIT_API_KEY: process.env.LIVEKIT_API_KEY ?? lk.apiKey,
      LIVEKIT_API_SECRET: process.env.LIVEKIT_API_SECRET ?? lk.apiSecret,
    },
    overrides: { port: options.port, bindAddress: '127.0.0.1' },
  });
  const logger = createLogger({
    level: config.logLevel,
    redactPhoneNumbers: config.redactPhoneNumbers,
  });
  const server = new ConnectorServer({ config, logger });
  const port = await server.start();
  console.log(`
whatsapp-connector dev stack is up
  livekit-server   ${lk.wsUrl}   (api key ${lk.apiKey})
  connector API    http://127.0.0.1:${port}/twirp/livekit.Connector/*
  health           http://127.0.0.1:${port}/healthz
  metrics          http://127.0.0.1:${port}/metrics
Press Ctrl+C to stop.`);
  const shutdown = async () => {
    await server.close();
    await lk.stop();
    process.exit(0);
  };
  process.once('SIGINT', () => void shutdown());
  process.once('SIGTERM', () => void shutdown());
}
