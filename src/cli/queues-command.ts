import { InvalidArgumentError, Option, type Command } from 'commander';
import type { DurableQueue, openStateStore as openStateStoreFn } from '../store/index.js';
import type { cliConfig as cliConfigFn } from './cli-context.js';
import { CliError } from './cli-errors.js';

interface DeadLetterActionOptions {
  all: boolean;
  config?: string;
}

type CliConfig = typeof cliConfigFn;

/** The state store the configuration names, refusing a STATE_DIR with no store in it. */
async function openCliStore(
  cmd: Command,
  cliConfig: CliConfig,
  openStateStore: typeof openStateStoreFn,
) {
  const config = cliConfig(cmd.optsWithGlobals<{ config?: string }>().config);
  if (!config.redisUrl) {
    const { existsSync } = await import('node:fs');
    const { join } = await import('node:path');
    if (!existsSync(join(config.stateDir, 'state.sqlite'))) {
      throw new CliError(
        `no state store in ${config.stateDir}: run this where the connector runs, or set STATE_DIR (or REDIS_URL) as it has them`,
      );
    }
  }
  return openStateStore(config);
}

/** `queues retry|drop`: apply `act` to the chosen dead letters of `queue`. */
async function onDeadLetters(
  queue: string,
  ids: string[],
  opts: DeadLetterActionOptions,
  cmd: Command,
  act: (queue: DurableQueue, ids: string[] | undefined) => Promise<number>,
): Promise<number> {
  const [{ cliConfig }, store] = await Promise.all([
    import('./cli-context.js'),
    import('../store/index.js'),
  ]);
  const names = [store.WEBHOOK_QUEUE, store.FORWARD_QUEUE];
  if (!names.includes(queue)) {
    throw new CliError(`unknown queue ${JSON.stringify(queue)}: expected ${names.join(' or ')}`);
  }
  if (ids.length === 0 && !opts.all) {
    throw new CliError('name the dead letters (ids from `queues --dead`), or pass --all');
  }
  if (ids.length > 0 && opts.all) throw new CliError('give ids or --all, not both');
  const opened = await openCliStore(cmd, cliConfig, store.openStateStore);
  try {
    return await act(opened.queue(queue), opts.all ? undefined : ids);
  } finally {
    await opened.close();
  }
}

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
  const queues = program.command('queues');
  queues
    .command('retry')
    .description(
      'put dead letters back in their queue for a fresh round of attempts (after fixing the cause)',
    )
    .argument('<queue>', 'webhooks or forwards')
    .argument('[ids...]', 'dead letter ids (as `queues --dead` lists them)')
    .option('--all', 'every dead letter of the queue', false)
    .action(async (queue: string, ids: string[], opts: DeadLetterActionOptions, cmd: Command) => {
      const n = await onDeadLetters(queue, ids, opts, cmd, (q, sel) => q.requeueDead(sel));
      console.log(`${n} dead letter${n === 1 ? '' : 's'} of ${queue} put back in the queue`);
    });
  queues
    .command('drop')
    .description('delete dead letters for good')
    .argument('<queue>', 'webhooks or forwards')
    .argument('[ids...]', 'dead letter ids (as `queues --dead` lists them)')
    .option('--all', 'every dead letter of the queue', false)
    .action(async (queue: string, ids: string[], opts: DeadLetterActionOptions, cmd: Command) => {
      const n = await onDeadLetters(queue, ids, opts, cmd, (q, sel) => q.dropDead(sel));
      console.log(`${n} dead letter${n === 1 ? '' : 's'} of ${queue} dropped`);
    });
  queues
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
      const store = await openCliStore(cmd, cliConfig, openStateStore);
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
              `  ${d.id}  ${new Date(d.failedAt).toISOString()}  ${d.attempts} attempts  ${d.payload.length} bytes  ${d.reason}`,
            );
          }
        }
      } finally {
        await store.close();
      }
    });
}
