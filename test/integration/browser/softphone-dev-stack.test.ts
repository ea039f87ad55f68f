/**
 * The softphone on the whole dev stack (`whatsapp-connector dev`: livekit-server, the simulator as
 * Meta, the connector with its webhook gateway, the demo echo agent), with Chromium as the user:
 * its fake microphone says 440 Hz. A call from the page is answered by the echo agent and the page
 * plays the tone back; a `dial` from the CLI rings the page, which answers and hangs up, and the
 * connector leaves the room. Each state of the page is captured at 1280×800 under
 * test-output/softphone/ and checked for layout basics.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { dispose } from '@livekit/rtc-node';
import { ParticipantInfo_Kind } from '@livekit/protocol';
import { RoomServiceClient } from 'livekit-server-sdk';
import { startDevStack, type DevStack } from '../../../src/devstack/dev-stack.js';
import { analyseTone, type ToneAnalysis } from '../../../src/media/tone.js';
import { freeTcpPort } from '../../../testbed/ports.js';
import { eventually, sleep } from '../calls/bridge-harness.js';
import { runCli } from '../cli/cli-runner.js';
import { captureAndCheckLayout } from './page-layout.js';
import { SoftphoneTab } from './softphone-tab.js';

const USER_TONE_HZ = 440;

let runDir: string | undefined;
let stack: DevStack | undefined;
let tab: SoftphoneTab | undefined;

before(async () => {
  runDir = await mkdtemp(join(tmpdir(), 'softphone-dev-'));
  stack = await startDevStack({
    port: await freeTcpPort(),
    livekitPort: await freeTcpPort(),
    simulatorPort: await freeTcpPort(),
    runDir,
    demo: true,
  });
  tab = await SoftphoneTab.open(stack.simulator!.softphoneUrl, { toneHz: USER_TONE_HZ });
});

after(async () => {
  await tab?.close();
  await stack?.stop();
  await dispose();
  if (runDir) await rm(runDir, { recursive: true, force: true });
});

function rooms(): RoomServiceClient {
  const lk = stack!.config.livekit;
  return new RoomServiceClient(lk.url.replace(/^ws/, 'http'), lk.apiKey, lk.apiSecret);
}

/** Identities of the CONNECTOR participants in `room` (none once the room is gone). */
async function connectorsIn(room: string): Promise<string[]> {
  const participants = await rooms()
    .listParticipants(room)
    .catch(() => []);
  return participants
    .filter((p) => p.kind === ParticipantInfo_Kind.CONNECTOR)
    .map((p) => p.identity);
}

/** Saves the page as `<name>.png` and checks that it fits, reads and tabs well. */
async function captureState(name: string): Promise<void> {
  await captureAndCheckLayout(tab!.page, 'softphone', name);
}

/** The last 800 ms of a 1 s recording of what the page plays holds `hz` (up to three tries). */
async function assertPagePlays(hz: number): Promise<ToneAnalysis> {
  const seen: string[] = [];
  for (let attempt = 0; attempt < 3; attempt++) {
    const heard = await tab!.recordHeard(1000);
    const tone = analyseTone(
      heard.pcm.subarray(-Math.round(heard.sampleRate * 0.8)),
      heard.sampleRate,
      hz,
    );
    if (tone.levelDbfs > -30 && Math.abs(tone.frequencyHz - hz) < 20) return tone;
    seen.push(`${tone.levelDbfs.toFixed(1)} dBFS at ${tone.frequencyHz} Hz`);
  }
  return assert.fail(`the page did not play ${hz} Hz: ${seen.join('; ')}`);
}

/** After a test: no call left at the simulator, the page back to ready. */
async function settle(): Promise<void> {
  for (const call of stack!.simulator!.activeCalls()) call.hangUp();
  await tab!.waitForView('ready').catch(() => undefined);
}

test('a call from the softphone is answered by the dev echo agent, and the page plays the caller’s 440 Hz back', async (t) => {
  const page = tab!;
  await captureState('1-choose-user');
  // A pure tone is what noise suppression removes: the test speaks through the raw microphone.
  await page.page.getByLabel('Echo cancellation and noise suppression').uncheck();
  const user = '4915112340101';
  await page.useUser(user);
  await captureState('2-ready');

  try {
    await page.click('Call the business');
    await page.waitForView('outgoing');
    await captureState('3-calling');
    // Accepted once the echo agent is in the room and publishing (accept: when_agent_ready).
    const active = await page.waitForView('active', 45_000);
    const room = `whatsapp-${user}`;
    assert.equal((await connectorsIn(room)).length, 1, 'the connector joined the call room');

    // The agent greets (660 Hz beeps), then echoes: the meter and the recording show 440 Hz.
    let heardDb: number | null = null;
    await eventually(
      async () => {
        heardDb = (await page.levels()).heard;
        return heardDb !== null && heardDb > -30;
      },
      20_000,
      `the heard meter (last ${String(heardDb)} dBFS)`,
    );
    await sleep(2000);
    const echo = await assertPagePlays(USER_TONE_HZ);
    t.diagnostic(
      `echo played by the page: ${echo.frequencyHz} Hz, ${echo.levelDbfs.toFixed(1)} dBFS, tone share ${echo.toneShare.toFixed(2)}; meter ${String(heardDb)} dBFS`,
    );
    await captureState('4-in-call');

    await page.click('Hang up');
    await page.waitForView('ready');
    await eventually(async () => (await connectorsIn(room)).length === 0, 15_000, 'connector left');
    assert.equal(stack!.simulator!.call(active.callId ?? '')?.endReason, 'user_hangup');
  } finally {
    await settle();
  }
});

test('dial from the CLI rings the softphone; answered and hung up on the page, the call ends in the room', async () => {
  const page = tab!;
  const sim = stack!.simulator!;
  const user = '4915112340102';
  await page.useUser(user);
  sim.user(user).setPermission(sim.defaultPhoneNumberId, 'temporary');
  try {
    const room = `softphone-dial-${Date.now()}`;
    const dialing = runCli(['-c', stack!.configFile!, 'dial', user, '--room', room], {}, 90_000);

    await page.waitForView('incoming', 30_000);
    await captureState('5-incoming');
    await page.click('Answer');
    await page.waitForView('active', 20_000);
    const dialled = await dialing;
    assert.equal(dialled.code, 0, dialled.stdout + dialled.stderr);
    assert.match(dialled.stdout, new RegExp(`answered: the user is in room ${room}`));
    await eventually(async () => (await connectorsIn(room)).length === 1, 10_000, 'connector in');

    await page.click('Hang up');
    await page.waitForView('ready');
    assert.match((await page.page.locator('#call-status').textContent()) ?? '', /you hung up/);
    await captureState('6-ended');
    // The hang-up reaches the room: the connector participant leaves.
    await eventually(async () => (await connectorsIn(room)).length === 0, 15_000, 'connector left');
  } finally {
    await settle();
  }
});
