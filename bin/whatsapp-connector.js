#!/usr/bin/env node
// CLI entry. An installed package runs its compiled build (dist/). A source checkout (src/ next to
// dist/) runs the build too when it is current, and otherwise - no build yet, or a source file
// newer than the build - runs the TypeScript sources through tsx, deliberately: a stale build must
// never stand in for the code being edited. `make build` brings the fast path back.
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

// @livekit/rtc-node logs every signalling step at debug level unless NODE_ENV is "production";
// the service has its own structured logs, so default to production (before rtc-node loads).
process.env.NODE_ENV ??= 'production';
process.env.RUST_LOG ??= 'warn';

const build = new URL('../dist/cli/main.js', import.meta.url);
const sources = fileURLToPath(new URL('../src/', import.meta.url));

/** True when some source file changed after the build was written. */
function buildIsStale(buildTimeMs) {
  for (const entry of readdirSync(sources, { recursive: true })) {
    if (!entry.endsWith('.ts')) continue;
    if (statSync(sources + entry).mtimeMs > buildTimeMs) return true;
  }
  return false;
}

let cli;
const hasBuild = existsSync(build);
if (!existsSync(sources)) {
  if (!hasBuild) {
    console.error(
      'whatsapp-connector: the build is missing (dist/cli/main.js): run "npm run build"',
    );
    process.exit(1);
  }
  cli = await import(build.href);
} else if (hasBuild && !buildIsStale(statSync(build).mtimeMs)) {
  cli = await import(build.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
await cli.main(process.argv);
