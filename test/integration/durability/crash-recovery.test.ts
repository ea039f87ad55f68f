import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Redis } from 'ioredis';
import { startRedis, type RedisHandle } from '../../../testbed/redis.js';
import { eventually } from '../calls/bridge-harness.js';
import { startCli } from '../cli/cli-runner.js';
import {
  liveUserCall,
  participantsOf,
  startConnector,
  killLeftovers,
  startMetaBed,
  terminatedAtMeta,
  type ConnectorProcess,
  type MetaBed,
} from './durability-harness.js';

/**
 * `kill -9` of a `serve` process holding live calls: the calls must not stay live at Meta, nor
 * their connector participants in the rooms. Issue 10 allows 35 s from the crash.
 */

const ORPHAN_DEADLINE_MS = 35_000;
/** Run `body`; on failure, show the tail of each connector's log with the error. */
async function explained(
  procs: () => { name: string; output(): string }[],
  body: () => Promise<void>,
): Promise<void> {
  try {
    await body();
  } catch (err) {
    const logs = procs()
      .map((p) => `--- ${p.name}:\n${p.output().slice(-6000)}`)
      .join('\n');
    (err as Error).message += `\n${logs}`;
    throw err;
  }
}

let bed: MetaBed;
let redis: RedisHandle | undefined;

before(async () => {
  bed = await startMetaBed();
});

after(async () => {
  killLeftovers();
  await redis?.stop();
  await bed?.stop();
});

test('kill -9 with live calls, then a restart with the same STATE_DIR: every call is terminated at Meta and its participant leaves the room within 35 s', async (t) => {
  const procs: { name: string; output(): string }[] = [];
  await explained(
    () => procs,
    async () => {
      const stateDir = join(bed.dir, 'crash-sqlite');
      const first = await startConnector(bed, { stateDir });
      procs.push({ name: 'first', output: first.output });
      bed.simulator.setWebhookUrl(first.webhookUrl);
      const calls = [
        await liveUserCall(bed, '4915600000001'),
        await liveUserCall(bed, '4915600000002'),
      ];
      const rooms = ['drain-4915600000001', 'drain-4915600000002'];
      for (const room of rooms) {
        await eventually(
          async () => (await participantsOf(bed, room)).length === 1,
          10_000,
          `the connector participant in ${room}`,
        );
      }

      // A second process on the same STATE_DIR is refused while the first one runs.
      const intruder = startCli(['serve'], {
        LIVEKIT_URL: bed.lk.wsUrl,
        LIVEKIT_API_KEY: bed.lk.apiKey,
        LIVEKIT_API_SECRET: bed.lk.apiSecret,
        PORT: '0',
        INTERNAL_PORT: '0',
        BIND_ADDRESS: '127.0.0.1',
        STATE_DIR: stateDir,
      });
      assert.notEqual(await intruder.exited, 0);
      assert.match(intruder.output(), /STATE_DIR .* is in use by another whatsapp-connector/);
      assert.ok(first.running, 'the first process is unaffected');

      const crashedAt = Date.now();
      first.kill('SIGKILL');
      await first.exited;
      const second = await startConnector(bed, {
        stateDir,
        port: first.port,
        internalPort: first.internalPort,
      });
      procs.push({ name: 'second', output: second.output });
      const terminatedAt = await terminatedAtMeta(
        bed,
        calls.map((c) => c.id),
        ORPHAN_DEADLINE_MS - (Date.now() - crashedAt),
      );
      for (const room of rooms) {
        await eventually(
          async () => (await participantsOf(bed, room)).length === 0,
          Math.max(1000, ORPHAN_DEADLINE_MS - (Date.now() - crashedAt)),
          `the connector participant gone from ${room}`,
        );
      }
      t.diagnostic(
        `terminated at Meta ${terminatedAt - crashedAt} ms after kill -9 (restart included); rooms empty ${Date.now() - crashedAt} ms after`,
      );
      for (const call of calls) {
        await call.waitForState('ended', 5000);
        assert.equal(call.endReason, 'business_terminate');
      }
      // The records are gone once Meta confirmed.
      await eventually(
        () => {
          const db = new Database(join(stateDir, 'state.sqlite'), { readonly: true });
          try {
            return (db.prepare('SELECT COUNT(*) AS n FROM calls').get() as { n: number }).n === 0;
          } finally {
            db.close();
          }
        },
        10_000,
        'call records removed',
      );
      // Operators see the cleanup in the restarted process's metrics.
      const metrics = await (await fetch(`http://127.0.0.1:${second.internalPort}/metrics`)).text();
      assert.match(
        metrics,
        new RegExp(
          `^whatsapp_connector_orphan_calls_cleaned_total\\{outcome="terminated"\\} ${calls.length}$`,
          'm',
        ),
      );
      second.kill('SIGTERM');
      assert.equal(await second.exited, 0, second.output());
    },
  );
});

test('with Redis and two instances, the survivor ends the calls of the one that was killed within 35 s', async (t) => {
  redis = await startRedis();
  const env = (id: string) => ({
    REDIS_URL: redis!.url,
    REDIS_KEY_PREFIX: 'durability-cluster:',
    INSTANCE_ID: id,
    CLUSTER_HEARTBEAT_SECONDS: '1',
  });
  const procs: { name: string; output(): string }[] = [];
  let survivor: ConnectorProcess | undefined;
  await explained(
    () => procs,
    async () => {
      const doomed = await startConnector(bed, {
        stateDir: join(bed.dir, 'cluster-a'),
        env: env('doomed'),
      });
      procs.push({ name: 'doomed', output: doomed.output });
      const alive = await startConnector(bed, {
        stateDir: join(bed.dir, 'cluster-b'),
        env: env('survivor'),
      });
      survivor = alive;
      procs.push({ name: 'survivor', output: alive.output });
      bed.simulator.setWebhookUrl(doomed.webhookUrl);
      const calls = [
        await liveUserCall(bed, '4915600000011'),
        await liveUserCall(bed, '4915600000012'),
      ];
      const rooms = ['drain-4915600000011', 'drain-4915600000012'];
      // The records are in Redis, owned by the instance holding the calls.
      const inspect = new Redis(redis!.url);
      try {
        const owned = await inspect.smembers('durability-cluster:store:calls-of:doomed');
        assert.deepEqual(owned.sort(), calls.map((c) => c.id).sort());
      } finally {
        inspect.disconnect();
      }

      const crashedAt = Date.now();
      doomed.kill('SIGKILL');
      await doomed.exited;
      const terminatedAt = await terminatedAtMeta(
        bed,
        calls.map((c) => c.id),
        ORPHAN_DEADLINE_MS,
      );
      for (const room of rooms) {
        await eventually(
          async () => (await participantsOf(bed, room)).length === 0,
          Math.max(1000, ORPHAN_DEADLINE_MS - (Date.now() - crashedAt)),
          `the connector participant gone from ${room}`,
        );
      }
      t.diagnostic(`survivor terminated the calls ${terminatedAt - crashedAt} ms after kill -9`);
      await eventually(
        () => alive.output().split('orphaned call ended').length - 1 === calls.length,
        10_000,
        'the survivor reporting both calls ended',
      );
    },
  );
  survivor!.kill('SIGTERM');
  assert.equal(await survivor!.exited, 0, survivor!.output());
});
