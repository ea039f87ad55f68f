import { Option, type Command } from 'commander';
import { CliError, EXIT_USAGE } from './cli-errors.js';

interface TransferOptions {
  room?: string;
  agent: string[];
  identity?: string;
  name?: string;
  metadata?: string;
  attribute: string[];
  url?: string;
  config?: string;
}

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** `--agent name` or `--agent name:metadata`. */
function parseAgent(spec: string): { agentName: string; metadata: string } {
  const i = spec.indexOf(':');
  const agentName = (i < 0 ? spec : spec.slice(0, i)).trim();
  if (!agentName) throw new CliError(`--agent needs a name: ${JSON.stringify(spec)}`, EXIT_USAGE);
  return { agentName, metadata: i < 0 ? '' : spec.slice(i + 1) };
}

/** `--attribute key=value`. */
function parseAttribute(spec: string): [string, string] {
  const i = spec.indexOf('=');
  if (i <= 0)
    throw new CliError(`--attribute needs key=value: ${JSON.stringify(spec)}`, EXIT_USAGE);
  return [spec.slice(0, i), spec.slice(i + 1)];
}

/**
 * `whatsapp-connector transfer <call-id> --room R`: move a live call into another room through
 * the running connector's `POST /api/calls/{id}/transfer`; the WhatsApp side is not touched.
 */
export function registerTransferCommand(program: Command): void {
  program
    .command('transfer')
    .description('move a live call into another room (the caller stays on the line)')
    .argument('<call-id>', 'the WhatsApp call id (wacid.…), as "calls" shows it')
    .requiredOption('-r, --room <name>', 'room to move the call into (created if needed)')
    .addOption(
      new Option('-a, --agent <name[:metadata]>', 'dispatch this agent into the room (repeatable)')
        .argParser(collect)
        .default([], 'none'),
    )
    .option('--identity <identity>', "the caller's participant identity there (default: same)")
    .option('--name <name>', "the caller's participant name there (default: same)")
    .option('--metadata <text>', "the caller's participant metadata there (default: same)")
    .addOption(
      new Option('--attribute <key=value>', 'participant attribute there (repeatable)')
        .argParser(collect)
        .default([], 'the current ones'),
    )
    .option(
      '--url <url>',
      "the connector's internal listener (also WHATSAPP_CONNECTOR_URL; default http://127.0.0.1:<internal port>)",
    )
    .addHelpText(
      'after',
      `
Exit codes: 0 transferred, 1 refused or failed (the call stays where it was), 2 bad usage.

Example:
  $ whatsapp-connector transfer wacid.HBgLMTY1MDM4Nzk0MzkVAgARGBJ… --room humans --agent support-desk
`,
    )
    .action(async (callId: string, opts: TransferOptions, cmd: Command) => {
      const { cliConfig, connectorUrl, postConnectorJson } = await import('./cli-context.js');
      const config = cliConfig(cmd.optsWithGlobals<TransferOptions>().config);
      const url = connectorUrl(config, opts.url);
      const agents = opts.agent.map(parseAgent);
      const attributes = Object.fromEntries(opts.attribute.map(parseAttribute));
      const body = {
        room: opts.room,
        ...(opts.identity !== undefined ? { identity: opts.identity } : {}),
        ...(opts.name !== undefined ? { name: opts.name } : {}),
        ...(opts.metadata !== undefined ? { metadata: opts.metadata } : {}),
        ...(opts.attribute.length > 0 ? { attributes } : {}),
        ...(agents.length > 0 ? { agents } : {}),
      };
      const res = await postConnectorJson(
        config,
        url,
        `/api/calls/${encodeURIComponent(callId)}/transfer`,
        body,
      );
      if (res.status !== 200) {
        const msg = typeof res.body?.msg === 'string' ? res.body.msg : `HTTP ${res.status}`;
        const code = typeof res.body?.code === 'string' ? ` (${res.body.code})` : '';
        const hint =
          res.status === 404 && res.body?.code !== 'not_found'
            ? ' (is this the internal listener of a connector with transfer support?)'
            : '';
        throw new CliError(`transfer failed: ${msg}${code}${hint}`);
      }
      const room = typeof res.body?.roomName === 'string' ? res.body.roomName : opts.room;
      const identity =
        typeof res.body?.participantIdentity === 'string' ? res.body.participantIdentity : '';
      console.log(`call ${callId} transferred to room ${room}${identity ? ` as ${identity}` : ''}`);
    });
}
