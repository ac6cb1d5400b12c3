// AgentClient: the host's handle on one guest's agent, through the vsock device's unix socket (or, with port
// 'direct', a socket the agent itself listens on). One connection carries every request, each on its own
// stream; it is opened on first use and opened again after it was lost (the agent restarted, say), while the
// requests that were in flight on it fail with AGENT_GONE.
import { AgentConnection, type AgentInfo } from './connection';
import { collect, type ExecOptions, type ExecResult } from './exec';
import { AgentError } from './errors';
import { AgentFiles } from './files';
import { AgentProcess, type SpawnOptions } from './process';
import { DEFAULT_AGENT_PORT, FrameType } from './protocol';
import { request } from './request';

export interface AgentClientOptions {
  /** The CONNECT answer and the HELLO answer, each; default 5000 ms. */
  connectTimeoutMs?: number;
  /** A file request with no word from the agent for this long fails with TIMEOUT; default 30000 ms. */
  requestTimeoutMs?: number;
  /** Sent in HELLO; default `tsvmm`. */
  clientName?: string;
}

export interface WaitReadyOptions {
  /** Give up with TIMEOUT after this long; default 60000 ms. */
  timeoutMs?: number;
  /** Between attempts; default 100 ms. */
  intervalMs?: number;
  signal?: AbortSignal;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export class AgentClient {
  readonly files: AgentFiles;
  private connection: Promise<AgentConnection> | undefined;
  private closedByHost = false;
  private readonly connectTimeoutMs: number;
  private readonly requestTimeoutMs: number;

  constructor(readonly socketPath: string, readonly port: number | 'direct' = DEFAULT_AGENT_PORT,
    private readonly opts: AgentClientOptions = {}) {
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5000;
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
    this.files = new AgentFiles(() => this.connect(), () => this.requestTimeoutMs);
  }

  /** The open connection, dialled (and greeted) when there is none. */
  connect(): Promise<AgentConnection> {
    if (this.closedByHost) return Promise.reject(new AgentError('AGENT_GONE', 'this AgentClient was closed'));
    if (this.connection === undefined) {
      const attempt = AgentConnection.open({
        socketPath: this.socketPath, port: this.port, timeoutMs: this.connectTimeoutMs, clientName: this.opts.clientName,
      });
      this.connection = attempt;
      attempt.then((conn) => {
        conn.onClose(() => { if (this.connection === attempt) this.connection = undefined; });
        if (this.closedByHost) conn.close();
      }, () => { if (this.connection === attempt) this.connection = undefined; });
    }
    return this.connection;
  }

  /** Tries to connect until the agent answers HELLO; a refused version or a protocol error ends the wait at once. */
  async waitReady(opts: WaitReadyOptions = {}): Promise<AgentInfo> {
    const timeoutMs = opts.timeoutMs ?? 60_000;
    const deadline = Date.now() + timeoutMs;
    let last: AgentError | undefined;
    for (;;) {
      if (opts.signal?.aborted) throw new AgentError('ABORTED', 'waitReady was aborted', undefined, { cause: opts.signal.reason });
      try {
        return (await this.connect()).info;
      } catch (e) {
        if (!(e instanceof AgentError) || (e.code !== 'AGENT_GONE' && e.code !== 'TIMEOUT') || this.closedByHost) throw e;
        last = e;
      }
      if (Date.now() + (opts.intervalMs ?? 100) > deadline) {
        throw new AgentError('TIMEOUT', `the agent did not answer within ${timeoutMs} ms (waitReady timeoutMs); ` +
          `the last try: ${last.message}`, undefined, { cause: last });
      }
      await sleep(opts.intervalMs ?? 100);
    }
  }

  /** A round trip to the agent; resolves with its time in ms. */
  async ping(): Promise<number> {
    const conn = await this.connect();
    const t0 = performance.now();
    await request<undefined>(conn, FrameType.PING, Buffer.alloc(0), 'ping', this.requestTimeoutMs, (frame, ctx) => {
      if (frame.type !== FrameType.PONG) throw new AgentError('PROTOCOL', `the agent answered PING with type ${frame.type}`);
      ctx.conn.endStream(ctx.id);
      ctx.resolve(undefined);
    });
    return performance.now() - t0;
  }

  /** Starts `command` with `args` (no shell), like child_process.spawn. */
  spawn(command: string, args: readonly string[] = [], opts: SpawnOptions = {}): AgentProcess {
    return new AgentProcess([command, ...args], this.connect(), opts);
  }

  /**
   * Runs a command to its end: a string goes to `/bin/sh -c`, an array is the argv. Resolves with the exit code
   * (a non-zero one is not an error) or the signal that ended it, and the output as text (or Buffers with
   * `encoding: 'buffer'`). Rejects with NOT_FOUND (no such command), TIMEOUT, LIMIT, ABORTED or AGENT_GONE.
   */
  exec(command: string | readonly string[], opts?: ExecOptions & { encoding?: 'utf8' }): Promise<ExecResult>;
  exec(command: string | readonly string[], opts: ExecOptions & { encoding: 'buffer' }): Promise<ExecResult<Buffer>>;
  async exec(command: string | readonly string[], opts: ExecOptions & { encoding?: 'utf8' | 'buffer' } = {}):
    Promise<ExecResult | ExecResult<Buffer>> {
    const argv = typeof command === 'string' ? ['/bin/sh', '-c', command] : [...command];
    const proc = new AgentProcess(argv, this.connect(), opts);
    const r = await collect(proc, opts);
    if (opts.encoding === 'buffer') return r;
    return { ...r, stdout: r.stdout.toString('utf8'), stderr: r.stderr.toString('utf8') };
  }

  /** Closes the connection; requests in flight fail with AGENT_GONE, and later calls too. */
  close(): void {
    this.closedByHost = true;
    const c = this.connection;
    this.connection = undefined;
    void c?.then((conn) => conn.close(), () => {});
  }
}
