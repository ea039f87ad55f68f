/**
 * A minimal local HTTP stand-in for Meta's Graph API, for Graph client tests: records every
 * request and answers from a per-test script. It is not the simulator (src/simulator/); it has no
 * call state, it only replays what a test tells it to, over real HTTP on 127.0.0.1.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { readFileSync } from 'node:fs';

export interface RecordedRequest {
  method: string;
  /** Path and query as received. */
  url: string;
  headers: IncomingMessage['headers'];
  /** Parsed JSON body, or undefined for an empty body. */
  body: unknown;
}

export type ScriptedAnswer =
  /** Answer with this status and JSON (object) or raw (string) body. */
  | { status: number; body?: unknown }
  /** Never answer; the client must time out. */
  | { hang: true }
  /** Drop the connection without an answer. */
  | { reset: true };

export class MetaGraphStandIn {
  readonly requests: RecordedRequest[] = [];
  private readonly script: ScriptedAnswer[] = [];
  private fallback: ScriptedAnswer = { status: 500, body: { error: { message: 'unscripted' } } };
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private port = 0;

  constructor() {
    this.server = createServer((req, res) => void this.handle(req, res));
    this.server.on('connection', (s) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
  }

  async start(): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.port = (this.server.address() as AddressInfo).port;
    return this.url;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Queue answers, consumed one per request in order; afterwards `setFallback` applies. */
  answer(...answers: ScriptedAnswer[]): this {
    this.script.push(...answers);
    return this;
  }

  setFallback(answer: ScriptedAnswer): this {
    this.fallback = answer;
    return this;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    this.requests.push({
      method: req.method ?? '',
      url: req.url ?? '',
      headers: req.headers,
      body: text === '' ? undefined : (JSON.parse(text) as unknown),
    });
    const answer = this.script.shift() ?? this.fallback;
    if ('hang' in answer) return;
    if ('reset' in answer) {
      req.socket.destroy();
      return;
    }
    const payload =
      typeof answer.body === 'string' ? answer.body : JSON.stringify(answer.body ?? {});
    res
      .writeHead(answer.status, {
        'Content-Type': typeof answer.body === 'string' ? 'text/html' : 'application/json',
      })
      .end(payload);
  }
}

const FIXTURES = new URL('../../fixtures/whatsapp/graph/', import.meta.url);

/** Reads a Graph fixture (JSON) from test/fixtures/whatsapp/graph/. */
export function graphFixture(name: string): unknown {
  return JSON.parse(readFileSync(new URL(name, FIXTURES), 'utf8')) as unknown;
}
