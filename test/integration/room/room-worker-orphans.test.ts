import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { RoomServiceClient } from 'livekit-server-sdk';
import { startLiveKitServer, type LiveKitServerHandle } from '../../../testbed/livekit-server.js';

let lk: LiveKitServerHandle;

before(async () => {
  lk = await startLiveKitServer();
});

after(async () => {
  await lk?.stop();
});

function processRuns(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

async function until(check: () => boolean | Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

test('a room worker exits and leaves its room when the connector process is killed', async () => {
  const roomName = `orphan-${Date.now()}`;
  const fixture = fileURLToPath(new URL('./room-worker-parent-fixture.ts', import.meta.url));
  const parent = spawn(process.execPath, ['--import', 'tsx', fixture], {
    env: {
      ...process.env,
      FIXTURE_URL: lk.wsUrl,
      FIXTURE_KEY: lk.apiKey,
      FIXTURE_SECRET: lk.apiSecret,
      FIXTURE_ROOM: roomName,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let workerPid: number | undefined;
  try {
    let out = '';
    parent.stdout.setEncoding('utf8');
    for await (const chunk of parent.stdout) {
      out += chunk as string;
      const match = /\{"workerPid":(\d+)\}/.exec(out);
      if (match) {
        workerPid = Number(match[1]);
        break;
      }
    }
    assert.ok(workerPid, `fixture printed ${out}`);
    assert.ok(processRuns(workerPid));
    const rooms = new RoomServiceClient(lk.httpUrl, lk.apiKey, lk.apiSecret);
    const inRoom = async () =>
      (await rooms.listParticipants(roomName)).some((p) => p.identity === 'orphan-candidate');
    assert.ok(await inRoom(), 'the worker joined the room');

    parent.kill('SIGKILL');
    await once(parent, 'exit');
    assert.ok(await until(() => !processRuns(workerPid!), 5000), 'the worker exited');
    assert.ok(await until(async () => !(await inRoom()), 5000), 'the worker left the room');
  } finally {
    if (parent.exitCode === null && parent.signalCode === null) parent.kill('SIGKILL');
    if (workerPid && processRuns(workerPid)) process.kill(workerPid, 'SIGKILL');
  }
});
