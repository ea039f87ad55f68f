import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../src/log/index.js';
import { GracefulShutdown, type DrainableService } from '../../../src/server/graceful-shutdown.js';

/** A service whose steps are recorded, with `live` calls and steps that may never finish. */
function service(options: { live?: number; drainHangs?: boolean; closeHangs?: boolean } = {}) {
  const steps: string[] = [];
  let live = options.live ?? 0;
  const svc: DrainableService & { steps: string[]; endCall(): void } = {
    steps,
    endCall: () => void live--,
    drain: () => {
      steps.push('drain');
      return options.drainHangs ? new Promise<void>(() => undefined) : Promise.resolve();
    },
    liveCalls: () => live,
    close: () => {
      steps.push(`close with ${live} live`);
      return options.closeHangs ? new Promise<void>(() => undefined) : Promise.resolve();
    },
  };
  return svc;
}

function shutdown(svc: DrainableService, drainMs: number) {
  const exits: number[] = [];
  let done: (code: number) => void = () => undefined;
  const exited = new Promise<number>((resolve) => (done = resolve));
  const gs = new GracefulShutdown({
    service: svc,
    drainMs,
    logger: silentLogger,
    exit: (code) => {
      exits.push(code);
      done(code);
    },
    closeTimeoutMs: 300,
    drainStartTimeoutMs: 300,
  });
  return { signal: (s: string) => gs.signal(s), exited, exits };
}

test('the drain waits for the live calls to end, then closes and exits 0', async () => {
  const svc = service({ live: 2 });
  const gs = shutdown(svc, 60_000);
  gs.signal('SIGTERM');
  await new Promise((r) => setTimeout(r, 400));
  assert.deepEqual(svc.steps, ['drain'], 'nothing closed while calls are live');
  svc.endCall();
  svc.endCall();
  assert.equal(await gs.exited, 0);
  assert.deepEqual(svc.steps, ['drain', 'close with 0 live']);
});

test('past the drain time the leftovers are closed (ended at Meta by close) and the exit is 0', async () => {
  const svc = service({ live: 1 });
  const gs = shutdown(svc, 200);
  gs.signal('SIGTERM');
  assert.equal(await gs.exited, 0);
  assert.deepEqual(svc.steps, ['drain', 'close with 1 live']);
});

test('a second signal cuts the drain short', async () => {
  const svc = service({ live: 1 });
  const gs = shutdown(svc, 600_000);
  gs.signal('SIGTERM');
  await new Promise((r) => setTimeout(r, 100));
  assert.deepEqual(svc.steps, ['drain']);
  gs.signal('SIGINT');
  assert.equal(await gs.exited, 0);
  assert.deepEqual(svc.steps, ['drain', 'close with 1 live']);
  assert.deepEqual(gs.exits, [0], 'exit called once');
});

test('steps that never finish do not hang the shutdown: a stuck drain start is passed, a stuck close exits 1', async () => {
  const stuckDrain = service({ drainHangs: true });
  const a = shutdown(stuckDrain, 60_000);
  a.signal('SIGTERM');
  assert.equal(await a.exited, 0);
  assert.deepEqual(stuckDrain.steps, ['drain', 'close with 0 live']);

  const stuckClose = service({ closeHangs: true });
  const b = shutdown(stuckClose, 60_000);
  b.signal('SIGTERM');
  assert.equal(await b.exited, 1);
});
