#!/usr/bin/env node
// CLI entry: runs the compiled build when present, otherwise the TypeScript sources through tsx.
import { existsSync } from 'node:fs';

// @livekit/rtc-node logs every signalling step at debug level unless NODE_ENV is "production";
// the service has its own structured logs, so default to production (before rtc-node loads).
process.env.NODE_ENV ??= 'production';
process.env.RUST_LOG ??= 'warn';

const dist = new URL('../dist/cli/main.js', import.meta.url);
let cli;
if (existsSync(dist)) {
  cli = await import(dist.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  cli = await import(new URL('../src/cli/main.ts', import.meta.url).href);
}
await cli.main(process.argv);
