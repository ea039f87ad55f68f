import { Command, Option } from 'commander';
import { ConfigError, loadConfig } from '../config/index.js';
import { createLogger } from '../log/index.js';
import { ConnectorServer } from '../server/connector-server.js';
import { runDev } from './dev-command.js';

/** Exit codes: 0 ok, 1 runtime failure, 2 bad usage or configuration. */
export const EXIT_USAGE = 2;

function fail(message: string, code = 1): never {
  console.error(`whatsapp-connector: ${message}`);
  process.exit(code);
}

export function buildCli(): Command {
  const program = new Command('whatsapp-connector')
    .description('Self-hosted WhatsApp Business Calling connector for LiveKit')
    .option('-c, --config <file>', 'YAML configuration file (also WHATSAPP_CONNECTOR_CONFIG)')
    .showHelpAfterError();

  program
    .command('serve')
    .description('run the Connector API (Twirp livekit.Connector) and the WhatsApp webhook gateway')
    .addOption(
      new Option('-p, --port <port>', 'HTTP port (also PORT); default 8080').argParser(parsePort),
    )
    .option('--bind <address>', 'address to listen on (also BIND_ADDRESS); default 0.0.0.0')
    .addOption(new Option('--log-level <level>', 'log level (also LOG_LEVEL)'))
    .action(async (opts: { port?: number; bind?: string; logLevel?: string }) => {
      const global = program.opts<{ config?: string }>();
      let config;
      try {
        config = loadConfig({
          configFile: global.config,
          overrides: {
            ...(opts.port !== undefined ? { port: opts.port } : {}),
            ...(opts.bind ? { bindAddress: opts.bind } : {}),
            ...(opts.logLevel ? { logLevel: opts.logLevel as never } : {}),
          },
        });
      } catch (err) {
        if (err instanceof ConfigError) fail(err.message, EXIT_USAGE);
        throw err;
      }
      const logger = createLogger({
        level: config.logLevel,
        redactPhoneNumbers: config.redactPhoneNumbers,
      });
      const server = new ConnectorServer({ config, logger });
      const port = await server.start();
      console.error(`whatsapp-connector listening on http://${config.bindAddress}:${port}`);
      const shutdown = async () => {
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown());
      process.once('SIGTERM', () => void shutdown());
    });

  program
    .command('dev')
    .description(
      'start a complete local stack: livekit-server, the connector and the WhatsApp simulator',
    )
    .addOption(
      new Option('-p, --port <port>', 'connector HTTP port; default 8080').argParser(parsePort),
    )
    .action(async (opts: { port?: number }) => {
      await runDev({
        port: opts.port ?? 8080,
        configFile: program.opts<{ config?: string }>().config,
      });
    });

  return program;
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new Error(`invalid port ${JSON.stringify(value)}`);
  }
  return n;
}

/** Run the CLI with `argv` (as process.argv). */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    await buildCli().parseAsync(argv);
  } catch (err) {
    fail(err instanceof Error ? err.message : String(err));
  }
}
