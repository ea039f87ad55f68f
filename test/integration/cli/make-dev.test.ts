import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../calls/bridge-harness.js';
import { PUBLIC_DEV_API_SECRET } from '../../../testbed/livekit-server.js';
import { freeTcpPort } from '../../../testbed/ports.js';
import { startCli } from './cli-runner.js';

const dir = mkdtempSync(join(tmpdir(), 'wa-dev-'));
let dev: ReturnType<typeof startCli> | undefined;

after(async () => {
  if (dev && dev.child.exitCode === null) {
    dev.child.kill('SIGKILL');
    await dev.exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

test('dev: a simulated user call is answered by the demo agent and audio flows; Ctrl+C stops everything', async () => {
  const [port, internalPort, livekitPort, simulatorPort] = [
    await freeTcpPort(),
    await freeTcpPort(),
    await freeTcpPort(),
    await freeTcpPort(),
  ];
  dev = startCli(
    [
      'dev',
      '--port',
      String(port),
      '--internal-port',
      String(internalPort),
      '--livekit-port',
      String(livekitPort),
      '--simulator-port',
      String(simulatorPort),
      '--run-dir',
      join(dir, 'run'),
    ],
    {},
    dir,
  );
  await dev.waitFor('Press Ctrl+C to stop.', 90_000);
  const generated = readFileSync(join(dir, 'run', 'config.yaml'), 'utf8');
  assert.match(generated, /accept: when_agent_ready/);
  // The stack's API secret is generated for this run directory, not the one published in the repo.
  assert.ok(!generated.includes(PUBLIC_DEV_API_SECRET));
  assert.ok(
    generated.includes(readFileSync(join(dir, 'run', 'livekit-api-secret'), 'utf8').trim()),
  );
  // Health and metrics are on the internal listener only.
  assert.equal((await fetch(`http://127.0.0.1:${internalPort}/readyz`)).status, 200);
  assert.match(
    await (await fetch(`http://127.0.0.1:${internalPort}/metrics`)).text(),
    /whatsapp_connector_ready 1/,
  );
  assert.equal((await fetch(`http://127.0.0.1:${port}/metrics`)).status, 404);
  const control = `http://127.0.0.1:${simulatorPort}/_simulator`;
  assert.match(dev.output(), new RegExp(`curl -s -X POST ${control}/calls`));
  // The banner names the operator console, and its one-time sign-in link signs in (once).
  const consoleUrl = `http://127.0.0.1:${internalPort}/console/`;
  assert.match(dev.output(), new RegExp(`console +${consoleUrl} `));
  const link = new RegExp(`sign in: (${consoleUrl}sign-in\\?once=[\\w-]+)`).exec(dev.output())?.[1];
  assert.ok(link, 'a sign-in link on the banner');
  const signedIn = await fetch(link, { redirect: 'manual' });
  assert.equal(signedIn.status, 303);
  assert.match(signedIn.headers.get('set-cookie') ?? '', /^wac_console=/);
  assert.equal((await fetch(link, { redirect: 'manual' })).status, 401, 'the link works once');

  // What the printed curl does: a user calls and says a 440 Hz tone.
  const placed = await fetch(`${control}/calls`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ from: '4915112345678', voice: { kind: 'tone', frequencyHz: 440 } }),
  });
  assert.equal(placed.status, 201, await placed.clone().text());
  const { id } = (await placed.json()) as { id: string };
  await dev.waitFor('answered in room whatsapp-4915112345678', 40_000);
  // The demo agent echoes the caller: the user hears its own tone back.
  await eventually(
    async () => {
      const res = await fetch(
        `${control}/calls/${encodeURIComponent(id)}/recording?expectHz=440&lastMs=1000`,
      );
      const stats = (await res.json()) as { levelDbfs: number; frequencyHz: number };
      return stats.levelDbfs > -30 && Math.abs(stats.frequencyHz - 440) < 15;
    },
    30_000,
    'the user hears the echo',
  );

  dev.child.kill('SIGINT');
  assert.equal(await dev.exited, 0, dev.output());
  assert.match(dev.output(), /stopped\./);
  for (const p of [port, internalPort, livekitPort, simulatorPort]) {
    assert.equal(await listening(p), false, `port ${p} still open`);
  }
});
