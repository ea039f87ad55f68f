import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FORWARD_QUEUE, WEBHOOK_QUEUE, openStateStore } from '../../../src/store/index.js';
import { runCli } from './cli-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'wac-cli-queues-'));
const env = {
  LIVEKIT_API_KEY: 'APIqueues',
  LIVEKIT_API_SECRET: 'queues-test-secret-0123456789-abcdef',
  STATE_DIR: join(dir, 'state'),
};

before(async () => {
  // What a connector left behind: two webhooks waiting, one forward given up on.
  const store = await openStateStore({
    stateDir: env.STATE_DIR,
    redisUrl: undefined,
    cluster: { keyPrefix: '' },
  });
  await store.queue(WEBHOOK_QUEUE).enqueue('{"entry":[1]}');
  await store.queue(WEBHOOK_QUEUE).enqueue('{"entry":[2]}');
  const forwards = store.queue(FORWARD_QUEUE);
  await forwards.enqueue('{"entry":[3]}');
  const [entry] = await forwards.claim('instance-a');
  await forwards.deadLetter(entry!, 'forward URL answered HTTP 400');
  await store.close();
});

after(() => rmSync(dir, { recursive: true, force: true }));

test('queues shows each queue by state, and --dead the dead letters with their reason', async () => {
  const r = await runCli(['queues', '--dead'], env);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /QUEUE\s+READY\s+IN FLIGHT\s+DELAYED\s+DEAD/);
  assert.match(r.stdout, /webhooks\s+2\s+0\s+0\s+0/);
  assert.match(r.stdout, /forwards\s+0\s+0\s+0\s+1/);
  assert.match(r.stdout, /dead letters of forwards/);
  assert.match(r.stdout, /1 attempts\s+13 bytes\s+forward URL answered HTTP 400/);
  const json = await runCli(['queues', '--dead', '5', '--json'], env);
  const parsed = JSON.parse(json.stdout) as {
    queues: { queue: string; ready: number; deadLetters: { reason: string }[] }[];
  };
  assert.equal(parsed.queues.find((q) => q.queue === 'webhooks')?.ready, 2);
  assert.equal(
    parsed.queues.find((q) => q.queue === 'forwards')?.deadLetters[0]?.reason,
    'forward URL answered HTTP 400',
  );
});

test('queues pointed at a directory without a store says so instead of creating one', async () => {
  const r = await runCli(['queues'], { ...env, STATE_DIR: join(dir, 'elsewhere') });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /no state store in .*elsewhere/);
});

test('queues retry puts a dead letter back in its queue, and queues drop deletes one; both need ids or --all', async () => {
  const store = await openStateStore({
    stateDir: env.STATE_DIR,
    redisUrl: undefined,
    cluster: { keyPrefix: '' },
  });
  const forwards = store.queue(FORWARD_QUEUE);
  for (const body of ['{"entry":[4]}', '{"entry":[5]}']) {
    await forwards.enqueue(body);
    const [entry] = await forwards.claim('instance-a');
    await forwards.deadLetter(entry!, 'forward URL answered HTTP 500');
  }
  const [newest] = await forwards.deadLetters(1);
  await store.close();

  const refused = await runCli(['queues', 'retry', 'forwards'], env);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /ids .* or pass --all/);
  const unknown = await runCli(['queues', 'drop', 'nonsense', '--all'], env);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /unknown queue "nonsense"/);

  const listed = await runCli(['queues', '--dead'], env);
  assert.match(listed.stdout, new RegExp(`  ${newest!.id}  `));
  const retried = await runCli(['queues', 'retry', 'forwards', newest!.id], env);
  assert.equal(retried.code, 0, retried.stderr);
  assert.match(retried.stdout, /1 dead letter of forwards put back in the queue/);
  const after = await runCli(['queues', '--json'], env);
  const forwardsRow = (
    JSON.parse(after.stdout) as { queues: { queue: string; ready: number; dead: number }[] }
  ).queues.find((q) => q.queue === 'forwards');
  assert.equal(forwardsRow?.ready, 1);
  assert.equal(forwardsRow?.dead, 2);

  const dropped = await runCli(['queues', 'drop', 'forwards', '--all'], env);
  assert.equal(dropped.code, 0, dropped.stderr);
  assert.match(dropped.stdout, /2 dead letters of forwards dropped/);
  const empty = await runCli(['queues', '--json'], env);
  assert.equal(
    (JSON.parse(empty.stdout) as { queues: { queue: string; dead: number }[] }).queues.find(
      (q) => q.queue === 'forwards',
    )?.dead,
    0,
  );
});
