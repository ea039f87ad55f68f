import { InvalidArgumentError, type Command } from 'commander';
import type { WebhooksListing } from '../console/operator-api.js';

interface WebhooksOptions {
  limit: number;
  json: boolean;
  url?: string;
  config?: string;
}

/**
 * Path of the webhook listing on the internal listener (`src/console/operator-api.ts` serves it;
 * not imported from there, to keep its token verifier out of the CLI's start-up).
 */
const WEBHOOKS_PATH = '/api/webhooks';

function limit(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 500) {
    throw new InvalidArgumentError(`expected 1..500, got ${JSON.stringify(value)}`);
  }
  return n;
}

/** A table with columns padded to their widest cell. */
export function printTable(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  for (const row of [header, ...rows]) {
    console.log(
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join('  ')
        .trimEnd(),
    );
  }
}

/** `whatsapp-connector webhooks`: the webhooks a running connector received, and forwarding. */
export function registerWebhooksCommand(program: Command): void {
  program
    .command('webhooks')
    .description(
      'the latest webhooks a running connector received (signature, events, latency, outcome, forwarding)',
    )
    .option('-n, --limit <count>', 'how many, newest first (1-500)', limit, 20)
    .option('--json', 'print JSON instead of a table', false)
    .option(
      '--url <url>',
      "the connector's internal listener (also WHATSAPP_CONNECTOR_URL; default http://127.0.0.1:<internal port>)",
    )
    .addHelpText(
      'after',
      '\nThe connector keeps the latest 500 in memory; durable queues and dead letters: "whatsapp-connector queues --dead".',
    )
    .action(async (opts: WebhooksOptions, cmd: Command) => {
      const { cliConfig, connectorUrl, getConnectorJson } = await import('./cli-context.js');
      const config = cliConfig(cmd.optsWithGlobals<WebhooksOptions>().config);
      const url = connectorUrl(config, opts.url);
      const listing = await getConnectorJson<WebhooksListing>(
        config,
        url,
        `${WEBHOOKS_PATH}?limit=${opts.limit}`,
      );
      if (opts.json) {
        console.log(JSON.stringify(listing, null, 2));
        return;
      }
      if (listing.receipts.length === 0) console.log('no webhook received since the start');
      else {
        printTable(
          [
            'RECEIVED (UTC)',
            'EVENTS',
            'NUMBER ID',
            'SIGNATURE',
            'HTTP',
            'PROCESSING',
            'OUTCOME',
            'FORWARD',
          ],
          listing.receipts.map((r) => [
            new Date(r.receivedAt).toISOString().slice(0, 19).replace('T', ' '),
            r.types.join(',') || '-',
            r.phoneNumberIds.join(',') || '-',
            r.signature,
            String(r.httpStatus),
            r.processingMs === undefined ? 'processing' : `${r.processingMs} ms`,
            r.outcomes.join(',') || '-',
            r.forward,
          ]),
        );
      }
      const f = listing.forwarding;
      console.log(
        f
          ? `forwarding to ${f.target}: ${f.delivered} delivered, ${f.failed} given up, ${f.inFlight} in flight`
          : 'forwarding: off (no WHATSAPP_FORWARD_URL)',
      );
    });
}
