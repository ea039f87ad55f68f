import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * What `npm pack` ships: the build, the bin, the example configuration, README and LICENSE, and
 * nothing of the tests, bench, fixtures or sources; and the packed command runs from its build.
 */

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const work = mkdtempSync(join(tmpdir(), 'wac-pack-'));
let files: string[] = [];

before(async () => {
  // `make test` builds first; a lone run of this file builds if there is no build yet.
  if (!existsSync(join(ROOT, 'dist', 'cli', 'main.js'))) {
    await run('npm', ['run', 'build'], { cwd: ROOT });
  }
  const { stdout } = await run(
    'npm',
    ['pack', '--json', '--ignore-scripts', '--pack-destination', work],
    { cwd: ROOT, maxBuffer: 16 * 1024 * 1024 },
  );
  files = (JSON.parse(stdout) as { files: { path: string }[] }[])[0]!.files.map((f) => f.path);
});

after(() => rmSync(work, { recursive: true, force: true }));

test('the package holds the build (with the console assets), the bin, the example, README and LICENSE, and nothing else', () => {
  for (const needed of [
    'package.json',
    'README.md',
    'LICENSE',
    'bin/whatsapp-connector.js',
    'dist/cli/main.js',
    'dist/server/connector-server.js',
    'dist/room/room-leg.js',
    'dist/devstack/livekit-server.js',
    'examples/whatsapp-connector.yaml',
    // The operator console's stylesheet, page script and icon, served by `serve` from the build.
    'dist/console/assets/console.css',
    'dist/console/assets/console.js',
    'dist/console/assets/favicon.svg',
  ]) {
    assert.ok(files.includes(needed), `${needed} missing`);
  }
  const allowed =
    /^(package\.json|README\.md|LICENSE|bin\/[^/]+\.js|dist\/.+\.js|dist\/console\/assets\/[^/]+\.(css|svg)|examples\/.+)$/;
  const extra = files.filter((f) => !allowed.test(f));
  assert.deepEqual(extra, [], 'files a user does not need');
  for (const f of files) {
    assert.doesNotMatch(f, /^(src|test|bench|testbed|scripts|\.ci)\/|fixtures|\.map$|\.d\.ts$/);
  }
});

test('the packed command runs from its build: --help, and a clear configuration error', async () => {
  const tarball = readdirSync(work).find((f) => f.endsWith('.tgz'));
  assert.ok(tarball);
  await run('tar', ['-xzf', join(work, tarball), '-C', work]);
  const pkg = join(work, 'package');
  assert.equal(existsSync(join(pkg, 'src')), false);
  // Dependencies as `npm install` would provide them.
  symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
  const bin = join(pkg, 'bin', 'whatsapp-connector.js');
  const env = { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '' };
  const help = await run(process.execPath, [bin, '--help'], { env, cwd: work });
  assert.match(help.stdout, /\n {2}serve\b/);
  assert.match(help.stdout, /\n {2}dev\b/);
  const calls = await run(process.execPath, [bin, 'calls'], { env, cwd: work }).then(
    () => assert.fail('calls without configuration must fail'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(calls.code, 2);
  assert.match(calls.stderr, /LIVEKIT_API_KEY/);
});
