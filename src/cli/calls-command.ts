import type { Command } from 'commander';

interface CallsOptions {
  all: boolean;
  json: boolean;
  url?: string;
  config?: string;
}

/** `whatsapp-connector calls`: the running connector's calls. */
export function registerCallsCommand(program: Command): void {
  program
    .command('calls')
    .description('list the calls of a running connector with their state and duration')
    .option('--all', 'include calls that ended recently', false)
    .option('--json', 'print JSON instead of a table', false)
    .option(
      '--url <url>',
      "the connector's internal listener (also WHATSAPP_CONNECTOR_URL; default http://127.0.0.1:<internal port>)",
    )
    .action(async (opts: CallsOptions, cmd: Command) => {
      const { cliConfig, connectorUrl, formatDuration, listCalls } =
        await import('./cli-context.js');
      const config = cliConfig(cmd.optsWithGlobals<CallsOptions>().config);
      const url = connectorUrl(config, opts.url);
      const calls = await listCalls(config, url, opts.all);
      if (opts.json) {
        console.log(JSON.stringify(calls, null, 2));
        return;
      }
      if (calls.length === 0) {
        console.log(opts.all ? 'no calls' : 'no active calls');
        return;
      }
      const rows = calls.map((c) => [
        c.callId,
        c.direction,
        c.state + (c.endReason ? ` (${c.endReason})` : ''),
        c.roomName,
        c.participantIdentity,
        c.answeredAt ? formatDuration(c.durationSeconds) : '-',
      ]);
      const header = ['CALL ID', 'DIRECTION', 'STATE', 'ROOM', 'PARTICIPANT', 'DURATION'];
      const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
      for (const row of [header, ...rows]) {
        console.log(
          row
            .map((cell, i) => cell.padEnd(widths[i]!))
            .join('  ')
            .trimEnd(),
        );
      }
    });
}
