/**
 * A stand-in connector for `room-worker-orphans.test.ts`: joins one room through a RoomLegPool,
 * prints `{"workerPid": n}` and waits to be killed. Reads FIXTURE_URL/KEY/SECRET/ROOM.
 */
import { RoomLegPool } from '../../../src/room/room-leg-pool.js';

const env = process.env;
const pool = new RoomLegPool({ callsPerProcess: 4, logLevel: 'silent' });
await pool.join({
  url: env.FIXTURE_URL!,
  apiKey: env.FIXTURE_KEY!,
  apiSecret: env.FIXTURE_SECRET!,
  roomName: env.FIXTURE_ROOM!,
  identity: 'orphan-candidate',
  sampleRate: 16_000,
});
process.stdout.write(`${JSON.stringify({ workerPid: pool.workerPids[0] })}\n`);
setInterval(() => undefined, 1000);
