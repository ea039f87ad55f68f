import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { freeTcpPort, waitForTcp } from './ports.js';
import { startProcess, type ManagedProcess } from './process.js';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');

function hasRedis(): boolean {
  try {
    execFileSync('redis-server', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

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
  if (!hasRedis())
    execFileSync(join(ROOT, 'scripts', 'install-tools.sh'), ['redis'], { stdio: 'inherit' });
  const port = await freeTcpPort();
  const proc = startProcess(
    'redis-server',
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
