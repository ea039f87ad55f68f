import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openStateStore } from '../../../src/store/index.js';
import { describeStateStoreContract } from './state-store-contract.js';

const root = mkdtempSync(join(tmpdir(), 'wac-sqlite-store-'));

describeStateStoreContract(
  'SQLite',
  () =>
    openStateStore({
      stateDir: join(root, 'contract'),
      redisUrl: undefined,
      cluster: { keyPrefix: '' },
    }),
  async () => rmSync(root, { recursive: true, force: true }),
);

test('the local store creates STATE_DIR private to the user, in WAL mode, and reopens what it wrote', async () => {
  const dir = join(root, 'reopen', 'nested');
  const config = { stateDir: dir, redisUrl: undefined, cluster: { keyPrefix: '' } };
  const first = await openStateStore(config);
  assert.equal(first.kind, 'sqlite');
  assert.equal(first.location, join(dir, 'state.sqlite'));
  assert.equal(statSync(dir).mode & 0o777, 0o700);
  assert.equal(statSync(first.location).mode & 0o777, 0o600);
  // WAL mode leaves its write-ahead log next to the database.
  await first.queue('webhooks').enqueue('kept');
  assert.ok(statSync(`${first.location}-wal`).isFile());
  await first.close();
  await first.close();
  const second = await openStateStore(config);
  const [entry] = await second.queue('webhooks').claim('w');
  assert.equal(entry?.payload.toString(), 'kept');
  await second.close();
});

test('a STATE_DIR that cannot be created is reported as the store being unavailable', async () => {
  const blocker = join(root, 'a-file');
  (await import('node:fs')).writeFileSync(blocker, 'not a directory');
  await assert.rejects(
    openStateStore({
      stateDir: join(blocker, 'state'),
      redisUrl: undefined,
      cluster: { keyPrefix: '' },
    }),
    (err: unknown) =>
      (err as Error).name === 'StoreUnavailableError' && /STATE_DIR/.test((err as Error).message),
  );
});

test('the connector’s own (exclusive) store locks STATE_DIR against a second one, readers still open it, and claims of the previous holder are due again at once', async () => {
  const config = {
    stateDir: join(root, 'exclusive'),
    redisUrl: undefined,
    cluster: { keyPrefix: '' },
  };
  const first = await openStateStore(config, { exclusive: true });
  await first.queue('webhooks').enqueue('in flight when the holder died');
  const [claimed] = await first.queue('webhooks').claim('holder-1');
  assert.ok(claimed);
  await assert.rejects(openStateStore(config, { exclusive: true }), (err: unknown) => {
    assert.equal((err as Error).name, 'StateDirLockedError');
    assert.match((err as Error).message, new RegExp(`pid ${process.pid}`));
    return true;
  });
  // A reader (the queues command) is not kept out.
  const reader = await openStateStore(config);
  assert.equal((await reader.queue('webhooks').sizes()).inFlight, 1);
  await reader.close();
  await first.close();

  const next = await openStateStore(config, { exclusive: true });
  const [again] = await next.queue('webhooks').claim('holder-2');
  assert.equal(
    again?.payload.toString(),
    'in flight when the holder died',
    'no wait for the lease',
  );
  assert.equal(again?.attempts, 2);
  await next.close();
});
