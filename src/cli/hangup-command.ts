import type { Command } from 'commander';
import {
  CliError,
  EXIT_USAGE,
  apiFailure,
  cliConfig,
  connectorClient,
  connectorUrl,
  listCalls,
} from './cli-context.js';

interface HangupOptions {
  accessToken?: string;
  url?: string;
  config?: string;
}

/** `whatsapp-connector hangup <call-id>`: end a call at Meta and in its room. */
export function registerHangupCommand(program: Command): void {
  program
    .command('hangup')
    .description('end a call (at WhatsApp and in its room) through the running connector')
    .argument('<call-id>', 'the WhatsApp call id (wacid.…), as "calls" shows it')
    .option(
      '--access-token <token>',
      "Meta access token (default: the call's number's access_token)",
    )
    .option(
      '--url <url>',
      'connector URL (also WHATSAPP_CONNECTOR_URL; default http://127.0.0.1:<port>)',
    )
    .action(async (callId: string, opts: HangupOptions, cmd: Command) => {
      const { config, gateway } = cliConfig(cmd.optsWithGlobals<HangupOptions>().config);
      const url = connectorUrl(config, opts.url);
      const call = (await listCalls(config, url, true)).find((c) => c.callId === callId);
      if (!call) throw new CliError(`no call ${callId} on the connector at ${url}`);
      const accessToken =
        opts.accessToken ??
        gateway.numbers.find((n) => n.phoneNumberId === call.phoneNumberId)?.accessToken ??
        process.env.WHATSAPP_ACCESS_TOKEN;
      if (!accessToken) {
        throw new CliError(
          `no access token for phone number id ${call.phoneNumberId}: configure it or pass --access-token`,
          EXIT_USAGE,
        );
      }
      try {
        await connectorClient(config, url).disconnectWhatsAppCall(callId, accessToken);
      } catch (err) {
        throw apiFailure('hangup', url, err);
      }
      console.log(`call ${callId} ended`);
    });
}
