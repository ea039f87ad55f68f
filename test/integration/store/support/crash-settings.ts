import type { QueuePolicy } from '../../../../src/store/index.js';

/** Shared by the crash test and its worker process. */
export const CRASH_QUEUE = 'crash-webhooks';
export const CRASH_OWNER = 'crashed-instance';
/** A short lease, so what the killed consumer held is claimable again soon. */
export const CRASH_QUEUE_POLICY: Partial<QueuePolicy> = { capacity: 100_000, leaseMs: 1000 };
