/**
 * Where the servers of the local stack (`whatsapp-connector dev`, the tests, the bench) come from.
 * In a source checkout the pinned livekit-server is built into `.tools/bin` by
 * `scripts/install-tools.sh` on first use (and redis-server installed from Debian); an installed
 * package has neither, so it uses what is on the PATH and says what to install when it is missing.
 */
import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package root: two levels above this module, in `src/devstack/` as in `dist/devstack/`. */
export const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The pinned livekit-server of a source checkout (git-ignored, built by `make tools`). */
export const CHECKOUT_LIVEKIT_SERVER_BIN = join(PACKAGE_ROOT, '.tools', 'bin', 'livekit-server');

const INSTALL_SCRIPT = join(PACKAGE_ROOT, 'scripts', 'install-tools.sh');

/** A server the local stack needs is not installed and cannot be installed from here. */
export class DevToolMissingError extends Error {
  override readonly name = 'DevToolMissingError';
  constructor(
    /** The executable, e.g. `livekit-server`. */
    readonly tool: string,
    message: string,
  ) {
    super(message);
  }
}

/** True in a source checkout, where `scripts/install-tools.sh` can build or install the tools. */
export function isSourceCheckout(): boolean {
  return existsSync(INSTALL_SCRIPT);
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The first `name` on the PATH, if any. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, name);
    if (executable(candidate)) return candidate;
  }
  return undefined;
}

function installWithScript(what: 'livekit' | 'redis'): void {
  execFileSync(INSTALL_SCRIPT, [what], { stdio: 'inherit' });
}

/**
 * The livekit-server executable: `LIVEKIT_SERVER_BIN`, else the checkout's pinned build (built on
 * first use, which takes minutes), else `livekit-server` on the PATH.
 * @throws DevToolMissingError with what to install.
 */
export function locateLiveKitServer(env: NodeJS.ProcessEnv = process.env): string {
  const explicit = env.LIVEKIT_SERVER_BIN;
  if (explicit) {
    if (!executable(explicit)) {
      throw new DevToolMissingError(
        'livekit-server',
        `LIVEKIT_SERVER_BIN=${explicit} is not an executable file`,
      );
    }
    return explicit;
  }
  if (executable(CHECKOUT_LIVEKIT_SERVER_BIN)) return CHECKOUT_LIVEKIT_SERVER_BIN;
  if (isSourceCheckout()) {
    installWithScript('livekit');
    return CHECKOUT_LIVEKIT_SERVER_BIN;
  }
  const onPath = findOnPath('livekit-server', env);
  if (onPath) return onPath;
  throw new DevToolMissingError(
    'livekit-server',
    'livekit-server is not installed: install it (https://docs.livekit.io/home/self-hosting/local/) or set LIVEKIT_SERVER_BIN to its path',
  );
}

/**
 * The redis-server executable: on the PATH, else (source checkout) installed by the tools script.
 * @throws DevToolMissingError with what to install.
 */
export function locateRedisServer(env: NodeJS.ProcessEnv = process.env): string {
  const onPath = findOnPath('redis-server', env);
  if (onPath) return onPath;
  if (isSourceCheckout()) {
    installWithScript('redis');
    const installed = findOnPath('redis-server', env);
    if (installed) return installed;
  }
  throw new DevToolMissingError(
    'redis-server',
    'redis-server is not installed: install Redis (e.g. apt-get install redis-server) or put redis-server on the PATH',
  );
}
