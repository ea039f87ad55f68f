import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ConsoleSessions } from '../../../src/console/console-sessions.js';

test('a cookie names its session only with this process’s signature', () => {
  const sessions = new ConsoleSessions();
  const { session, cookieValue } = sessions.create('devkey');
  assert.equal(sessions.verify(cookieValue)?.apiKeyId, 'devkey');
  const [id] = cookieValue.split('.');
  assert.equal(sessions.verify(`${id}.forged`), undefined);
  assert.equal(sessions.verify(id), undefined);
  assert.equal(sessions.verify(undefined), undefined);
  // Another process (another key) signs differently.
  const other = new ConsoleSessions();
  assert.equal(other.verify(cookieValue), undefined);
  assert.equal(session.id, id);
});

test('a session expires after its lifetime and is refused from then on', () => {
  let now = 0;
  const sessions = new ConsoleSessions({ ttlMs: 1000, now: () => now });
  const { cookieValue, session } = sessions.create('k');
  now = 999;
  assert.ok(sessions.verify(cookieValue));
  now = 1000;
  assert.equal(sessions.verify(cookieValue), undefined);
  assert.equal(sessions.isActive(session.id), false);
  assert.equal(sessions.ttlSeconds, 1);
});

test('sign-out revokes the session although its cookie is still validly signed', () => {
  const sessions = new ConsoleSessions();
  const { cookieValue, session } = sessions.create('k');
  sessions.revoke(session.id);
  assert.equal(sessions.verify(cookieValue), undefined);
});

test('the CSRF token is per session and must match exactly', () => {
  const sessions = new ConsoleSessions();
  const a = sessions.create('k').session;
  const b = sessions.create('k').session;
  assert.notEqual(a.csrfToken, b.csrfToken);
  assert.equal(sessions.checkCsrf(a, a.csrfToken), true);
  assert.equal(sessions.checkCsrf(a, b.csrfToken), false);
  assert.equal(sessions.checkCsrf(a, undefined), false);
  assert.equal(sessions.checkCsrf(a, ''), false);
});
