import { afterEach, beforeEach, mock, test } from 'node:test';
import assert from 'node:assert/strict';
import { LiveKitError } from '../../../src/livekit/livekit-errors.js';
import {
  ReconnectSupervisor,
  ResumeRefusedError,
  type RecoveryStep,
} from '../../../src/livekit/reconnect-supervisor.js';
import { settle } from './fake-signal-server.js';

/** Hooks whose outcomes the test scripts, recording every call. */
class ScriptedHooks {
  readonly calls: RecoveryStep[] = [];
  readonly signals: AbortSignal[] = [];
  #outcomes: Record<RecoveryStep, (Error | 'ok' | 'hang')[]> = { resume: [], restart: [] };

  script(step: RecoveryStep, ...outcomes: (Error | 'ok' | 'hang')[]): void {
    this.#outcomes[step].push(...outcomes);
  }

  readonly hooks = {
    resume: (signal: AbortSignal) => this.#run('resume', signal),
    restart: (signal: AbortSignal) => this.#run('restart', signal),
  };

  async #run(step: RecoveryStep, signal: AbortSignal): Promise<void> {
    this.calls.push(step);
    this.signals.push(signal);
    const outcome = this.#outcomes[step].shift() ?? 'ok';
    if (outcome === 'hang') return new Promise<void>(() => {});
    if (outcome !== 'ok') throw outcome;
  }
}

const unreachable = () => new LiveKitError('unreachable', 'ECONNREFUSED');

let hooks: ScriptedHooks;
let supervisor: ReconnectSupervisor;
let events: string[];

beforeEach(() => {
  mock.timers.enable({ apis: ['setTimeout'] });
  hooks = new ScriptedHooks();
  supervisor = new ReconnectSupervisor({
    hooks: hooks.hooks,
    deadlineMs: 10_000,
    retryDelaysMs: [0, 300, 600, 1000],
  });
  events = [];
  supervisor.on('reconnecting', () => events.push('reconnecting'));
  supervisor.on('resumed', () => events.push('resumed'));
  supervisor.on('reconnected', () => events.push('reconnected'));
  supervisor.on('failed', (err) => events.push(`failed:${err.reason}`));
});

afterEach(() => {
  supervisor.close();
  mock.timers.reset();
});

/** Advance fake time and let the hooks' promises settle. */
async function advance(ms: number): Promise<void> {
  mock.timers.tick(ms);
  await settle();
}

test('a signal loss is recovered by a resume at once', async () => {
  supervisor.lost('signal');
  await advance(0);
  assert.deepEqual(hooks.calls, ['resume']);
  assert.deepEqual(events, ['reconnecting', 'resumed']);
  assert.equal(supervisor.recovering, false);
});

test('a resume refused by the server is followed by a full reconnect at once', async () => {
  hooks.script('resume', unreachable(), new ResumeRefusedError('STATE_MISMATCH'));
  supervisor.lost('signal');
  await advance(0);
  await advance(300);
  assert.deepEqual(hooks.calls, ['resume', 'resume']);
  // The server answered: no back-off before the full reconnect.
  await advance(0);
  assert.deepEqual(hooks.calls, ['resume', 'resume', 'restart']);
  assert.deepEqual(events, ['reconnecting', 'reconnected']);
});

test('a resume that cannot reach the server is retried as a resume, with back-off', async () => {
  hooks.script('resume', unreachable(), unreachable());
  supervisor.lost('signal');
  await advance(0);
  await advance(299);
  assert.deepEqual(hooks.calls, ['resume']);
  await advance(1);
  assert.deepEqual(hooks.calls, ['resume', 'resume']);
  await advance(600);
  assert.deepEqual(hooks.calls, ['resume', 'resume', 'resume']);
  assert.deepEqual(events, ['reconnecting', 'resumed']);
});

test('a resume whose media path does not come back escalates to a full reconnect', async () => {
  hooks.script('resume', new LiveKitError('timeout', 'peer connection not ready'));
  supervisor.lost('peer');
  await advance(0);
  await advance(300);
  assert.deepEqual(hooks.calls, ['resume', 'restart']);
  assert.deepEqual(events, ['reconnecting', 'reconnected']);
});

test('a server request to reconnect skips the resume', async () => {
  supervisor.lost('server-reconnect');
  await advance(0);
  assert.deepEqual(hooks.calls, ['restart']);
  assert.deepEqual(events, ['reconnecting', 'reconnected']);
});

test('a session that never connected is not resumed', async () => {
  supervisor.lost('signal', { resumable: false });
  await advance(0);
  assert.deepEqual(hooks.calls, ['restart']);
});

test('a refused token ends the recovery at once', async () => {
  hooks.script('resume', new LiveKitError('not-allowed', 'token expired'));
  supervisor.lost('signal');
  await advance(0);
  assert.deepEqual(events, ['reconnecting', 'failed:not-allowed']);
  await advance(5000);
  assert.deepEqual(hooks.calls, ['resume']);
});

test('when the deadline passes the recovery fails once and the running attempt is aborted', async () => {
  hooks.script('resume', unreachable(), unreachable(), unreachable());
  hooks.script('restart', 'hang');
  supervisor.lost('signal');
  await advance(0);
  await advance(300);
  await advance(600);
  // Still unreachable; then the server answers but the full reconnect never finishes.
  hooks.script('resume', new ResumeRefusedError('restarted server'));
  await advance(1000);
  await advance(1000);
  assert.equal(hooks.calls.at(-1), 'restart');
  const hanging = hooks.signals.at(-1)!;
  assert.equal(hanging.aborted, false);
  await advance(10_000);
  assert.deepEqual(events, ['reconnecting', 'failed:timeout']);
  assert.equal(hanging.aborted, true);
  assert.equal(supervisor.recovering, false);
  const calls = hooks.calls.length;
  await advance(30_000);
  assert.equal(hooks.calls.length, calls);
});

test('a loss reported while an attempt runs makes that attempt count as failed', async () => {
  let release: (() => void) | undefined;
  const blocked = new Promise<void>((resolve) => (release = resolve));
  const resume = hooks.hooks.resume;
  let first = true;
  hooks.hooks.resume = async (signal) => {
    if (first) {
      first = false;
      hooks.calls.push('resume');
      await blocked;
      return;
    }
    return resume(signal);
  };
  supervisor.lost('signal');
  await advance(0);
  supervisor.lost('signal');
  release!();
  await settle();
  assert.deepEqual(events, ['reconnecting']);
  await advance(300);
  assert.deepEqual(events, ['reconnecting', 'resumed']);
});

test('after a recovery, a new loss starts a new recovery with a fresh deadline', async () => {
  supervisor.lost('signal');
  await advance(0);
  await advance(9000);
  supervisor.lost('signal');
  await advance(0);
  assert.deepEqual(events, ['reconnecting', 'resumed', 'reconnecting', 'resumed']);
});

test('close() stops a recovery without further attempts or events', async () => {
  hooks.script('resume', unreachable());
  supervisor.lost('signal');
  await advance(0);
  supervisor.close();
  await advance(5000);
  assert.deepEqual(hooks.calls, ['resume']);
  assert.deepEqual(events, ['reconnecting']);
});
