import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { StepOutcome } from './connector-compat-scenario.js';

const execFileAsync = promisify(execFile);

export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Run a repo script (e.g. an installer) and return the last line it printed (a path). */
export async function runSetupScript(script: string): Promise<string> {
  const { stdout } = await execFileAsync(script, [], {
    cwd: REPO_ROOT,
    maxBuffer: 16 * 1024 * 1024,
    timeout: 900_000,
  });
  const last = stdout.trim().split('\n').at(-1);
  if (!last) throw new Error(`${script} printed nothing`);
  return last;
}

/**
 * Run an SDK client program that prints one JSON outcome per scenario step and collect them.
 * A non-zero exit (e.g. an SDK throwing something that is not a Twirp error) fails with stderr.
 */
export async function runCompatClient(
  command: string,
  args: string[],
  env: Record<string, string>,
): Promise<StepOutcome[]> {
  try {
    const { stdout } = await execFileAsync(command, args, {
      cwd: REPO_ROOT,
      env: { ...process.env, ...env },
      maxBuffer: 16 * 1024 * 1024,
      timeout: 120_000,
    });
    return stdout
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => JSON.parse(line) as StepOutcome);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${command} failed: ${e.message}\n${e.stderr ?? ''}`);
  }
}
