/**
 * The operator console on the whole dev stack (`whatsapp-connector dev`: livekit-server, the
 * simulator as Meta, the connector with its webhook gateway, the demo echo agent), driven in
 * Chromium as an operator would: sign-in refusals, a simulated user's call appearing live with its
 * quality, hang-up and dial from the console, end reasons, and each page captured at 1280×800
 * under test-output/console/ and checked for layout basics. The CLI shows what the console shows.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dispose } from '@livekit/rtc-node';
import { AccessToken } from 'livekit-server-sdk';
import type { BrowserContext, Page } from 'playwright-core';
import type { WebhooksListing, PermissionsListing } from '../../../src/console/operator-api.js';
import { startDevStack, type DevStack } from '../../../src/devstack/dev-stack.js';
import { signWebhookBody } from '../../../src/whatsapp/webhook-signature.js';
import { freeTcpPort } from '../../../testbed/ports.js';
import { eventually } from '../calls/bridge-harness.js';
import { runCli } from '../cli/cli-runner.js';
import { launchTestChromium } from './chromium.js';
import { captureAndCheckLayout } from './page-layout.js';

const SHOTS = 'console';

let runDir: string | undefined;
let scratchDir: string | undefined;
let stack: DevStack | undefined;
let browser: BrowserContext | undefined;
let page: Page;

before(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'console-dev-'));
  scratchDir = await mkdtemp(join(tmpdir(), 'console-chromium-'));
  stack = await startDevStack({
    port: await freeTcpPort(),
    livekitPort: await freeTcpPort(),
    simulatorPort: await freeTcpPort(),
    runDir,
    demo: true,
  });
  browser = await launchTestChromium({ scratchDir, viewport: { width: 1280, height: 800 } });
  page = browser.pages()[0] ?? (await browser.newPage());
});

after(async () => {
  await browser?.close();
  await stack?.stop();
  await dispose();
  for (const dir of [runDir, scratchDir]) if (dir) await rm(dir, { recursive: true, force: true });
});

function consoleUrl(path = ''): string {
  return `http://127.0.0.1:${stack!.server.internalPort}/console/${path}`;
}

/** A simulated WhatsApp user calls the business (the echo agent answers); resolves its call id. */
async function userCalls(from: string): Promise<string> {
  const res = await fetch(`${stack!.simulator!.controlUrl}/calls`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ from, voice: { kind: 'tone', frequencyHz: 440 } }),
  });
  assert.equal(res.status, 201, await res.clone().text());
  return ((await res.json()) as { id: string }).id;
}

function connectorCall(callId: string) {
  return stack!.server.calls!.registry.get(callId);
}

function row(callId: string) {
  return page.locator(`tr[data-call-id="${callId}"]`);
}

async function metric(callId: string, name: string): Promise<string> {
  return (await row(callId).locator(`[data-metric="${name}"]`).textContent())?.trim() ?? '';
}

/** The number at the start of a metric cell ("12.5 ms" → 12.5), NaN for "—" or "silent". */
function valueOf(text: string): number {
  return Number.parseFloat(text.replace('−', '-'));
}

/** Signs in with the dev stack's key and secret unless the browser already has a session. */
async function signedIn(): Promise<void> {
  await page.goto(consoleUrl('calls'));
  if (!page.url().includes('/sign-in')) return;
  await page.getByLabel('API key', { exact: true }).fill(stack!.config.livekit.apiKey);
  await page.getByLabel('API secret').fill(stack!.config.livekit.apiSecret);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(consoleUrl('calls'));
}

/** The simulator's side of a call once it has ended there. */
async function endedAtSimulator(callId: string): Promise<string | undefined> {
  return eventually(
    () => {
      const call = stack!.simulator!.call(callId);
      return call?.state === 'ended' ? (call.endReason ?? 'unknown') : undefined;
    },
    15_000,
    `call ${callId} ended at the simulator`,
  );
}

test('sign-in is refused without credentials, with a wrong secret and with a token lacking roomCreate', async () => {
  const response = await page.goto(consoleUrl('calls'));
  assert.ok(page.url().startsWith(consoleUrl('sign-in')), `redirected to sign-in: ${page.url()}`);
  assert.equal(response?.status(), 200);
  const alert = page.getByRole('alert');

  // Nothing entered (the dev stack pre-fills only the key: cleared here).
  await page.getByLabel('API key', { exact: true }).fill('');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match(
    (await alert.textContent()) ?? '',
    /Enter an API key and its secret, or an access token/,
  );

  await page.getByLabel('API key', { exact: true }).fill(stack!.config.livekit.apiKey);
  await page.getByLabel('API secret').fill('a-wrong-secret-that-is-long-enough-to-be-one');
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match((await alert.textContent()) ?? '', /Sign-in refused: .*secret is wrong/);
  assert.ok(page.url().includes('/sign-in'));

  const joinOnly = new AccessToken(stack!.config.livekit.apiKey, stack!.config.livekit.apiSecret, {
    ttl: 60,
    identity: 'someone',
  });
  joinOnly.addGrant({ roomJoin: true, room: 'any' });
  await page.getByLabel(/LiveKit access token/).fill(await joinOnly.toJwt());
  await page.getByRole('button', { name: 'Sign in' }).click();
  assert.match((await alert.textContent()) ?? '', /Sign-in refused: permissions denied/);
  await captureAndCheckLayout(page, SHOTS, '1-sign-in-refused');

  // Without a session the live stream and the actions are refused too.
  const stream = await fetch(consoleUrl('calls/live'));
  assert.equal(stream.status, 401);
  await stream.body?.cancel();
  const hangup = await fetch(consoleUrl('calls/wacid.x/hangup'), { method: 'POST', body: '' });
  assert.equal(hangup.status, 401);

  // The right token signs in, with a session cookie scripts cannot read nor other sites send.
  const operator = new AccessToken(stack!.config.livekit.apiKey, stack!.config.livekit.apiSecret, {
    ttl: 60,
  });
  operator.addGrant({ roomCreate: true });
  await page.getByLabel(/LiveKit access token/).fill(await operator.toJwt());
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(consoleUrl('calls'));
  const [session] = (await browser!.cookies()).filter((c) => c.name === 'wac_console');
  assert.ok(session, 'session cookie set');
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, 'Strict');
  assert.ok(session.expires > Date.now() / 1000, 'the session expires');

  // Signing out ends the session on the server, not only in this browser.
  const cookie = `${session.name}=${session.value}`;
  await page.getByRole('button', { name: 'Sign out' }).click();
  await page.waitForURL(consoleUrl('sign-in'));
  const reused = await fetch(consoleUrl('calls'), { headers: { cookie }, redirect: 'manual' });
  assert.equal(reused.status, 303);
  assert.match(reused.headers.get('location') ?? '', /\/console\/sign-in/);
});

test('a call placed through the simulator appears within 2 s, and its quality numbers update', async (t) => {
  await signedIn();
  const callId = await userCalls('4915112349001');
  // The connector holds the call once the echo agent is in the room (accept: when_agent_ready).
  await eventually(() => connectorCall(callId), 30_000, 'the connector took the call');
  // The page is not reloaded: the call arrives over the event stream.
  const held = Date.now();
  await row(callId).waitFor({ timeout: 2000 });
  t.diagnostic(`the call was on the page ${Date.now() - held} ms after the connector held it`);

  await eventually(
    async () =>
      (await row(callId).locator('[data-cell="state"]').textContent())?.includes('active'),
    20_000,
    'the call shown active',
  );
  // The user says 440 Hz; the agent echoes it: both directions carry audio.
  await eventually(
    async () => valueOf(await metric(callId, 'received-level')) > -30,
    10_000,
    'the level from the user',
  );
  await eventually(
    async () => valueOf(await metric(callId, 'sent-level')) > -40,
    15_000,
    'the level to the user (the echo)',
  );
  // Meta's relay reports on our stream: the sent direction's jitter becomes known.
  await eventually(
    async () => Number.isFinite(valueOf(await metric(callId, 'sent-jitter'))),
    10_000,
    "the jitter Meta's relay reports",
  );
  const trendLabel = () =>
    row(callId).locator('svg.sparkline').first().getAttribute('aria-label') as Promise<string>;
  const seconds = async () => Number(/last (\d+) s/.exec(await trendLabel())?.[1]);
  const before = await seconds();
  await eventually(async () => (await seconds()) >= before + 2, 5000, 'the sparkline growing');

  // Loss and jitter on the relay's path to us show up in the received numbers.
  stack!.simulator!.setFaults({ packetLossPercent: 20, jitterMs: 60 });
  try {
    await eventually(
      async () => valueOf(await metric(callId, 'received-loss')) > 2,
      15_000,
      'received loss under 20 % packet loss',
    );
    await eventually(
      async () => valueOf(await metric(callId, 'received-jitter')) > 8,
      15_000,
      'received jitter under 60 ms of jitter',
    );
  } finally {
    stack!.simulator!.setFaults({ packetLossPercent: 0, jitterMs: 0 });
  }
  await captureAndCheckLayout(page, SHOTS, '2-live-calls');
});

test('hang-up from the console ends the call at the simulator and in the list', async () => {
  await signedIn();
  const [callId] = [...stack!.server.calls!.registry.list()]
    .filter((c) => c.state === 'active')
    .map((c) => c.callId);
  assert.ok(callId, 'a live call from the previous test');
  await row(callId)
    .getByRole('button', { name: /^Hang up call/ })
    .click();
  await page.waitForURL(consoleUrl('calls'));
  assert.match((await page.getByRole('status').first().textContent()) ?? '', /hung up/);
  assert.equal(await endedAtSimulator(callId), 'business_terminate');
  await row(callId).waitFor({ state: 'detached', timeout: 5000 });
});

test('an ended call shows its end reason: the business hung up, the user hung up', async () => {
  await signedIn();
  const userEnded = await userCalls('4915112349002');
  await eventually(() => connectorCall(userEnded)?.state === 'active', 30_000, 'call active');
  stack!.simulator!.call(userEnded)!.hangUp();
  await eventually(() => connectorCall(userEnded)?.state === 'ended', 15_000, 'ended at connector');

  await page.getByRole('link', { name: 'Ended calls' }).click();
  const reasons = await page
    .locator('tr[data-call-id] [data-reason]')
    .evaluateAll((cells) =>
      cells.map((c) => [c.closest('tr')!.getAttribute('data-call-id'), c.textContent] as const),
    );
  const reasonOf = (id: string) => reasons.find(([callId]) => callId === id)?.[1] ?? '';
  assert.match(reasonOf(userEnded), /user_hangup — the WhatsApp user hung up/);
  assert.ok(
    reasons.some(([, text]) => /business_hangup — the business hung up/.test(text ?? '')),
    `a business hang-up listed: ${JSON.stringify(reasons)}`,
  );
});

test('dial from the console is refused without call permission; with it the user is called into the room', async () => {
  await signedIn();
  const user = '4915112349003';
  const room = `console-dial-${Date.now()}`;
  const dial = async () => {
    await page.getByLabel('User: phone number or BSUID').fill(user);
    await page.getByLabel('Room (empty: generated)').fill(room);
    await page.getByRole('button', { name: 'Dial' }).click();
    await page.waitForURL(consoleUrl('calls'));
  };
  await dial();
  assert.match(
    (await page.getByRole('alert').textContent()) ?? '',
    /Dial failed: .*permission/i,
    'the API refused: no call permission',
  );
  assert.equal(
    stack!.simulator!.calls.filter((c) => c.user.phoneNumber === user).length,
    0,
    'nobody called',
  );

  const sim = stack!.simulator!;
  sim.user(user).setPermission(sim.defaultPhoneNumberId, 'temporary');
  await dial();
  assert.match((await page.getByRole('status').first().textContent()) ?? '', /Calling/);
  const placed = (await eventually(
    () => stack!.server.calls!.registry.list().find((c) => c.roomName === room),
    5000,
    'the dialled call',
  ))!;
  // The simulated user picks up after 2 s.
  await eventually(
    async () =>
      (await row(placed.callId).locator('[data-cell="state"]').textContent())?.includes('active'),
    20_000,
    'the dialled call answered',
  );
  await row(placed.callId)
    .getByRole('button', { name: /^Hang up call/ })
    .click();
  await page.waitForURL(consoleUrl('calls'));
  assert.equal(await endedAtSimulator(placed.callId), 'business_terminate');
});

test('each console page at 1280×800 is captured, fits, reads and is reachable by keyboard', async () => {
  await signedIn();
  const sim = stack!.simulator!;
  // Something on every page: a permission reply, a webhook with a wrong signature, a live call.
  const asked = await runCli(['-c', stack!.configFile!, 'permissions', 'request', '4915112349004']);
  assert.equal(asked.code, 0, asked.stderr);
  await eventually(
    () => stack!.server.gateway!.permissions.list().some((p) => p.waId === '4915112349004'),
    10_000,
    'the permission reply recorded',
  );
  const forged = JSON.stringify({ object: 'whatsapp_business_account', entry: [] });
  const refused = await fetch(`http://127.0.0.1:${stack!.server.port}/whatsapp/webhook`, {
    method: 'POST',
    headers: {
      'Content-Type': 'application/json',
      'X-Hub-Signature-256': signWebhookBody(Buffer.from(forged), 'not-the-app-secret'),
    },
    body: forged,
  });
  assert.equal(refused.status, 403);
  // Two live calls for the picture: a user's call, and one the console dials.
  const callId = await userCalls('4915112349005');
  await eventually(() => connectorCall(callId)?.state === 'active', 30_000, 'call active');
  await page.getByLabel('User: phone number or BSUID').fill('4915112349004');
  await page.getByLabel('Room (empty: generated)').fill('sales-callback-7');
  await page.getByRole('button', { name: 'Dial' }).click();
  await page.waitForURL(consoleUrl('calls'));
  const dialled = (await eventually(
    () => stack!.server.calls!.registry.list().find((c) => c.roomName === 'sales-callback-7'),
    5000,
    'the dialled call',
  ))!;
  await eventually(() => connectorCall(dialled.callId)?.state === 'active', 20_000, 'answered');
  // A quarter minute of sparkline.
  await eventually(
    async () =>
      Number(
        /last (\d+) s/.exec(
          (await row(callId).locator('svg.sparkline').first().getAttribute('aria-label')) ?? '',
        )?.[1],
      ) >= 15,
    30_000,
    'fifteen seconds of quality history',
  );

  try {
    for (const [name, link] of [
      ['3-live-calls', 'Live calls'],
      ['4-ended-calls', 'Ended calls'],
      ['5-webhooks', 'Webhooks'],
      ['6-call-permissions', 'Call permissions'],
      ['7-instances', 'Instances'],
      ['8-benchmark', 'Benchmark'],
    ] as const) {
      await page.getByRole('link', { name: link, exact: true }).click();
      await page.waitForLoadState();
      assert.equal(
        await page.getByRole('link', { name: link, exact: true }).getAttribute('aria-current'),
        'page',
      );
      await captureAndCheckLayout(page, SHOTS, name);
    }
    // What the pages say, beyond their looks.
    await page.getByRole('link', { name: 'Webhooks', exact: true }).click();
    assert.equal(await page.locator('td[data-signature="mismatch"]').count(), 1);
    assert.ok((await page.locator('td[data-signature="ok"]').count()) > 0);
    await page.getByRole('link', { name: 'Call permissions', exact: true }).click();
    assert.match((await page.locator('table').textContent()) ?? '', /4915112349004/);
    // Meta is asked on the spot: the user accepted the request above.
    await page.getByLabel("User's phone number").fill('4915112349004');
    await page.getByRole('button', { name: 'Ask Meta' }).click();
    await page.waitForURL(consoleUrl('permissions'));
    assert.equal(await page.locator('[data-verdict="status"]').textContent(), 'temporary');
    assert.equal(await page.locator('[data-verdict="can-call"]').textContent(), 'yes');
    await page.getByRole('link', { name: 'Instances', exact: true }).click();
    assert.match((await page.locator('table').textContent()) ?? '', /this instance/);
  } finally {
    sim.call(callId)?.hangUp();
    sim.call(dialled.callId)?.hangUp();
  }
});

test('the CLI lists the webhooks and permission replies the console shows', async () => {
  const webhooks = await runCli(['-c', stack!.configFile!, 'webhooks', '--json', '-n', '500']);
  assert.equal(webhooks.code, 0, webhooks.stderr);
  const listing = JSON.parse(webhooks.stdout) as WebhooksListing;
  assert.ok(listing.receipts.some((r) => r.signature === 'mismatch' && r.httpStatus === 403));
  assert.ok(
    listing.receipts.some(
      (r) => r.types.includes('call_connect') && r.outcomes.includes('accepted'),
    ),
  );
  assert.equal(listing.forwarding, null, 'the dev stack forwards nowhere');
  const table = await runCli(['-c', stack!.configFile!, 'webhooks']);
  assert.match(table.stdout, /SIGNATURE/);
  assert.match(table.stdout, /mismatch/);

  const permissions = await runCli(['-c', stack!.configFile!, 'permissions', 'list', '--json']);
  assert.equal(permissions.code, 0, permissions.stderr);
  const replies = JSON.parse(permissions.stdout) as PermissionsListing['permissions'];
  assert.ok(replies.some((p) => p.waId === '4915112349004' && p.response === 'accept'));
});
