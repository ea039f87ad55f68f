/**
 * The `whatsapp-connector` command. Only commander and the command definitions load at start;
 * each command imports what it runs when it runs, so `--help` and the client commands start fast
 * (the server, media and simulator modules take about a second to load).
 */
import { Command, CommanderError } from 'commander';
import { ConfigError } from '../config/config-error.js';
import { resolveSecretFiles } from '../config/secret-settings.js';
import { ConnectorError } from '../errors/index.js';
import { registerCallsCommand } from './calls-command.js';
import { CliError, EXIT_FAILURE, EXIT_USAGE } from './cli-errors.js';
import { registerDevCommand } from './dev-command.js';
import { registerDialCommand } from './dial-command.js';
import { registerHangupCommand } from './hangup-command.js';
import { registerPermissionsCommand } from './permissions-command.js';
import { registerQueuesCommand } from './queues-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerSimulateCommand } from './simulate-command.js';
import { registerTransferCommand } from './transfer-command.js';
import { registerWebhooksCommand } from './webhooks-command.js';

export { EXIT_FAILURE, EXIT_NO_PERMISSION, EXIT_USAGE } from './cli-errors.js';

export function buildCli(): Command {
  const program = new Command('whatsapp-connector')
    .description(
      'Self-hosted WhatsApp Business Calling for LiveKit: Connector API, webhook gateway, simulator',
    )
    .option('-c, --config <file>', 'YAML configuration file (also WHATSAPP_CONNECTOR_CONFIG)')
    .showHelpAfterError()
    // Commander exits by itself on usage errors; we want our exit codes (2) instead.
    .exitOverride();
  registerServeCommand(program);
  registerDialCommand(program);
  registerCallsCommand(program);
  registerHangupCommand(program);
  registerTransferCommand(program);
  registerPermissionsCommand(program);
  registerWebhooksCommand(program);
  registerQueuesCommand(program);
  registerSimulateCommand(program);
  registerDevCommand(program);
  program.addHelpText(
    'after',
    `
Client commands (dial, calls, hangup, webhooks, permissions list) talk to a running connector's internal listener (--url,
WHATSAPP_CONNECTOR_URL, default http://127.0.0.1:<internal port>) with the LiveKit API key of the
configuration. Secrets come from the environment or files (X_FILE), never from flags.
Exit codes: 0 ok, 1 failure, 2 bad usage or configuration, 3 no call permission.`,
  );
  return program;
}

function fail(message: string, code: number): never {
  console.error(`whatsapp-connector: ${message}`);
  process.exit(code);
}

/** Run the CLI with `argv` (as process.argv). */
export async function main(argv: string[] = process.argv): Promise<void> {
  try {
    // Secrets given as files (LIVEKIT_API_SECRET_FILE, WHATSAPP_ACCESS_TOKEN_FILE, ...) are read
    // once here, so every part of the service sees them as the plain variables.
    resolveSecretFiles(process.env);
    await buildCli().parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version end with code 0; commander already printed usage errors.
      process.exit(err.exitCode === 0 ? 0 : EXIT_USAGE);
    }
    if (err instanceof CliError) fail(err.message, err.exitCode);
    if (err instanceof ConfigError) fail(err.message, EXIT_USAGE);
    if (err instanceof ConnectorError && err.code === 'invalid_argument')
      fail(err.message, EXIT_USAGE);
    fail(err instanceof Error ? err.message : String(err), EXIT_FAILURE);
  }
}
