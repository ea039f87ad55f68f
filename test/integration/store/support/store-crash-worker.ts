/**
 * A process that uses the state store until it is killed (SIGKILL, by the crash test): it prints
 * one line per operation the store confirmed, so the test knows what must have survived.
 * Environment: STORE_REDIS_URL or STORE_DIR, STORE_PREFIX, MODE (produce | consume | records).
 */
import { openStateStore } from '../../../../src/store/index.js';
import { CRASH_QUEUE, CRASH_QUEUE_POLICY, CRASH_OWNER } from './crash-settings.js';

const store = await openStateStore({
  redisUrl: process.env.STORE_REDIS_URL || undefined,
  stateDir: process.env.STORE_DIR ?? '',
  cluster: { keyPrefix: process.env.STORE_PREFIX ?? '' },
});
const queue = store.queue(CRASH_QUEUE, CRASH_QUEUE_POLICY);
const say = (line: string) => process.stdout.write(`${line}\n`);

switch (process.env.MODE) {
  case 'produce':
    for (let i = 0; ; i++) {
      await queue.enqueue(`event-${i}`);
      say(`enqueued event-${i}`);
    }
  case 'consume':
    for (;;) {
      const [entry] = await queue.claim('crash-consumer', 1);
      if (!entry) {
        await new Promise((r) => setTimeout(r, 5));
        continue;
      }
      say(`claimed ${entry.payload.toString()}`);
      await queue.ack(entry);
      say(`acked ${entry.payload.toString()}`);
    }
  case 'records':
    for (let i = 0; ; i++) {
      const now = Date.now();
      await store.calls.put({
        callId: `wacid.crash-${i}`,
        phoneNumberId: '1065',
        direction: i % 2 ? 'outbound' : 'inbound',
        apiVersion: '24.0',
        token: { kind: 'configured', phoneNumberId: '1065' },
        owner: CRASH_OWNER,
        roomName: `room-${i}`,
        participantIdentity: `whatsapp_${i}`,
        state: 'active',
        createdAt: now,
        updatedAt: now,
      });
      say(`put wacid.crash-${i}`);
    }
  default:
    throw new Error(`unknown MODE ${process.env.MODE ?? ''}`);
}
