/**
 * Request/response over the Node IPC channel between the bench and its child processes
 * (simulator host, room participant hosts, connector host): the bench must spread work over
 * processes so that each one's CPU can be read from the OS and rtc-node stays under ~10
 * participants per process.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

interface RpcRequest {
  rpc: number;
  method: string;
  params: unknown;
}
interface RpcResponse {
  rpc: number;
  result?: unknown;
  error?: string;
}

export type RpcHandlers = Record<string, (params: never) => unknown>;

/** In a child: answer requests with `handlers`; exits when the parent goes away. */
export function serveRpc(handlers: RpcHandlers): void {
  if (!process.send) throw new Error('bench worker must be started with an IPC channel');
  process.on('message', (msg: RpcRequest) => {
    const handler = handlers[msg.method];
    void (async () => {
      let reply: RpcResponse;
      try {
        if (!handler) throw new Error(`unknown method ${msg.method}`);
        reply = { rpc: msg.rpc, result: await handler(msg.params as never) };
      } catch (err) {
        reply = { rpc: msg.rpc, error: err instanceof Error ? err.message : String(err) };
      }
      process.send?.(reply);
    })();
  });
  process.on('disconnect', () => process.exit(0));
  process.send({ rpc: 0, result: 'ready' });
}

/** In the bench: a child process and typed calls into it. */
export class RpcChild {
  private nextId = 1;
  private readonly pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void }
  >();
  private exited = false;

  private constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    child.on('message', (msg: RpcResponse) => {
      const p = this.pending.get(msg.rpc);
      if (!p) return;
      this.pending.delete(msg.rpc);
      if (msg.error !== undefined) p.reject(new Error(`${name}: ${msg.error}`));
      else p.resolve(msg.result);
    });
    child.on('exit', (code, signal) => {
      this.exited = true;
      for (const p of this.pending.values())
        p.reject(new Error(`${name} exited (${code ?? signal})`));
      this.pending.clear();
    });
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  /** Fork `script` (a .ts file next to the bench) under tsx and wait until it serves. */
  static async start(
    name: string,
    script: URL,
    options: { env?: NodeJS.ProcessEnv; execArgv?: string[]; cwd?: string } = {},
  ): Promise<RpcChild> {
    const child = fork(fileURLToPath(script), [], {
      ...(options.cwd ? { cwd: options.cwd } : {}),
      execArgv: ['--import', 'tsx', ...(options.execArgv ?? [])],
      env: { ...process.env, ...options.env },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    await new Promise<void>((resolve, reject) => {
      const onMsg = (m: RpcResponse) => {
        if (m.rpc === 0) {
          child.off('message', onMsg);
          resolve();
        }
      };
      child.on('message', onMsg);
      child.once('exit', (code) => reject(new Error(`${name} exited during start (${code})`)));
    });
    return new RpcChild(name, child);
  }

  call<T>(method: string, params: unknown = {}, timeoutMs = 60_000): Promise<T> {
    if (this.exited) return Promise.reject(new Error(`${this.name} is not running`));
    const rpc = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(rpc);
        reject(new Error(`${this.name}.${method} timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(rpc, {
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v as T);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.child.send({ rpc, method, params } satisfies RpcRequest);
    });
  }

  /** Ask the child to exit (SIGTERM, then SIGKILL after `graceMs`). Idempotent. */
  async stop(graceMs = 5000): Promise<void> {
    if (this.exited) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await exited;
    clearTimeout(timer);
  }
}
