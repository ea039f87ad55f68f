import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Config } from '../config/index.js';
import type { GatewaySettings } from '../gateway/gateway-config.js';
import { CliError, EXIT_USAGE } from './cli-errors.js';

interface ServeOptions {
  port?: number;
  internalPort?: number;
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
export function describeNumbers(settings: GatewaySettings): string[] {
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

function localUrl(bindAddress: string, port: number): string {
  const host = bindAddress === '0.0.0.0' || bindAddress === '::' ? '127.0.0.1' : bindAddress;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** What `serve` prints once it listens: both listeners and what each serves. */
export function listeningSummary(
  config: Config,
  port: number,
  internalPort: number,
  numbers: string[],
): string {
  const pub = localUrl(config.bindAddress, port);
  const internal = localUrl(config.internal.bindAddress, internalPort);
  return `whatsapp-connector listening
  public    ${config.bindAddress}:${port}
    webhooks       ${pub}${config.whatsapp.webhookPath}  (set this URL, public over HTTPS, as the callback URL in Meta's app dashboard)
    Connector API  ${config.connectorApiEnabled ? `${pub}/twirp/livekit.Connector/*` : 'off (CONNECTOR_API_ENABLED=false): internal listener only'}
  internal  ${config.internal.bindAddress}:${internalPort}  (keep it private)
    Connector API  ${internal}/twirp/livekit.Connector/*
    calls          ${internal}/api/calls
    health         ${internal}/healthz  ${internal}/readyz
    metrics        ${internal}/metrics
    console        ${config.console.enabled ? `${internal}/console/  (sign in with an API key and its secret)` : 'off (CONSOLE_ENABLED=true turns it on)'}
${numbers.join('\n')}`;
}

/** `whatsapp-connector serve`: the Connector API and the webhook gateway until SIGINT/SIGTERM. */
export function registerServeCommand(program: Command): void {
  program
    .command('serve')
    .description('run the Connector API (Twirp livekit.Connector) and the WhatsApp webhook gateway')
    .addOption(
      new Option('-p, --port <port>', 'public HTTP port (also PORT); default 8080').argParser(
        parsePort,
      ),
    )
    .addOption(
      new Option(
        '--internal-port <port>',
        'internal HTTP port: metrics, health, /api/calls, cluster (also INTERNAL_PORT); default port + 1',
      ).argParser(parsePort),
    )
    .option('--bind <address>', 'public listener address (also BIND_ADDRESS); default 0.0.0.0')
    .addOption(new Option('--log-level <level>', 'log level (also LOG_LEVEL)'))
    .action(async (opts: ServeOptions, cmd: Command) => {
      const [
        { ConfigError, loadConfig },
        { loadGatewaySettings },
        { createLogger },
        { ConnectorServer },
        { GracefulShutdown },
        { StateDirLockedError },
      ] = await Promise.all([
        import('../config/index.js'),
        import('../gateway/gateway-config.js'),
        import('../log/index.js'),
        import('../server/connector-server.js'),
        import('../server/graceful-shutdown.js'),
        import('../store/index.js'),
      ]);
      let config: Config;
      let numbers: string[];
      try {
        config = loadConfig({
          configFile: cmd.optsWithGlobals<ServeOptions>().config,
          overrides: {
            ...(opts.port !== undefined ? { port: opts.port } : {}),
            ...(opts.internalPort !== undefined ? { internalPort: opts.internalPort } : {}),
            ...(opts.bind ? { bindAddress: opts.bind } : {}),
            ...(opts.logLevel ? { logLevel: opts.logLevel as Config['logLevel'] } : {}),
          },
        });
        numbers = describeNumbers(loadGatewaySettings(config));
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
        if (err instanceof StateDirLockedError) throw new CliError(err.message);
        throw new CliError(
          `cannot listen on ${config.bindAddress}:${config.port} / ${config.internal.bindAddress}:${config.internal.port}: ${(err as Error).message}`,
        );
      }
      console.error(listeningSummary(config, port, server.internalPort, numbers));
      new GracefulShutdown({
        service: server,
        drainMs: config.shutdownDrainSeconds * 1000,
        logger,
      }).install();
    });
}
