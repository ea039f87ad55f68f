import type { Command } from 'commander';
import { CliError, EXIT_USAGE } from './cli-errors.js';
import { accessTokenFlagError, refusedAccessTokenFlag } from './refused-flags.js';

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
    .addOption(refusedAccessTokenFlag())
    .option(
      '--url <url>',
      "the connector's internal listener (also WHATSAPP_CONNECTOR_URL; default http://127.0.0.1:<internal port>)",
    )
    .addHelpText(
      'after',
      "\nThe Meta access token is the call's number's access_token from the configuration, or\nWHATSAPP_ACCESS_TOKEN (or WHATSAPP_ACCESS_TOKEN_FILE) from the environment.",
    )
    .action(async (callId: string, opts: HangupOptions, cmd: Command) => {
      if (opts.accessToken !== undefined) throw accessTokenFlagError();
      const {
        apiFailure,
        cliConfig,
        cliGatewaySettings,
        connectorClient,
        connectorUrl,
        listCalls,
      } = await import('./cli-context.js');
      const config = cliConfig(cmd.optsWithGlobals<HangupOptions>().config);
      const gateway = await cliGatewaySettings(config);
      const url = connectorUrl(config, opts.url);
      const call = (await listCalls(config, url, true)).find((c) => c.callId === callId);
      if (!call) throw new CliError(`no call ${callId} on the connector at ${url}`);
      const accessToken =
        gateway.numbers.find((n) => n.phoneNumberId === call.phoneNumberId)?.accessToken ??
        process.env.WHATSAPP_ACCESS_TOKEN;
      if (!accessToken) {
        throw new CliError(
          `no access token for phone number id ${call.phoneNumberId}: configure its access_token or set WHATSAPP_ACCESS_TOKEN (or WHATSAPP_ACCESS_TOKEN_FILE)`,
          EXIT_USAGE,
        );
      }
      try {
        const client = await connectorClient(config, url);
        await client.disconnectWhatsAppCall(callId, accessToken);
      } catch (err) {
        throw apiFailure('hangup', url, err);
      }
      console.log(`call ${callId} ended`);
    });
}
