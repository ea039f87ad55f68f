/**
 * The console's HTTP behaviour on a loopback listener, with in-memory sources standing in for the
 * service (the whole stack is driven in Chromium by test/integration/browser/console-dev-stack):
 * sessions and CSRF, redirects, the live event stream, the transfer capability, the bench chart,
 * and pages whose source is absent.
 */
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallSummary } from '../../../src/calls/whatsapp-call.js';
import type { ConsoleActions, ConsoleSources } from '../../../src/console/console-sources.js';
import { OperatorConsole } from '../../../src/console/operator-console.js';
import { createLogger } from '../../../src/log/index.js';
import { HttpServer } from '../../../src/server/http-server.js';

const KEY = 'APIconsole';
const SECRET = 'a-console-test-secret-of-32-characters';
const benchDir = mkdtempSync(join(tmpdir(), 'console-bench-'));
after(() => rmSync(benchDir, { recursive: true, force: true }));

const liveCall: CallSummary = {
  callId: 'wacid.live-1',
  direction: 'inbound',
  state: 'active',
  roomName: 'support-1',
  participantIdentity: 'whatsapp_1',
  phoneNumberId: '100',
  createdAt: Date.now() - 5000,
  answeredAt: Date.now() - 4000,
  endedAt: undefined,
  endReason: undefined,
  durationSeconds: 4,
};

interface Harness {
  base: string;
  console: OperatorConsole;
  actions: { hangups: string[]; transfers: [string, string][]; operators: string[] };
  endCall(call: CallSummary): void;
  close(): Promise<void>;
}

async function start(options: { transfer?: boolean; partial?: boolean } = {}): Promise<Harness> {
  const recorded: Harness['actions'] = { hangups: [], transfers: [], operators: [] };
  const endedListeners: ((c: CallSummary) => void)[] = [];
  const actions: ConsoleActions = {
    numbers: () => ['100'],
    hangup: async (callId, operator) => {
      recorded.hangups.push(callId);
      recorded.operators.push(operator.apiKeyId);
    },
    dial: async () => ({ callId: 'wacid.dialled', roomName: 'r' }),
    ...(options.transfer
      ? {
          transfer: async (callId: string, room: string) => {
            recorded.transfers.push([callId, room]);
          },
        }
      : {}),
  };
  const sources: ConsoleSources = {
    calls: {
      list: () => [liveCall],
      quality: () => undefined,
      onEnded: (listener) => {
        endedListeners.push(listener);
        return () => undefined;
      },
    },
    actions,
    cluster: {
      selfId: 'instance-a',
      shared: false,
      instances: async () => [],
    },
    benchResultsDir: benchDir,
    ...(options.partial
      ? {}
      : {
          webhooks: { recent: () => [] },
          permissions: { list: () => [] },
        }),
  };
  const operatorConsole = new OperatorConsole({
    sources,
    apiKeys: { [KEY]: SECRET },
    instanceId: 'instance-a',
    logger: createLogger({ level: 'silent' }),
  });
  const http = new HttpServer();
  http.route('/console/', operatorConsole.handle);
  const port = await http.listen(0, '127.0.0.1');
  return {
    base: `http://127.0.0.1:${port}`,
    console: operatorConsole,
    actions: recorded,
    endCall: (call) => endedListeners.forEach((l) => l(call)),
    close: async () => {
      operatorConsole.close();
      await http.close();
    },
  };
}

function form(fields: Record<string, string>): RequestInit {
  return {
    method: 'POST',
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(fields).toString(),
    redirect: 'manual',
  };
}

/** Signs in with the key and secret; the session cookie and the page's CSRF token. */
async function signIn(h: Harness): Promise<{ cookie: string; csrf: string }> {
  const res = await fetch(`${h.base}/console/sign-in`, form({ apiKey: KEY, apiSecret: SECRET }));
  assert.equal(res.status, 303);
  const cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  const page = await (await fetch(`${h.base}/console/calls`, { headers: { cookie } })).text();
  const csrf = /name="_csrf" value="([^"]+)"/.exec(page)?.[1];
  assert.ok(csrf, 'the page carries a CSRF token');
  return { cookie, csrf };
}

function post(
  h: Harness,
  path: string,
  cookie: string,
  fields: Record<string, string>,
  origin?: string,
) {
  const init = form(fields);
  init.headers = {
    ...(init.headers as Record<string, string>),
    cookie,
    ...(origin ? { origin } : {}),
  };
  return fetch(`${h.base}${path}`, init);
}

test('an action without the session’s CSRF token, or posted from another site, is refused and does nothing', async () => {
  const h = await start();
  try {
    const { cookie, csrf } = await signIn(h);
    const path = `/console/calls/${encodeURIComponent(liveCall.callId)}/hangup`;
    assert.equal((await post(h, path, cookie, { _csrf: 'forged' })).status, 403);
    assert.equal((await post(h, path, cookie, {})).status, 403);
    const crossSite = await post(h, path, cookie, { _csrf: csrf }, 'http://evil.example');
    assert.equal(crossSite.status, 403);
    assert.deepEqual(h.actions.hangups, []);

    const ok = await post(h, path, cookie, { _csrf: csrf }, h.base);
    assert.equal(ok.status, 303);
    assert.equal(ok.headers.get('location'), '/console/calls');
    assert.deepEqual(h.actions.hangups, [liveCall.callId]);
    assert.deepEqual(h.actions.operators, [KEY]);
    // The outcome is shown once, on the next page.
    const next = await (await fetch(`${h.base}/console/calls`, { headers: { cookie } })).text();
    assert.match(next, /Call wacid.live-1 hung up\./);
    const again = await (await fetch(`${h.base}/console/calls`, { headers: { cookie } })).text();
    assert.doesNotMatch(again, /hung up\./);
  } finally {
    await h.close();
  }
});

test('after sign-in the operator lands on the page asked for, never on another site', async () => {
  const h = await start();
  try {
    const land = async (next: string) =>
      (
        await fetch(`${h.base}/console/sign-in`, form({ apiKey: KEY, apiSecret: SECRET, next }))
      ).headers.get('location');
    assert.equal(await land('/console/webhooks'), '/console/webhooks');
    assert.equal(await land('//evil.example/console/'), '/console/calls');
    assert.equal(await land('https://evil.example/'), '/console/calls');
    // A page visited without a session remembers where the operator was going.
    const res = await fetch(`${h.base}/console/ended`, { redirect: 'manual' });
    assert.equal(res.headers.get('location'), '/console/sign-in?next=%2Fconsole%2Fended');
  } finally {
    await h.close();
  }
});

test('a one-time sign-in link signs in once, then says it was used', async () => {
  const h = await start();
  try {
    const link = h.console.createSignInLink(KEY);
    const first = await fetch(`${h.base}${link}`, { redirect: 'manual' });
    assert.equal(first.status, 303);
    assert.match(first.headers.get('set-cookie') ?? '', /^wac_console=.+HttpOnly; SameSite=Strict/);
    const second = await fetch(`${h.base}${link}`, { redirect: 'manual' });
    assert.equal(second.status, 401);
    assert.match(await second.text(), /used already or has expired/);
    assert.equal(second.headers.get('set-cookie'), null);
  } finally {
    await h.close();
  }
});

test('ten refused sign-ins from one address make the next wait, with a clear message', async () => {
  const h = await start();
  try {
    for (let i = 0; i < 10; i++) {
      const res = await fetch(`${h.base}/console/sign-in`, form({ apiKey: KEY, apiSecret: 'x' }));
      assert.equal(res.status, 401);
    }
    const blocked = await fetch(
      `${h.base}/console/sign-in`,
      form({ apiKey: KEY, apiSecret: SECRET }),
    );
    assert.equal(blocked.status, 429);
    assert.match(
      await blocked.text(),
      /Too many refused sign-ins from your address: try again in \d+ s/,
    );
  } finally {
    await h.close();
  }
});

test('the live stream sends the calls every second and ends when the session signs out', async () => {
  const h = await start();
  try {
    const { cookie, csrf } = await signIn(h);
    const res = await fetch(`${h.base}/console/calls/live`, { headers: { cookie } });
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let text = '';
    const readUntil = async (pattern: RegExp) => {
      while (!pattern.test(text)) {
        const { value, done } = await reader.read();
        if (done) return;
        text += decoder.decode(value);
      }
    };
    await readUntil(/event: calls\ndata: (.+)\n\n/);
    const update = JSON.parse(/event: calls\ndata: (.+)\n\n/.exec(text)![1]!) as {
      count: number;
      rows: { id: string; cells: Record<string, string> }[];
    };
    assert.equal(update.count, 1);
    assert.equal(update.rows[0]!.id, liveCall.callId);
    assert.deepEqual(Object.keys(update.rows[0]!.cells).sort(), [
      'duration',
      'received',
      'sent',
      'state',
      'trend',
    ]);
    await post(h, '/console/sign-out', cookie, { _csrf: csrf });
    await readUntil(/event: signed-out/);
    assert.match(text, /event: signed-out/);
    assert.equal((await reader.read()).done, true, 'the stream ended');
  } finally {
    await h.close();
  }
});

test('transfer is disabled with its reason until the backend offers it; then the form moves the call', async () => {
  const without = await start();
  try {
    const { cookie, csrf } = await signIn(without);
    const page = await (
      await fetch(`${without.base}/console/calls`, { headers: { cookie } })
    ).text();
    assert.match(
      page,
      /<button[^>]*disabled[^>]*aria-describedby="transfer-note"[^>]*>\s*Transfer/,
    );
    assert.match(page, /id="transfer-note"[^>]*>Transfer: not available on this connector yet/);
    const path = `/console/calls/${encodeURIComponent(liveCall.callId)}/transfer`;
    await post(without, path, cookie, { _csrf: csrf, room: 'elsewhere' });
    const next = await (
      await fetch(`${without.base}/console/calls`, { headers: { cookie } })
    ).text();
    assert.match(next, /Transfer is not available on this connector yet/);
  } finally {
    await without.close();
  }
  const withTransfer = await start({ transfer: true });
  try {
    const { cookie, csrf } = await signIn(withTransfer);
    const page = await (
      await fetch(`${withTransfer.base}/console/calls`, { headers: { cookie } })
    ).text();
    assert.doesNotMatch(page, /transfer-note/);
    assert.match(page, /action="\/console\/calls\/wacid\.live-1\/transfer"/);
    const path = `/console/calls/${encodeURIComponent(liveCall.callId)}/transfer`;
    assert.equal(
      (await post(withTransfer, path, cookie, { _csrf: csrf, room: 'sales' })).status,
      303,
    );
    assert.deepEqual(withTransfer.actions.transfers, [[liveCall.callId, 'sales']]);
  } finally {
    await withTransfer.close();
  }
});

test('the benchmark page shows the newest chart of the results directory, or how to make one', async () => {
  const h = await start();
  try {
    const { cookie } = await signIn(h);
    const none = await (await fetch(`${h.base}/console/bench`, { headers: { cookie } })).text();
    assert.match(none, /No benchmark chart yet/);
    assert.match(none, /Run <code>make bench<\/code>/);
    assert.equal(
      (await fetch(`${h.base}/console/bench/chart.svg`, { headers: { cookie } })).status,
      404,
    );

    writeFileSync(
      join(benchDir, 'bench-old.svg'),
      '<svg xmlns="http://www.w3.org/2000/svg" id="old"/>',
    );
    writeFileSync(
      join(benchDir, 'bench-new.svg'),
      '<svg xmlns="http://www.w3.org/2000/svg" id="new"/>',
    );
    writeFileSync(join(benchDir, 'bench-new.json'), '{}');
    utimesSync(join(benchDir, 'bench-old.svg'), new Date(1000), new Date(1000));
    const page = await (await fetch(`${h.base}/console/bench`, { headers: { cookie } })).text();
    assert.match(page, /bench-new\.svg/);
    assert.match(page, /<img\s+src="\/console\/bench\/chart\.svg"/);
    const chart = await fetch(`${h.base}/console/bench/chart.svg`, { headers: { cookie } });
    assert.equal(chart.headers.get('content-type'), 'image/svg+xml');
    assert.match(chart.headers.get('content-security-policy') ?? '', /sandbox/);
    assert.match(await chart.text(), /id="new"/);
  } finally {
    await h.close();
  }
});

test('pages whose source is absent say so instead of failing', async () => {
  const h = await start({ partial: true });
  try {
    const { cookie } = await signIn(h);
    const webhooks = await fetch(`${h.base}/console/webhooks`, { headers: { cookie } });
    assert.equal(webhooks.status, 200);
    const text = await webhooks.text();
    assert.match(text, /This instance has no webhook gateway/);
    assert.match(text, /No state store is in use on this instance/);
    assert.match(text, /Forwarding is off/);
    const permissions = await (
      await fetch(`${h.base}/console/permissions`, { headers: { cookie } })
    ).text();
    assert.match(permissions, /no webhook gateway, so it sees no permission replies/);
    assert.doesNotMatch(permissions, /Ask Meta/);
    const cluster = await (
      await fetch(`${h.base}/console/cluster`, { headers: { cookie } })
    ).text();
    assert.match(cluster, /Without <code>REDIS_URL<\/code> this instance works alone/);
  } finally {
    await h.close();
  }
});

test('an ended call is listed with its reason, newest first', async () => {
  const h = await start();
  try {
    const { cookie } = await signIn(h);
    h.endCall({
      ...liveCall,
      callId: 'wacid.a',
      state: 'ended',
      endedAt: 1,
      endReason: 'rejected',
    });
    h.endCall({
      ...liveCall,
      callId: 'wacid.b',
      state: 'ended',
      endedAt: 2,
      endReason: 'user_hangup',
    });
    const page = await (await fetch(`${h.base}/console/ended`, { headers: { cookie } })).text();
    const order = [...page.matchAll(/data-call-id="([^"]+)"/g)].map((m) => m[1]);
    assert.deepEqual(order, ['wacid.b', 'wacid.a']);
    assert.match(page, /<code>rejected<\/code> — the user declined the call/);
  } finally {
    await h.close();
  }
});

test('every console response forbids framing and anything from another origin', async () => {
  const h = await start();
  try {
    for (const path of [
      '/console/sign-in',
      '/console/assets/console.css',
      '/console/assets/console.js',
    ]) {
      const res = await fetch(`${h.base}${path}`);
      assert.equal(res.status, 200, path);
      const csp = res.headers.get('content-security-policy') ?? '';
      assert.match(csp, /default-src 'none'/, path);
      assert.match(csp, /frame-ancestors 'none'/, path);
      assert.equal(res.headers.get('x-content-type-options'), 'nosniff', path);
    }
    const html = await (await fetch(`${h.base}/console/sign-in`)).text();
    assert.doesNotMatch(html, /(src|href)="(https?:)?\/\//, 'no outside URL in the page');
    assert.equal((await fetch(`${h.base}/console/assets/../../etc/passwd`)).status, 404);
  } finally {
    await h.close();
  }
});
