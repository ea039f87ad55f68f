/**
 * Time from a webhook POST to its 200, now that the 200 waits for the event to be durably queued
 * (SQLite commit with synchronous=FULL, or a Redis stream). Runs `whatsapp-connector serve` as a
 * child process and posts signed `messages` webhooks one after another.
 *
 *   npx tsx bench/webhook-ack.ts [count] [--redis]
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freeTcpPort } from '../src/devstack/free-ports.js';
import { startRedis, type RedisHandle } from '../src/devstack/redis-server.js';
import { signWebhookBody } from '../src/whatsapp/webhook-signature.js';

const count = Number(process.argv.find((a) => /^\d+$/.test(a)) ?? 500);
const useRedis = process.argv.includes('--redis');
const APP_SECRET = 'bench-app-secret';
const dir = mkdtempSync(join(tmpdir(), 'wac-bench-ack-'));
let redis: RedisHandle | undefined;
if (useRedis) redis = await startRedis();
const port = await freeTcpPort();
const cli = fileURLToPath(new URL('../bin/whatsapp-connector.js', import.meta.url));
const child = spawn(process.execPath, [cli, 'serve'], {
  env: {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '',
    LIVEKIT_URL: 'ws://127.0.0.1:9',
    LIVEKIT_API_KEY: 'APIbench',
    LIVEKIT_API_SECRET: 'bench-secret-0123456789-0123456789-abc',
    WHATSAPP_APP_SECRET: APP_SECRET,
    PORT: String(port),
    INTERNAL_PORT: String(await freeTcpPort()),
    BIND_ADDRESS: '127.0.0.1',
    STATE_DIR: join(dir, 'state'),
    LOG_LEVEL: 'warn',
    ...(redis ? { REDIS_URL: redis.url, INSTANCE_ID: 'bench' } : {}),
  },
  stdio: ['ignore', 'ignore', 'pipe'],
});
let output = '';
child.stderr.on('data', (d: Buffer) => (output += d.toString()));
while (!output.includes('whatsapp-connector listening')) {
  if (child.exitCode !== null) throw new Error(`serve exited:\n${output}`);
  await new Promise((r) => setTimeout(r, 100));
}

const url = `http://127.0.0.1:${port}/whatsapp/webhook`;
const times: number[] = [];
for (let i = 0; i < count; i++) {
  const body = JSON.stringify({
    object: 'whatsapp_business_account',
    entry: [
      {
        id: 'WABA',
        changes: [
          {
            field: 'messages',
            value: {
              messaging_product: 'whatsapp',
              metadata: { phone_number_id: '1' },
              messages: [{ from: '1', id: `wamid.${i}`, timestamp: '1', type: 'text' }],
            },
          },
        ],
      },
    ],
  });
  const started = performance.now();
  const res = await fetch(url, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Hub-Signature-256': signWebhookBody(body, APP_SECRET),
    },
    body,
  });
  await res.arrayBuffer();
  times.push(performance.now() - started);
  if (res.status !== 200) throw new Error(`HTTP ${res.status}`);
}
times.sort((a, b) => a - b);
const at = (q: number) => times[Math.floor(q * (times.length - 1))]!.toFixed(1);
console.log(
  `${useRedis ? 'Redis' : 'SQLite'}: ${count} webhooks, 200 after durable enqueue: p50 ${at(0.5)} ms, p90 ${at(0.9)} ms, p99 ${at(0.99)} ms, max ${at(1)} ms`,
);
child.kill('SIGTERM');
await new Promise((r) => child.once('exit', r));
await redis?.stop();
rmSync(dir, { recursive: true, force: true });
