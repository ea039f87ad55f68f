import type { Command } from 'commander';
import type { PermissionsListing } from '../console/operator-api.js';
import type { CallPermissions } from '../gateway/call-permissions.js';
import { ConnectorError } from '../errors/index.js';
import { CliError, EXIT_NO_PERMISSION } from './cli-errors.js';

/** Path of the permission replies on the internal listener (`src/console/operator-api.ts`). */
const PERMISSIONS_PATH = '/api/permissions';

interface PermissionOptions {
  phoneNumberId?: string;
  text?: string;
  config?: string;
}

async function permissionsFor(configFile: string | undefined): Promise<CallPermissions> {
  const [{ cliConfig, cliGatewaySettings }, { CallPermissions }, { createLogger }, graphClient] =
    await Promise.all([
      import('./cli-context.js'),
      import('../gateway/call-permissions.js'),
      import('../log/index.js'),
      import('../whatsapp/graph-client.js'),
    ]);
  const config = cliConfig(configFile);
  const gateway = await cliGatewaySettings(config);
  const graph = new graphClient.WhatsAppGraphClient({
    baseUrl: config.whatsapp.graphUrl,
    logger: createLogger({ level: 'silent' }),
  });
  return new CallPermissions(graph, gateway.numbers);
}

function graphFailure(what: string, err: unknown): CliError {
  if (err instanceof ConnectorError && err.code === 'invalid_argument' && !err.meta.graphStatus) {
    return new CliError(err.message, 2);
  }
  return new CliError(`${what} failed: ${(err as Error).message}`);
}

/** `whatsapp-connector permissions check|request <to>`: call permissions at Meta. */
export function registerPermissionsCommand(program: Command): void {
  const permissions = program
    .command('permissions')
    .description(
      "check or request a WhatsApp user's permission to be called by the business, or list the replies",
    );

  permissions
    .command('check')
    .description('ask Meta whether the business may call the user now')
    .argument('<to>', "the user's WhatsApp number, with country code")
    .option('--phone-number-id <id>', 'business phone number id (default: the only configured one)')
    .addHelpText('after', '\nExit codes: 0 may call, 3 may not call, 1 failure, 2 bad usage.')
    .action(async (to: string, opts: PermissionOptions, cmd: Command) => {
      const service = await permissionsFor(cmd.optsWithGlobals<PermissionOptions>().config);
      const verdict = await service.check(to, opts.phoneNumberId).catch((err: unknown) => {
        throw graphFailure('permission check', err);
      });
      console.log(`permission: ${verdict.status}`);
      if (verdict.expiresAt) {
        console.log(`expires:    ${new Date(verdict.expiresAt * 1000).toISOString()}`);
      }
      console.log(`can call:   ${verdict.canCall ? 'yes' : 'no'}`);
      if (verdict.canRequest !== undefined) {
        console.log(`can ask:    ${verdict.canRequest ? 'yes' : 'no'}`);
      }
      if (!verdict.canCall) {
        throw new CliError(
          `no permission to call ${to}: send one with "whatsapp-connector permissions request ${to}"`,
          EXIT_NO_PERMISSION,
        );
      }
    });

  permissions
    .command('list')
    .description("users' replies to call permission requests, as a running connector received them")
    .option('--json', 'print JSON instead of a table', false)
    .option(
      '--url <url>',
      "the connector's internal listener (also WHATSAPP_CONNECTOR_URL; default http://127.0.0.1:<internal port>)",
    )
    .addHelpText(
      'after',
      '\nThe connector keeps the newest reply per user in memory since its start; Meta decides: "permissions check <to>".',
    )
    .action(async (opts: { json: boolean; url?: string }, cmd: Command) => {
      const [{ cliConfig, connectorUrl, getConnectorJson }, { printTable }] = await Promise.all([
        import('./cli-context.js'),
        import('./webhooks-command.js'),
      ]);
      const config = cliConfig(cmd.optsWithGlobals<PermissionOptions>().config);
      const url = connectorUrl(config, opts.url);
      const { permissions: replies } = await getConnectorJson<PermissionsListing>(
        config,
        url,
        PERMISSIONS_PATH,
      );
      if (opts.json) {
        console.log(JSON.stringify(replies, null, 2));
        return;
      }
      if (replies.length === 0) {
        console.log('no call permission reply received since the connector started');
        return;
      }
      const when = (unixSeconds: number) =>
        new Date(unixSeconds * 1000).toISOString().slice(0, 19).replace('T', ' ');
      printTable(
        ['USER', 'NUMBER ID', 'PERMISSION', 'EXPIRES (UTC)', 'SOURCE', 'REPLIED (UTC)'],
        replies.map((p) => [
          p.waId || '-',
          p.phoneNumberId,
          p.response === 'reject' ? 'declined' : p.isPermanent ? 'permanent' : 'temporary',
          p.expiresAt ? when(p.expiresAt) : '-',
          p.source ?? '-',
          when(p.repliedAt),
        ]),
      );
    });

  permissions
    .command('request')
    .description('send the user a call permission request message (needs an open conversation)')
    .argument('<to>', "the user's WhatsApp number, with country code")
    .option('--phone-number-id <id>', 'business phone number id (default: the only configured one)')
    .option('--text <text>', 'text shown above the buttons')
    .action(async (to: string, opts: PermissionOptions, cmd: Command) => {
      const service = await permissionsFor(cmd.optsWithGlobals<PermissionOptions>().config);
      const sent = await service
        .request(to, opts.phoneNumberId, opts.text)
        .catch((err: unknown) => {
          throw graphFailure('permission request', err);
        });
      console.log(`permission request sent (${sent.messageId})`);
      console.log(
        "the user's answer arrives as a webhook; check it with: whatsapp-connector permissions check " +
          to,
      );
    });
}
