/**
 * The peer row: another commit of this repository ("today's design": rtc-node room legs, full
 * transcoding) checked out into a temporary git worktree under the results directory, sharing
 * this checkout's node_modules by symlink. Its own bench/workers/connector-host.ts runs as the
 * connector under test, against the same livekit-server and simulator as ours.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, symlinkSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ConnectorSpec } from './bench-stack.js';

/** Main before the native media path: rtc-node room legs, transcoding both ways. */
export const DEFAULT_PEER_COMMIT = 'f2f3662';

export interface PeerCheckout {
  commit: string;
  dir: string;
  spec: ConnectorSpec;
  remove(): void;
}

function git(args: string[], cwd = '.'): string {
  return execFileSync('git', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] })
    .toString()
    .trim();
}

/**
 * Check out `commit` (any rev git understands) into `<outDir>/peer-<sha>`; an existing checkout
 * of the same commit is reused. `remove()` deletes the worktree again.
 * @throws Error when the commit is unknown or has no bench/workers/connector-host.ts.
 */
export function checkoutPeer(
  commit: string,
  outDir: string,
  env: Record<string, string> = {},
): PeerCheckout {
  const sha = git(['rev-parse', '--verify', `${commit}^{commit}`]);
  const dir = resolve(outDir, `peer-${sha.slice(0, 12)}`);
  const reuse = existsSync(join(dir, '.git')) && git(['rev-parse', 'HEAD'], dir) === sha;
  if (!reuse) {
    mkdirSync(outDir, { recursive: true });
    git(['worktree', 'prune']);
    git(['worktree', 'add', '--force', '--detach', dir, sha]);
  }
  const modules = join(dir, 'node_modules');
  if (!existsSync(modules)) symlinkSync(realpathSync('node_modules'), modules, 'dir');
  const host = join(dir, 'bench', 'workers', 'connector-host.ts');
  if (!existsSync(host)) {
    throw new Error(`peer commit ${sha.slice(0, 12)} has no bench/workers/connector-host.ts`);
  }
  return {
    commit: sha,
    dir,
    spec: { name: 'peer', script: pathToFileURL(host), cwd: dir, env },
    remove() {
      try {
        git(['worktree', 'remove', '--force', dir]);
      } catch {
        // Left for `git worktree prune`; the results directory is git-ignored.
      }
    },
  };
}
