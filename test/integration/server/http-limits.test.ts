import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { request } from 'node:http';
import { connect, type Socket } from 'node:net';
import { ConnectorMetrics } from '../../../src/metrics/index.js';
import { HttpServer, readBody } from '../../../src/server/http-server.js';

/**
 * The limits of one listener against real sockets: connection cap, time to send a request, and
 * body caps checked before reading (declared) and while reading (chunked).
 */

const CAP = 1000;
let server: HttpServer;
let metrics: ConnectorMetrics;
const echoed: number[] = [];

before(async () => {
  metrics = new ConnectorMetrics({ processMetrics: false });
  server = new HttpServer({
    name: 'public',
    maxConnections: 16,
    headersTimeoutMs: 500,
    requestTimeoutMs: 1000,
    metrics,
  });
  server.route(
    '/echo',
    async (req, res) => {
      const body = await readBody(req);
      echoed.push(body.length);
      res.end(`got ${body.length}`);
    },
    { maxBodyBytes: CAP },
  );
  server.route('/ping', (_req, res) => void res.end('pong'));
  // Answers without reading the body, as the Twirp endpoint does when authentication fails.
  server.route('/refuse', (_req, res) => void res.writeHead(401).end('refused'), {
    maxBodyBytes: CAP,
  });
  await server.listen(0, '127.0.0.1');
});

after(() => server.close());

/** A raw connection that sends `text` and collects what comes back until the server closes. */
function raw(text: string): { socket: Socket; closed: Promise<string> } {
  const socket = connect(server.port, '127.0.0.1');
  socket.write(text);
  let answer = '';
  socket.on('data', (d: Buffer) => (answer += d.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<string>((resolve) => socket.on('close', () => resolve(answer)));
  return { socket, closed };
}

async function metric(name: string): Promise<number> {
  const text = await metrics.scrape();
  const line = text.split('\n').find((l) => l.startsWith(name));
  return line ? Number(line.split(' ').pop()) : 0;
}

test('a body declared larger than the cap is refused with 413 before a byte of it is read', async () => {
  const before = await metric('whatsapp_connector_http_bodies_too_large_total{listener="public"}');
  // Headers only: the server must answer without waiting for the 5 MB it was promised.
  const { closed } = raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5000000\r\n\r\n');
  const answer = await closed;
  assert.match(answer, /^HTTP\/1\.1 413 /);
  assert.match(answer, /Connection: close/i);
  assert.match(answer, /\/echo accepts at most 1000 bytes, got 5000000 bytes/);
  assert.equal(
    await metric('whatsapp_connector_http_bodies_too_large_total{listener="public"}'),
    before + 1,
  );
});

test('a chunked body is counted while it is read and refused with 413 once past the cap', async () => {
  const answer = await new Promise<{ status: number; body: string; connection: string }>(
    (resolve, reject) => {
      const req = request(`http://127.0.0.1:${server.port}/echo`, {
        method: 'POST',
        headers: { 'Transfer-Encoding': 'chunked' },
      });
      req.on('response', (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body,
            connection: String(res.headers.connection),
          }),
        );
      });
      req.on('error', reject);
      for (let i = 0; i < 30; i++) req.write(Buffer.alloc(100, 0x61));
      req.end();
    },
  );
  assert.equal(answer.status, 413);
  assert.equal(answer.connection, 'close');
  assert.match(answer.body, /accepts at most 1000 bytes/);
  // A body within the cap still goes through, chunked or not.
  const ok = await fetch(`http://127.0.0.1:${server.port}/echo`, {
    method: 'POST',
    body: Buffer.alloc(CAP, 0x62),
  });
  assert.equal(await ok.text(), `got ${CAP}`);
});

test('a client that sends its body too slowly gets 408 and is disconnected', async () => {
  const started = Date.now();
  const { socket, closed } = raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nab');
  const answer = await closed;
  assert.match(answer, /^HTTP\/1\.1 408 /);
  // Bounded by the request timeout (1 s) and the checking period (1 s), with margin for load.
  assert.ok(Date.now() - started < 10_000);
  socket.destroy();
});

test('a client that never finishes its headers is disconnected', async () => {
  const { closed } = raw('GET /ping HTTP/1.1\r\nHost: x\r\n');
  assert.match(await closed, /^HTTP\/1\.1 408 /);
});

test('connections past the cap are dropped at accept; the listener serves again once one closes', async () => {
  // A listener of its own, so no other test's keep-alive connection counts against the cap.
  const capped = new ConnectorMetrics({ processMetrics: false });
  const listener = new HttpServer({ name: 'internal', maxConnections: 2, metrics: capped });
  listener.route('/ping', (_req, res) => void res.end('pong'));
  capped.watchListener(listener);
  const port = await listener.listen(0, '127.0.0.1');
  const open = (): Promise<Socket> => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    return new Promise((resolve) => socket.once('connect', () => resolve(socket)));
  };
  try {
    const held = [await open(), await open()];
    await new Promise((r) => setTimeout(r, 100));
    const extra = await open();
    let answer = '';
    extra.on('data', (d: Buffer) => (answer += d.toString()));
    extra.write('GET /ping HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((resolve) => extra.once('close', resolve));
    assert.equal(answer, '', 'the third connection was closed without an answer');
    const text = await capped.scrape();
    assert.match(
      text,
      /whatsapp_connector_http_connections_dropped_total\{listener="internal"\} 1/,
    );
    assert.match(text, /whatsapp_connector_http_open_connections\{listener="internal"\} 2/);
    for (const s of held) s.destroy();
    await new Promise((r) => setTimeout(r, 100));
    const res = await fetch(`http://127.0.0.1:${port}/ping`, { headers: { Connection: 'close' } });
    assert.equal(await res.text(), 'pong');
  } finally {
    await listener.close();
  }
});

test('stalled uploads do not keep other requests from being served', async () => {
  // Three slow clients (well under the cap) stall mid-body; a normal request still answers.
  const stalled = Array.from({ length: 3 }, () =>
    raw('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 900\r\n\r\npartial'),
  );
  const res = await fetch(`http://127.0.0.1:${server.port}/ping`);
  assert.equal(await res.text(), 'pong');
  for (const s of stalled) assert.match(await s.closed, /^HTTP\/1\.1 408 /);
});

test('readBody needs a cap from its caller or the route', async () => {
  const bare = new HttpServer();
  bare.route('/nocap', async (req, res) => {
    await readBody(req);
    res.end('read');
  });
  await bare.listen(0, '127.0.0.1');
  try {
    const res = await fetch(`http://127.0.0.1:${bare.port}/nocap`, { method: 'POST', body: 'x' });
    assert.equal(res.status, 500);
  } finally {
    await bare.close();
  }
});

test('an answer sent before a small body was read keeps the connection usable for the next request', async () => {
  const body = 'x'.repeat(32);
  const request = (path: string) =>
    `POST ${path} HTTP/1.1\r\nHost: t\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  // Both requests on one connection: the second is answered only if the first one's unread body
  // was drained rather than the connection closed (a close with unread bytes resets it).
  const { socket, closed } = raw(request('/refuse') + request('/echo'));
  const answer = await new Promise<string>((resolve) => {
    let text = '';
    socket.on('data', (d: Buffer) => {
      text += d.toString('latin1');
      if (text.includes(`got ${body.length}`)) resolve(text);
    });
    void closed.then(() => resolve(text));
  });
  socket.destroy();
  assert.match(answer, /^HTTP\/1\.1 401 /);
  assert.match(answer, /HTTP\/1\.1 200 [\s\S]*got 32/);
});
