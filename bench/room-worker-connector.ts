/**
 * The connector under measurement, alone in its process: `ConnectorServer` from the
 * environment (LIVEKIT_*, WHATSAPP_GRAPH_URL, ROOM_WORKER_CALLS_PER_PROCESS...). Prints
 * `{"port": n}` once listening; exits on SIGTERM after closing.
 */
import { loadConfig } from '../src/config/index.js';
import { createLogger } from '../src/log/index.js';
import { ConnectorServer } from '../src/server/connector-server.js';

const config = loadConfig({ overrides: { port: 0, bindAddress: '127.0.0.1' } });
const server = new ConnectorServer({ config, logger: createLogger({ level: config.logLevel }) });
const port = await server.start();
process.stdout.write(`${JSON.stringify({ port })}\n`);
process.once('SIGTERM', () => {
  void server.close().then(() => process.exit(0));
});
