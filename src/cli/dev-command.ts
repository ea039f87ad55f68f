import { Option, type Command } from 'commander';
import type { DevStack } from '../devstack/dev-stack.js';
import type { ProcessedWebhookEvent } from '../gateway/webhook-gateway.js';
import { CliError, EXIT_USAGE } from './cli-errors.js';
import { parsePort } from './serve-command.js';

/** The simulated user the printed examples call and dial. */
const DEV_USER = '4915112345678';

interface DevCommandOptions {
  port: number;
  internalPort?: number;
  livekitPort: number;
  simulatorPort: number;
  runDir: string;
  demo: boolean;
}

/** One human line per interesting gateway event. */
function narrate(p: ProcessedWebhookEvent): void {
  const e = p.event;
  const id = 'callId' in e && e.callId ? `${e.callId.slice(0, 18)}…` : '';
  const line: Partial<Record<ProcessedWebhookEvent['outcome'], string>> = {
    accepted: `← incoming call ${id} answered in room ${p.roomName ?? ''}`,
    rejected_outside_hours: `← incoming call ${id} rejected: outside business hours`,
    rejected_room_not_ready: `← incoming call ${id} rejected: nobody in the room published audio in time`,
    no_rule: `← incoming call ${id} for a number without a routing rule: left alone`,
    connected: `→ dialled call ${id}: Meta's answer applied, ringing`,
    hung_up: `× call ${id} ended by the user`,
    permission_recorded: `✓ call permission reply recorded`,
  };
  const text = line[p.outcome];
  if (text) console.log(text);
  if (p.outcome === 'failed') console.log(`! webhook handling failed: ${p.error?.message ?? ''}`);
}

function printNextSteps(stack: DevStack, options: DevCommandOptions): void {
  const s = { ...stack, lk: stack.livekit, options };
  const base = `http://127.0.0.1:${s.server.port}`;
  const internal = `http://127.0.0.1:${s.server.internalPort}`;
  const cli = `node bin/whatsapp-connector.js${s.configFile ? ` -c ${s.configFile}` : ''}`;
  const lines = [
    '',
    'whatsapp-connector dev stack is up',
    `  livekit-server   ${s.lk.wsUrl}   (api key ${s.lk.apiKey}, secret ${s.lk.apiSecret})`,
    `  connector API    ${base}/twirp/livekit.Connector/*`,
    `  webhooks         ${base}/whatsapp/webhook`,
    `  internal         ${internal}   (/metrics, /healthz, /readyz, /api/calls)`,
    `  calls            ${cli} calls`,
  ];
  const signInLink = s.server.console?.console?.createSignInLink(s.lk.apiKey);
  if (signInLink) {
    lines.push(
      `  console          ${internal}/console/   (operators: live calls, webhooks, permissions, ...)`,
      `                   sign in: ${internal}${signInLink}   (one-time link, 15 min; or API key ${s.lk.apiKey} and its secret)`,
    );
  }
  if (s.simulator) {
    const sim = s.simulator;
    lines.push(
      `  simulator (Meta) ${sim.controlUrl}   (business number id ${sim.defaultPhoneNumberId})`,
      `  softphone        ${sim.softphoneUrl}   (be a WhatsApp user: call your agent from the browser)`,
      `  config           ${s.configFile ?? ''}`,
      ...(s.options.demo
        ? ['  demo agent       joins every call room, beeps twice, then echoes the caller']
        : []),
      '',
      'Try it:',
      '  1. A WhatsApp user calls the business (says a 440 Hz tone; the demo agent echoes it):',
      `     curl -s -X POST ${sim.controlUrl}/calls -H 'Content-Type: application/json' \\`,
      `       -d '{"from":"${DEV_USER}","name":"Ada","voice":{"kind":"tone","frequencyHz":440}}'`,
      '     What the user heard so far (level, tone share, packets):',
      `     curl -s "${sim.controlUrl}/calls/<call id>/recording?expectHz=440"`,
      `     The user hangs up:  curl -s -X POST ${sim.controlUrl}/calls/<call id>/hangup`,
      '  2. Call a user (the simulated user picks up after 2 s):',
      `     ${cli} permissions request ${DEV_USER}   # the user accepts; needed once`,
      `     ${cli} dial ${DEV_USER} --room demo-outbound`,
      `     ${cli} hangup <call id>`,
      '  3. Watch a room: join it with any LiveKit client, e.g.',
      `     lk room join --url ${s.lk.wsUrl} --api-key ${s.lk.apiKey} --api-secret ${s.lk.apiSecret} --identity me whatsapp-${DEV_USER}`,
    );
  } else {
    lines.push(
      '  mode             real WhatsApp (numbers from your configuration; no simulator)',
      '  listeners        loopback only (a dev stack with real tokens is not served to the network)',
      '',
      'For the CLI commands below, in another shell:',
      `  export WHATSAPP_CONNECTOR_URL=${internal} LIVEKIT_API_KEY=${s.lk.apiKey} LIVEKIT_API_SECRET=${s.lk.apiSecret}`,
      '',
      'Make the webhook URL reachable over public HTTPS (e.g. a tunnel) and set it as the callback URL,',
      'with your verify token, in the Meta app dashboard (WhatsApp → Configuration, subscribe to "calls").',
      `Then call your business number from WhatsApp, or: ${cli} dial <number> --room demo`,
    );
  }
  lines.push('Press Ctrl+C to stop.', '');
  console.log(lines.join('\n'));
}

/** `whatsapp-connector dev` (what `make dev` runs). */
export function registerDevCommand(program: Command): void {
  program
    .command('dev')
    .description(
      'run a complete local stack: livekit-server, the WhatsApp simulator as Meta, the connector with its webhook gateway, and a demo echo agent',
    )
    .addOption(
      new Option('-p, --port <port>', 'connector public HTTP port (webhooks, Connector API)')
        .default(8080)
        .argParser(parsePort),
    )
    .addOption(
      new Option(
        '--internal-port <port>',
        'connector internal HTTP port (metrics, health, /api/calls); default port + 1',
      ).argParser(parsePort),
    )
    .addOption(
      new Option('--livekit-port <port>', 'livekit-server port').default(7880).argParser(parsePort),
    )
    .addOption(
      new Option('--simulator-port <port>', 'simulator port').default(8090).argParser(parsePort),
    )
    .option('--run-dir <dir>', 'where the generated configuration goes', '.run/dev')
    .option('--no-demo', 'do not start the demo echo agent (calls are accepted at once)')
    .addHelpText(
      'after',
      '\nWith -c <file> naming real WhatsApp numbers (access_token set), the stack runs against Meta instead of\nthe simulator, listens on loopback only, and refuses published development API secrets.\nThe API secret of the local livekit-server is generated once and kept in <run-dir>/livekit-api-secret.',
    )
    .action(async (opts: DevCommandOptions, cmd: Command) => {
      // Signals are handled from the start: a Ctrl+C while livekit-server is still booting must
      // not leave it running.
      let stopping = false;
      const starting = runDevStack(opts, cmd.optsWithGlobals<{ config?: string }>().config);
      const shutdown = async (signal: string) => {
        if (stopping) {
          // A second Ctrl+C: stop waiting.
          process.exit(130);
        }
        stopping = true;
        console.log(`\n${signal}: stopping the dev stack ...`);
        const stack = await starting.catch(() => undefined);
        await stack?.stop();
        console.log('stopped.');
        process.exit(0);
      };
      process.on('SIGINT', () => void shutdown('SIGINT'));
      process.on('SIGTERM', () => void shutdown('SIGTERM'));
      await starting;
    });
}

/** Start the stack (loaded on demand: it pulls in the whole service), narrate, print next steps. */
async function runDevStack(opts: DevCommandOptions, configFile: string | undefined) {
  const [{ startDevStack, DevStackError }, { ConfigError }] = await Promise.all([
    import('../devstack/dev-stack.js'),
    import('../config/index.js'),
  ]);
  let stack: DevStack;
  try {
    stack = await startDevStack({
      ...opts,
      configFile,
      onProgress: (line) => console.log(line),
    });
  } catch (err) {
    if (err instanceof ConfigError) throw new CliError(err.message, EXIT_USAGE);
    if (err instanceof DevStackError) throw new CliError(err.message);
    throw err;
  }
  stack.server.gateway?.on('processed', (p) => narrate(p));
  printNextSteps(stack, opts);
  return stack;
}
