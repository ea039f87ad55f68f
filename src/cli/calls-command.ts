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
    .description(
      'list the calls of a running connector (all instances of its cluster) with their state, duration and where they run',
    )
    .option('--all', 'include calls that ended recently', false)
    .option('--json', 'print JSON instead of a table', false)
    .option(
      '--url <url>',
      "the connector's internal listener (also WHATSAPP_CONNECTOR_URL; default http://127.0.0.1:<internal port>)",
    )
    .action(async (opts: CallsOptions, cmd: Command) => {
      const { cliConfig, connectorUrl, formatDuration, callsListing } =
        await import('./cli-context.js');
      const config = cliConfig(cmd.optsWithGlobals<CallsOptions>().config);
      const url = connectorUrl(config, opts.url);
      const { calls, twilioCalls, instances } = await callsListing(config, url, opts.all);
      // Instances that could not be asked: their calls are missing, so say so (on stderr).
      for (const i of instances) {
        if (i.error) console.error(`warning: instance ${i.id}: ${i.error}; its calls are missing`);
      }
      if (opts.json) {
        console.log(JSON.stringify(calls, null, 2));
        return;
      }
      if (calls.length + twilioCalls.length === 0) {
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
        c.instanceId ?? '-',
        c.region ?? '-',
        placementText(c.placement),
      ]);
      const now = Date.now();
      for (const c of twilioCalls) {
        const end = c.endedAt ?? now;
        rows.push([
          `twilio:${c.sessionId}`,
          `twilio ${c.direction}`,
          c.state + (c.endReason ? ` (${c.endReason})` : ''),
          c.roomName,
          c.participantIdentity,
          c.answeredAt ? formatDuration((end - c.answeredAt) / 1000) : '-',
          c.instanceId ?? '-',
          c.region ?? '-',
          placementText(c.placement),
        ]);
      }
      const header = [
        'CALL ID',
        'DIRECTION',
        'STATE',
        'ROOM',
        'PARTICIPANT',
        'DURATION',
        'INSTANCE',
        'REGION',
        'PLACED',
      ];
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

/** How a dial was placed, for the table: `region eu`, `least loaded (eu wanted)`, `here`, … */
function placementText(
  p: { reason: string; wantedRegion?: string | undefined } | undefined,
): string {
  if (!p) return '-';
  switch (p.reason) {
    case 'region':
      return `region ${p.wantedRegion ?? ''}`.trim();
    case 'least_loaded':
      return p.wantedRegion ? `least loaded (no ${p.wantedRegion} room)` : 'least loaded';
    case 'overflow':
      return 'least loaded (full here)';
    default:
      return p.reason;
  }
}
