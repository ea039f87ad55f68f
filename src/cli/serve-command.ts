import { InvalidArgumentError, Option, type Command } from 'commander';
import { ConfigError, loadConfig, type Config } from '../config/index.js';
import { loadGatewaySettings } from '../gateway/gateway-config.js';
import { createLogger } from '../log/index.js';
import { ConnectorServer } from '../server/connector-server.js';
import { CliError, EXIT_USAGE } from './cli-context.js';

interface ServeOptions {
  port?: number;
  bind?: string;
  logLevel?: string;
  config?: string;
}

export function parsePort(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    throw new InvalidArgumentError(`invalid port ${JSON.stringify(value)}`);
  }
  return n;
}

/** One line per configured number: what the gateway does with its calls. */
export function describeNumbers(config: Config): string[] {
  const settings = loadGatewaySettings(config);
  if (settings.numbers.length === 0) {
    return [
      '  (no phone numbers configured: webhooks are verified and forwarded, calls are left alone)',
    ];
  }
  return settings.numbers.map((n) => {
    const inbound = n.inbound?.enabled
      ? `inbound → room "${n.inbound.room}"${n.inbound.agents.length ? `, agents ${n.inbound.agents.map((a) => a.name).join(', ')}` : ''}${n.inbound.accept === 'when_agent_ready' ? ', accept when an agent speaks' : ''}${n.inbound.hours ? `, hours ${n.inbound.hours.timezone}` : ''}`
      : 'inbound calls left to your own app';
    return `  number ${n.phoneNumberId}: ${inbound}; dial permission check ${n.checkCallPermission ? 'on' : 'off'}`;
  });
}

/** `whatsapp-connector serve`: the Connector API and the webhook gateway until SIGINT/SIGTERM. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the Connector API (Twirp livekit.Connector) and the WhatsApp webhook gateway')
    .addOption(
      new Option('-p, --port <port>', 'HTTP port (also PORT); default 8080').argParser(parsePort),
    )
    .option('--bind <address>', 'address to listen on (also BIND_ADDRESS); default 0.0.0.0')
    .addOption(new Option('--log-level <level>', 'log level (also LOG_LEVEL)'))
    .action(async (opts: ServeOptions, cmd: Command) => {
      let config: Config;
      let numbers: string[];
      try {
        config = loadConfig({
          configFile: cmd.optsWithGlobals<ServeOptions>().config,
          overrides: {
            ...(opts.port !== undefined ? { port: opts.port } : {}),
            ...(opts.bind ? { bindAddress: opts.bind } : {}),
            ...(opts.logLevel ? { logLevel: opts.logLevel as Config['logLevel'] } : {}),
          },
        });
        numbers = describeNumbers(config);
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message, EXIT_USAGE);
        throw err;
      }
      const logger = createLogger({
        level: config.logLevel,
        redactPhoneNumbers: config.redactPhoneNumbers,
      });
      const server = new ConnectorServer({ config, logger });
      let port: number;
      try {
        port = await server.start();
      } catch (err) {
        await server.close();
        throw new CliError(
          `cannot listen on ${config.bindAddress}:${config.port}: ${(err as Error).message}`,
        );
      }
      const base = `http://${config.bindAddress === '0.0.0.0' ? '127.0.0.1' : config.bindAddress}:${port}`;
      console.error(`whatsapp-connector listening on ${config.bindAddress}:${port}
  Connector API  ${base}/twirp/livekit.Connector/*
  webhooks       ${base}${config.whatsapp.webhookPath}  (set this URL, public over HTTPS, as the callback URL in Meta's app dashboard)
  calls          ${base}/api/calls
${numbers.join('\n')}`);
      const shutdown = async () => {
        await server.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown());
      process.once('SIGTERM', () => void shutdown());
    });
}
