import { InvalidArgumentError, Option, type Command } from 'commander';
import type { BusinessCallBehaviour } from '../simulator/index.js';

interface SimulateOptions {
  port: number;
  host: string;
  webhookUrl?: string;
  verifyToken?: string;
  appSecret: string;
  accessToken: string;
  phoneNumberId: string;
  displayPhoneNumber: string;
  wabaId: string;
  grantCallPermission: boolean;
  autoAnswer?: number;
  answerToneHz?: number;
  logLevel: string;
}

function parseNonNegativeInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 0)
      throw new InvalidArgumentError(`invalid ${name} ${JSON.stringify(value)}`);
    return n;
  };
}

/**
 * `whatsapp-connector simulate`: runs the local WhatsApp Cloud API simulator until Ctrl+C and
 * prints what a connector needs to talk to it.
 */
export function registerSimulateCommand(program: Command): void {
  program
    .command('simulate')
    .description(
      'run a local WhatsApp Cloud API (Calling) simulator: Graph API, signed webhooks, simulated users',
    )
    .addOption(
      new Option('-p, --port <port>', 'HTTP port')
        .default(8090)
        .argParser(parseNonNegativeInt('port')),
    )
    .option('--host <address>', 'address to listen on (relay media uses 127.0.0.1)', '127.0.0.1')
    .option(
      '--webhook-url <url>',
      'where to POST webhooks (e.g. the connector’s /whatsapp/webhook)',
    )
    .option(
      '--verify-token <token>',
      'first run Meta’s hub.challenge check against --webhook-url with this token',
    )
    .option('--app-secret <secret>', 'app secret that signs webhooks', 'simulator-app-secret')
    .option(
      '--access-token <token>',
      'bearer token the Graph API accepts',
      'simulator-access-token',
    )
    .option('--phone-number-id <id>', 'business phone number id', '106540352242922')
    .option('--display-phone-number <digits>', 'business phone number', '15550001234')
    .option('--waba-id <id>', 'WhatsApp Business Account id', '366634483210360')
    .option(
      '--grant-call-permission',
      'users start with a permanent call permission (default: none, as on Meta)',
      false,
    )
    .addOption(
      new Option(
        '--auto-answer <ms>',
        'users answer business calls after this many ms (default: drive them via the control API)',
      ).argParser(parseNonNegativeInt('delay')),
    )
    .addOption(
      new Option(
        '--answer-tone-hz <hz>',
        'with --auto-answer, the user speaks this tone',
      ).argParser(parseNonNegativeInt('frequency')),
    )
    .option('--log-level <level>', 'log level', 'info')
    .action(async (opts: SimulateOptions) => {
      if (opts.webhookUrl !== undefined && !/^https?:\/\//.test(opts.webhookUrl)) {
        throw new Error('--webhook-url must be an http(s) URL');
      }
      const behaviour: BusinessCallBehaviour | undefined =
        opts.autoAnswer !== undefined
          ? {
              action: 'answer',
              delayMs: opts.autoAnswer,
              ...(opts.answerToneHz
                ? { voice: { kind: 'tone' as const, frequencyHz: opts.answerToneHz } }
                : {}),
            }
          : undefined;
      const [{ createLogger }, { WhatsAppSimulator }] = await Promise.all([
        import('../log/index.js'),
        import('../simulator/index.js'),
      ]);
      const sim = await WhatsAppSimulator.start({
        port: opts.port,
        host: opts.host,
        accessToken: opts.accessToken,
        appSecret: opts.appSecret,
        ...(opts.webhookUrl !== undefined ? { webhookUrl: opts.webhookUrl } : {}),
        phoneNumbers: [
          {
            id: opts.phoneNumberId,
            displayPhoneNumber: opts.displayPhoneNumber,
            wabaId: opts.wabaId,
          },
        ],
        defaultCallPermission: opts.grantCallPermission ? 'permanent' : 'no_permission',
        ...(behaviour ? { businessCallBehaviour: behaviour } : {}),
        logger: createLogger({ level: opts.logLevel, name: 'whatsapp-simulator' }),
      });
      console.log(`WhatsApp Cloud API simulator is up
  Graph API        ${sim.graphUrl}/v24.0/${opts.phoneNumberId}/calls
  control API      ${sim.controlUrl}  (GET for info, /calls, /faults, /webhooks, /requests)
  access token     ${sim.accessToken}
  app secret       ${sim.appSecret}
  phone number id  ${opts.phoneNumberId}  (+${opts.displayPhoneNumber}, WABA ${opts.wabaId})
  webhooks to      ${opts.webhookUrl ?? '(none: set one with POST /_simulator/webhook-url)'}
Place a user call:  curl -X POST ${sim.controlUrl}/calls -d '{"from":"4915112345678"}'
Press Ctrl+C to stop.`);
      if (opts.verifyToken !== undefined && opts.webhookUrl !== undefined) {
        try {
          await sim.verifyWebhookUrl(opts.webhookUrl, opts.verifyToken);
          console.log('webhook verification (hub.challenge) passed');
        } catch (err) {
          console.error(`warning: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      const shutdown = async () => {
        await sim.close();
        process.exit(0);
      };
      process.once('SIGINT', () => void shutdown());
      process.once('SIGTERM', () => void shutdown());
    });
}
