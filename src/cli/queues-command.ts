import { InvalidArgumentError, Option, type Command } from 'commander';
import { CliError } from './cli-errors.js';

interface QueuesOptions {
  dead?: number;
  json: boolean;
  config?: string;
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw new InvalidArgumentError(`expected 1..1000, got ${JSON.stringify(value)}`);
  }
  return n;
}

/**
 * `whatsapp-connector queues`: the durable queues (webhooks waiting to be processed, forwards
 * waiting to be delivered) and their dead letters, read from the state store itself, so it works
 * while the connector is down too.
 */
export function registerQueuesCommand(program: Command): void {
  program
    .command('queues')
    .description(
      'show the webhook and forward queues and their dead letters (from the state store)',
    )
    .addOption(
      new Option('--dead [count]', 'also list the most recent dead letters (default 20)')
        .argParser(positiveInt)
        .preset(20),
    )
    .option('--json', 'print JSON instead of a table', false)
    .addHelpText(
      'after',
      '\nThe store is the one the configuration names: Redis with REDIS_URL, else STATE_DIR (default .whatsapp-connector/ in the working directory).',
    )
    .action(async (opts: QueuesOptions, cmd: Command) => {
      const [{ cliConfig }, { FORWARD_QUEUE, WEBHOOK_QUEUE, openStateStore }] = await Promise.all([
        import('./cli-context.js'),
        import('../store/index.js'),
      ]);
      const config = cliConfig(cmd.optsWithGlobals<QueuesOptions>().config);
      if (!config.redisUrl) {
        const { existsSync } = await import('node:fs');
        const { join } = await import('node:path');
        if (!existsSync(join(config.stateDir, 'state.sqlite'))) {
          throw new CliError(
            `no state store in ${config.stateDir}: run this where the connector runs, or set STATE_DIR (or REDIS_URL) as it has them`,
          );
        }
      }
      const store = await openStateStore(config);
      try {
        const report = [];
        for (const name of [WEBHOOK_QUEUE, FORWARD_QUEUE]) {
          const queue = store.queue(name);
          const sizes = await queue.sizes();
          const dead = opts.dead ? await queue.deadLetters(opts.dead) : [];
          report.push({ queue: name, ...sizes, deadLetters: dead });
        }
        if (opts.json) {
          const json = report.map((r) => ({
            ...r,
            deadLetters: r.deadLetters.map((d) => ({
              id: d.id,
              attempts: d.attempts,
              enqueuedAt: new Date(d.enqueuedAt).toISOString(),
              failedAt: new Date(d.failedAt).toISOString(),
              reason: d.reason,
              bytes: d.payload.length,
            })),
          }));
          console.log(JSON.stringify({ store: store.location, queues: json }, null, 2));
          return;
        }
        const rows = report.map((r) => [
          r.queue,
          String(r.ready),
          String(r.inFlight),
          String(r.delayed),
          String(r.dead),
        ]);
        const header = ['QUEUE', 'READY', 'IN FLIGHT', 'DELAYED', 'DEAD'];
        const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
        for (const row of [header, ...rows]) {
          console.log(
            row
              .map((c, i) => c.padEnd(widths[i]!))
              .join('  ')
              .trimEnd(),
          );
        }
        console.log(`store: ${store.kind} ${store.location}`);
        for (const r of report) {
          if (r.deadLetters.length === 0) continue;
          console.log(`\ndead letters of ${r.queue} (newest first):`);
          for (const d of r.deadLetters) {
            console.log(
              `  ${new Date(d.failedAt).toISOString()}  ${d.attempts} attempts  ${d.payload.length} bytes  ${d.reason}`,
            );
          }
        }
      } finally {
        await store.close();
      }
    });
}
