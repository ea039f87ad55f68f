import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CallRegistry } from '../../../src/calls/call-registry.js';
import type { MetaEndOutcome } from '../../../src/calls/meta-call-end.js';
import type { WhatsAppCall } from '../../../src/calls/whatsapp-call.js';
import { silentLogger } from '../../../src/log/index.js';
import { CallJournal } from '../../../src/recovery/call-journal.js';
import {
  openStateStore,
  StoreUnavailableError,
  TokenSealer,
  type CallStore,
} from '../../../src/store/index.js';

/** The journal against a real SQLite store (which can be made to fail) and call stand-ins. */

const root = mkdtempSync(join(tmpdir(), 'wac-journal-'));
after(() => rmSync(root, { recursive: true, force: true }));
const sealer = new TokenSealer('journal-test-secret-0123456789-abcdef');
let dirs = 0;

/** What the journal reads of a call, driven by the test. */
class FakeCall extends EventEmitter {
  state = 'accepting';
  readonly direction = 'inbound';
  readonly roomName = 'room-1';
  readonly participantIdentity = 'wa-1';
  readonly createdAt = Date.now();
  isDisconnected = false;
  #end: (outcome: MetaEndOutcome) => void = () => undefined;
  readonly #ended = new Promise<MetaEndOutcome>((resolve) => (this.#end = resolve));
  constructor(
    readonly callId: string,
    private readonly token: string,
  ) {
    super();
  }
  recoveryCredentials() {
    return { phoneNumberId: '111', accessToken: this.token, apiVersion: '24.0' };
  }
  whenEnded() {
    return this.#ended;
  }
  setState(state: string) {
    this.state = state;
    this.emit('state', state);
  }
  end(outcome: MetaEndOutcome) {
    this.setState('ended');
    this.#end(outcome);
    this.emit('ended', 'user_hangup');
  }
}

async function bed() {
  const store = await openStateStore({
    stateDir: join(root, String(++dirs)),
    redisUrl: undefined,
    cluster: { keyPrefix: '' },
  });
  let down = false;
  const unavailable = () => new StoreUnavailableError('store down (test)');
  const calls: CallStore = {
    put: async (r) => (down ? Promise.reject(unavailable()) : store.calls.put(r)),
    update: async (id, c) => (down ? Promise.reject(unavailable()) : store.calls.update(id, c)),
    remove: async (id) => (down ? Promise.reject(unavailable()) : store.calls.remove(id)),
    get: (id) => store.calls.get(id),
    listByOwner: (o) => store.calls.listByOwner(o),
    owners: () => store.calls.owners(),
    transfer: (id, f, t) => store.calls.transfer(id, f, t),
  };
  const registry = new CallRegistry();
  const journal = new CallJournal({
    registry,
    store: calls,
    sealer,
    owner: 'instance-1',
    configuredToken: (id) => (id === '111' ? 'configured-token' : undefined),
    repairIntervalMs: 50,
    logger: silentLogger,
  });
  return {
    store,
    registry,
    journal,
    setDown: (value: boolean) => void (down = value),
    add: (call: FakeCall) => registry.add(call as unknown as WhatsAppCall),
  };
}

const settle = () => new Promise((r) => setTimeout(r, 150));

test('a call is recorded when it joins the registry, follows its state, and is forgotten once ended at Meta; a client token is sealed, the configured one named', async () => {
  const b = await bed();
  const configured = new FakeCall('wacid.1', 'configured-token');
  const client = new FakeCall('wacid.2', 'client-token');
  b.add(configured);
  b.add(client);
  configured.setState('active');
  await b.journal.flush();
  const record = await b.store.calls.get('wacid.1');
  assert.equal(record?.state, 'active');
  assert.equal(record?.owner, 'instance-1');
  assert.equal(record?.roomName, 'room-1');
  assert.deepEqual(record?.token, { kind: 'configured', phoneNumberId: '111' });
  const sealed = (await b.store.calls.get('wacid.2'))?.token;
  assert.equal(sealed?.kind, 'sealed');
  assert.ok(!JSON.stringify(sealed).includes('client-token'), 'no token in clear');
  assert.equal(
    sealer.resolve('wacid.2', sealed!, () => undefined),
    'client-token',
  );

  configured.end({ kind: 'confirmed' });
  client.end({ kind: 'gave_up' });
  await settle();
  await b.journal.flush();
  assert.equal(await b.store.calls.get('wacid.1'), undefined);
  assert.ok(await b.store.calls.get('wacid.2'), 'kept: Meta never confirmed the end');
  b.journal.close();
  await b.store.close();
});

test('writes that fail while the store is down are made good once it is back', async () => {
  const b = await bed();
  b.setDown(true);
  const call = new FakeCall('wacid.3', 'configured-token');
  b.add(call);
  call.setState('active');
  await b.journal.flush();
  assert.equal(await b.store.calls.get('wacid.3'), undefined);
  b.setDown(false);
  await settle();
  await b.journal.flush();
  assert.equal((await b.store.calls.get('wacid.3'))?.state, 'active');

  b.setDown(true);
  call.end({ kind: 'confirmed' });
  await settle();
  assert.ok(await b.store.calls.get('wacid.3'), 'still there while the store is down');
  b.setDown(false);
  await settle();
  await b.journal.flush();
  assert.equal(await b.store.calls.get('wacid.3'), undefined, 'removed once the store is back');
  b.journal.close();
  await b.store.close();
});
