import { availableParallelism } from 'node:os';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { Config } from '../config/index.js';
import type { GatewaySettings } from '../gateway/gateway-config.js';
import type { Logger } from '../log/index.js';
import type * as Supervisor from '../server/process-supervisor.js';
import { CliError, EXIT_USAGE } from './cli-errors.js';

interface ServeOptions {
  port?: number;
  internalPort?: number;
  bind?: string;
  logLevel?: string;
  config?: string;
  processes?: number;
}

/** Most processes `serve --processes` starts. */
export const MAX_PROCESSES = 64;

/**
 * `--processes` / `PROCESSES`: a whole number from 1 to {@link MAX_PROCESSES}, or `auto` for one
 * per core (`os.availableParallelism()`).
 */
export function parseProcesses(value: string): number {
  if (value.trim().toLowerCase() === 'auto') return Math.min(availableParallelism(), MAX_PROCESSES);
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isInteger(n) || n < 1 || n > MAX_PROCESSES) {
    throw new InvalidArgumentError(
      `expected a whole number from 1 to ${MAX_PROCESSES}, or auto; got ${JSON.stringify(value)}`,
    );
  }
  return n;
}

/** Environment of `serve --processes` child `index`: the internal port it listens on. */
export const CHILD_INTERNAL_PORT_ENV = 'WHATSAPP_CONNECTOR_CHILD_INTERNAL_PORT';

/**
 * The internal port of child `index`: `INTERNAL_PORT + index` (default `PORT + 1 + index`), or 0
 * (any free port, its own) when the internal port is 0.
 */
export function childInternalPort(config: Config, index: number): number {
  return config.internal.port === 0 ? 0 : config.internal.port + index;
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
    .addOption(
      new Option(
        '--processes <n>',
        'connector processes sharing the public port, each a cluster instance with its own internal port (internal port + i); needs REDIS_URL when > 1; "auto" = one per core (also PROCESSES); default 1',
      ).argParser(parseProcesses),
    )
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
      const supervisor = await import('../server/process-supervisor.js');
      const child = supervisor.isSupervisedChild();
      // A child's internal port is its own, set by the supervisor; it wins over --internal-port.
      const internalPort = child ? Number(process.env[CHILD_INTERNAL_PORT_ENV]) : opts.internalPort;
      let config: Config;
      let numbers: string[];
      let processes = 1;
      try {
        config = loadConfig({
          configFile: cmd.optsWithGlobals<ServeOptions>().config,
          overrides: {
            ...(opts.port !== undefined ? { port: opts.port } : {}),
            ...(internalPort !== undefined ? { internalPort } : {}),
            ...(opts.bind ? { bindAddress: opts.bind } : {}),
            ...(opts.logLevel ? { logLevel: opts.logLevel as Config['logLevel'] } : {}),
          },
        });
        numbers = describeNumbers(loadGatewaySettings(config));
        if (!child) processes = processesSetting(opts.processes, config);
      } catch (err) {
        if (err instanceof ConfigError) throw new CliError(err.message, EXIT_USAGE);
        if (err instanceof InvalidArgumentError) throw new CliError(err.message, EXIT_USAGE);
        throw err;
      }
      const logger = createLogger({
        level: config.logLevel,
        redactPhoneNumbers: config.redactPhoneNumbers,
      });
      if (processes > 1) {
        const code = await superviseChildren(config, processes, numbers, logger, supervisor);
        process.exit(code);
      }
      const server = new ConnectorServer({
        config,
        logger,
        ...(child
          ? { supervisedPublicPort: Number(process.env[supervisor.CHILD_PUBLIC_PORT_ENV]) }
          : {}),
      });
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
      if (child) {
        const registry = server.calls?.registry;
        const report = () => supervisor.reportChildLoad(registry?.activeCount ?? 0);
        registry?.on('added', (call: { once(event: 'ended', listener: () => void): unknown }) => {
          report();
          call.once('ended', report);
        });
        registry?.on('removed', report);
        supervisor.reportChildStarted({
          port,
          internalPort: server.internalPort,
          instanceId: config.cluster.instanceId,
        });
        // A child whose supervisor is gone (killed outright) shuts down as on SIGTERM, instead of
        // waiting for connections nobody hands it any more.
        process.once('disconnect', () => process.kill(process.pid, 'SIGTERM'));
      } else {
        console.error(listeningSummary(config, port, server.internalPort, numbers));
      }
      new GracefulShutdown({
        service: server,
        drainMs: config.shutdownDrainSeconds * 1000,
        logger,
      }).install();
    });
}

/**
 * The number of processes: `--processes`, else `PROCESSES`, else 1. More than one needs Redis
 * (the processes are cluster instances sharing it) and internal ports that fit.
 * @throws ConfigError or InvalidArgumentError naming the bad setting.
 */
function processesSetting(flag: number | undefined, config: Config): number {
  let processes = flag;
  if (processes === undefined) {
    const raw = process.env.PROCESSES;
    if (raw === undefined || raw === '') return 1;
    try {
      processes = parseProcesses(raw);
    } catch (err) {
      throw new InvalidArgumentError(`PROCESSES: ${(err as Error).message}`);
    }
  }
  if (processes === 1) return 1;
  const source = flag !== undefined ? `--processes ${processes}` : `PROCESSES=${processes}`;
  if (!config.redisUrl) {
    throw new InvalidArgumentError(
      `${source} needs REDIS_URL: the processes are cluster instances and share their call directory in Redis (or run one process)`,
    );
  }
  const last = childInternalPort(config, processes - 1);
  if (last > 65535) {
    throw new InvalidArgumentError(
      `${source}: internal ports ${config.internal.port}-${last} go past 65535; set INTERNAL_PORT lower`,
    );
  }
  const first = childInternalPort(config, 0);
  if (config.port !== 0 && first !== 0 && config.port >= first && config.port <= last) {
    throw new InvalidArgumentError(
      `${source}: the internal ports ${first}-${last} (INTERNAL_PORT + i) include PORT ${config.port}`,
    );
  }
  if (config.cluster.instanceId.length > 95) {
    throw new InvalidArgumentError(`${source}: INSTANCE_ID must be at most 95 characters`);
  }
  return processes;
}

/** Run `processes` children until SIGINT/SIGTERM; resolves with the exit code. */
async function superviseChildren(
  config: Config,
  processes: number,
  numbers: string[],
  logger: Logger,
  supervisor: typeof Supervisor,
): Promise<number> {
  const children = new supervisor.ProcessSupervisor({
    processes,
    port: config.port,
    bindAddress: config.bindAddress,
    logger,
    childEnv: (index) => ({
      // Instance ids stay the same across restarts of a child: `<INSTANCE_ID or default>-<i>`.
      INSTANCE_ID: `${config.cluster.instanceId}-${index}`,
      [CHILD_INTERNAL_PORT_ENV]: String(childInternalPort(config, index)),
    }),
  });
  // Forwarded on every signal: a second one reaches children still closing (and, like a second
  // signal to a single process, ends them at once).
  process.on('SIGINT', () => children.stop());
  process.on('SIGTERM', () => children.stop());
  try {
    const started = await children.start();
    const first = started[0]!;
    console.error(
      `${listeningSummary(config, first.port, first.internalPort, numbers)}
  processes ${processes} (supervisor pid ${process.pid}), sharing port ${first.port}; each one's internal listener:
${started.map((c) => `    ${c.instanceId}  pid ${c.pid}  ${localUrl(config.internal.bindAddress, c.internalPort)}`).join('\n')}`,
    );
  } catch (err) {
    const code = await children.exited;
    throw new CliError(`cannot start ${processes} processes: ${(err as Error).message}`, code || 1);
  }
  return children.exited;
}
