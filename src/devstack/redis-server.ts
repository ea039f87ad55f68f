import { freeTcpPort, waitForTcp } from './free-ports.js';
import { startProcess, type ManagedProcess } from './managed-process.js';
import { locateRedisServer } from './tool-binaries.js';

export interface RedisHandle {
  url: string;
  /** host:port */
  address: string;
  port: number;
  process: ManagedProcess;
  stop(): Promise<void>;
}

/** Start a throw-away redis-server on a free loopback port (no persistence). Installs it if missing. */
export async function startRedis(): Promise<RedisHandle> {
  const bin = locateRedisServer();
  const port = await freeTcpPort();
  const proc = startProcess(
    bin,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--protected-mode',
      'yes',
    ],
    { name: 'redis' },
  );
  try {
    await waitForTcp(port, 10_000);
  } catch (err) {
    await proc.stop();
    throw new Error(`redis-server did not start: ${(err as Error).message}\n${proc.tail()}`);
  }
  return {
    url: `redis://127.0.0.1:${port}`,
    address: `127.0.0.1:${port}`,
    port,
    process: proc,
    stop: () => proc.stop(),
  };
}
