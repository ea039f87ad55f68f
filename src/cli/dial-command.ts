import type { RoomAgentDispatch } from '@livekit/protocol';
import { InvalidArgumentError, Option, type Command } from 'commander';
import type { CallState } from '../calls/whatsapp-call.js';
import { CliError, EXIT_NO_PERMISSION, EXIT_USAGE } from './cli-errors.js';
import { accessTokenFlagError, refusedAccessTokenFlag } from './refused-flags.js';

interface DialOptions {
  room?: string;
  agent: string[];
  phoneNumberId?: string;
  accessToken?: string;
  identity?: string;
  name?: string;
  country?: string;
  ringingTimeout?: number;
  wait: boolean;
  url?: string;
  config?: string;
}

/** How often the call's state is looked at while waiting, ms. */
const POLL_INTERVAL_MS = 500;

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

function positiveSeconds(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || n > 300)
    throw new InvalidArgumentError(`invalid seconds ${JSON.stringify(value)}`);
  return n;
}

/** `--agent name` or `--agent name:metadata`. */
async function parseAgent(spec: string): Promise<RoomAgentDispatch> {
  const i = spec.indexOf(':');
  const agentName = (i < 0 ? spec : spec.slice(0, i)).trim();
  if (!agentName) throw new CliError(`--agent needs a name: ${JSON.stringify(spec)}`, EXIT_USAGE);
  const { RoomAgentDispatch } = await import('@livekit/protocol');
  return new RoomAgentDispatch({ agentName, metadata: i < 0 ? '' : spec.slice(i + 1) });
}

const PROGRESS: Partial<Record<CallState, string>> = {
  dialing: 'dialing…',
  ringing: 'ringing…',
};

/** `whatsapp-connector dial`: an outbound call into a room, through the running connector. */
export function registerDialCommand(program: Command): void {
  program
    .command('dial')
    .description(
      'call a WhatsApp user and bridge the call into a LiveKit room (needs a running connector)',
    )
    .argument('<to>', "the user's WhatsApp number, with country code (e.g. 4915112345678)")
    .option('-r, --room <name>', 'room to bridge into (default: generated whatsapp-…)')
    .addOption(
      new Option('-a, --agent <name[:metadata]>', 'dispatch this agent into the room (repeatable)')
        .argParser(collect)
        .default([], 'none'),
    )
    .option('--phone-number-id <id>', 'business phone number id (default: the only configured one)')
    .addOption(refusedAccessTokenFlag())
    .option('--identity <identity>', 'participant identity of the caller in the room')
    .option('--name <name>', 'participant name of the caller in the room')
    .option('--country <code>', 'destination country, ISO 3166-1 alpha-2 (routing hint)')
    .addOption(
      new Option(
        '--ringing-timeout <seconds>',
        'give up when unanswered after this long',
      ).argParser(positiveSeconds),
    )
    .option('--no-wait', 'return once the call is placed instead of waiting for the answer')
    .option(
      '--url <url>',
      "the connector's internal listener (also WHATSAPP_CONNECTOR_URL; default http://127.0.0.1:<internal port>)",
    )
    .addHelpText(
      'after',
      `
The Meta access token is the number's access_token from the configuration, or
WHATSAPP_ACCESS_TOKEN (or WHATSAPP_ACCESS_TOKEN_FILE) from the environment.

Exit codes: 0 answered (or placed, with --no-wait), 1 failed or not answered, 2 bad usage,
3 the user has not given call permission (see "permissions request").

Example:
  $ whatsapp-connector dial 4915112345678 --room support-42 --agent support-agent:'{"lang":"de"}'`,
    )
    .action(async (to: string, opts: DialOptions, cmd: Command) => {
      if (opts.accessToken !== undefined) throw accessTokenFlagError();
      const {
        apiFailure,
        cliConfig,
        cliGatewaySettings,
        connectorClient,
        connectorUrl,
        listCalls,
      } = await import('./cli-context.js');
      const global = cmd.optsWithGlobals<DialOptions>();
      const config = cliConfig(global.config);
      const gateway = await cliGatewaySettings(config);
      const url = connectorUrl(config, opts.url);
      const rule = opts.phoneNumberId
        ? gateway.numbers.find((n) => n.phoneNumberId === opts.phoneNumberId)
        : gateway.numbers.length === 1
          ? gateway.numbers[0]
          : undefined;
      const phoneNumberId = opts.phoneNumberId ?? rule?.phoneNumberId;
      if (!phoneNumberId) {
        throw new CliError(
          gateway.numbers.length === 0
            ? 'no phone number configured: pass --phone-number-id (and set WHATSAPP_ACCESS_TOKEN)'
            : 'several phone numbers configured: pass --phone-number-id',
          EXIT_USAGE,
        );
      }
      const accessToken = rule?.accessToken ?? process.env.WHATSAPP_ACCESS_TOKEN;
      if (!accessToken) {
        throw new CliError(
          `no access token for phone number id ${phoneNumberId}: configure its access_token or set WHATSAPP_ACCESS_TOKEN (or WHATSAPP_ACCESS_TOKEN_FILE)`,
          EXIT_USAGE,
        );
      }
      const agents = await Promise.all(opts.agent.map(parseAgent));
      const client = await connectorClient(config, url);
      let res;
      try {
        res = await client.dialWhatsAppCall({
          whatsappPhoneNumberId: phoneNumberId,
          whatsappToPhoneNumber: to.replace(/^\+/, ''),
          whatsappApiKey: accessToken,
          whatsappCloudApiVersion: rule?.apiVersion ?? '24.0',
          ...(opts.room ? { roomName: opts.room } : {}),
          ...(opts.identity ? { participantIdentity: opts.identity } : {}),
          ...(opts.name ? { participantName: opts.name } : {}),
          ...(opts.country ? { destinationCountry: opts.country } : {}),
          ...(opts.ringingTimeout ? { ringingTimeout: opts.ringingTimeout } : {}),
          ...(agents.length > 0 ? { agents } : {}),
        });
      } catch (err) {
        const meta = (err as { metadata?: Record<string, string> }).metadata;
        if (meta?.reason === 'no_call_permission') {
          throw new CliError((err as Error).message, EXIT_NO_PERMISSION);
        }
        throw apiFailure('dial', url, err);
      }
      console.log(`call ${res.whatsappCallId} placed; room ${res.roomName}`);
      if (!opts.wait) return;

      const deadline =
        Date.now() + ((opts.ringingTimeout ?? config.calls.ringingTimeoutSeconds) + 15) * 1000;
      let last: CallState | undefined;
      for (;;) {
        const call = (
          await listCalls(config, url, true).catch((err: unknown) => {
            throw apiFailure('following the call', url, err);
          })
        ).find((c) => c.callId === res.whatsappCallId);
        if (!call) throw new CliError('the call is gone from the connector (it ended)');
        if (call.state !== last) {
          last = call.state;
          const line = PROGRESS[call.state];
          if (line) console.log(line);
        }
        if (call.state === 'active') {
          console.log(`answered: the user is in room ${call.roomName}`);
          return;
        }
        if (call.state === 'ending' || call.state === 'ended') {
          throw new CliError(
            `the call ended without an answer (${call.endReason ?? 'unknown reason'})`,
          );
        }
        if (Date.now() > deadline) throw new CliError('gave up waiting for the answer');
        await new Promise((r) => setTimeout(r, POLL_INTERVAL_MS));
      }
    });
}
