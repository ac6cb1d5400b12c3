// POST /exec/stream: a command in the guest with its input and output streamed, both ways over one HTTP exchange.
// The request body is NDJSON: the first line is the command ({argv, env, cwd, timeoutMs, maxOutputBytes, pty,
// stdin}), then, while it runs, {stdin: base64}, {eof: true}, {signal: NAME, group?}, {resize: {rows, cols}}. The
// answer (200, NDJSON, once the command has started) is {started: {pid}}, then {stream: 'stdout' | 'stderr', data:
// base64}, and last {exit: {exitCode, signal}} or {error, code}. Output moves only as fast as the client reads it
// (the agent's credit follows this socket's), and a client that goes away takes the command's process group with it.
import type { IncomingMessage, ServerResponse } from 'node:http';
import { checkExecBody, type ExecSpec } from './exec-body';
import { ClientGone, HttpError, httpErrorOf, MAX_BODY_BYTES } from './http-json';
import { LineSplitter, ndjsonLine, parseObjectLine } from './ndjson';
import { STREAMED, type Reply, type RouteContext } from './route-kit';
import { AgentError, type AgentProcess } from '../sandbox';

export const NDJSON = 'application/x-ndjson';
/** After a kill, how long the agent has to report the end before the answer ends without it. */
const KILL_GRACE_MS = 5000;

/** The request body's lines, queued until they are asked for; paused while its consumer cannot keep up. */
class LineInput {
  private readonly queue: string[] = [];
  private readonly splitter = new LineSplitter(MAX_BODY_BYTES, 'body');
  private done = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private onLine: ((line: string) => void) | undefined;
  private onEnd: ((err?: Error) => void) | undefined;

  constructor(private readonly req: IncomingMessage) {
    req.on('data', (chunk: Buffer) => {
      try {
        for (const line of this.splitter.push(chunk)) if (line.trim() !== '') this.deliver(line);
      } catch (e) {
        this.finish(new HttpError(413, (e as Error).message));
      }
    });
    req.on('end', () => {
      this.finish(this.splitter.pending > 0 ? new HttpError(400, 'body: the last line has no newline') : undefined);
    });
    req.on('close', () => { this.finish(req.complete ? undefined : new ClientGone('the client went away')); });
  }

  private deliver(line: string): void {
    if (this.onLine) this.onLine(line);
    else this.queue.push(line);
    this.wake?.();
  }

  private finish(err?: Error): void {
    if (this.done) return;
    this.done = true;
    this.failure = err;
    this.req.pause();
    this.wake?.();
    this.onEnd?.(err);
  }

  /** The next line, or undefined at the body's end; HttpError 408 after `deadlineMs`. */
  next(deadlineMs: number, what: string): Promise<string | undefined> {
    return new Promise((resolve, reject) => {
      const check = (): boolean => {
        const line = this.queue.shift();
        if (line !== undefined) resolve(line);
        else if (this.failure) reject(this.failure);
        else if (this.done) resolve(undefined);
        else return false;
        return true;
      };
      if (check()) return;
      const timer = setTimeout(() => {
        this.wake = undefined;
        reject(new HttpError(408, `body: ${what} did not arrive within ${deadlineMs} ms`));
      }, deadlineMs);
      this.wake = () => {
        if (!check()) return;
        clearTimeout(timer);
        this.wake = undefined;
      };
    });
  }

  /** Hands every further line to `onLine` (the queued ones first), then calls `onEnd` once. */
  follow(onLine: (line: string) => void, onEnd: (err?: Error) => void): void {
    for (const line of this.queue.splice(0)) onLine(line);
    this.onLine = onLine;
    this.onEnd = onEnd;
    if (this.done) onEnd(this.failure);
  }

  pause(): void { if (!this.done) this.req.pause(); }
  resume(): void { if (!this.done) this.req.resume(); }
}

export async function execStream(ctx: RouteContext): Promise<Reply> {
  const { req, res } = ctx;
  const input = new LineInput(req);
  const first = await input.next(ctx.limits.requestMs, 'the first line (the command)');
  if (first === undefined) throw new HttpError(400, 'body: empty; its first line must be the command, as JSON');
  let body: Record<string, unknown>;
  try {
    body = parseObjectLine(first, 'body: the first line');
  } catch (e) {
    throw new HttpError(400, (e as Error).message);
  }
  const spec = checkExecBody(body, { stream: true, maxOutputBytes: Number.MAX_SAFE_INTEGER });
  const vm = ctx.controller.requireVm('run a command');
  const [command, ...args] = spec.argv;
  const proc = vm.spawn(command, args, {
    ...(spec.env ? { env: spec.env } : {}), ...(spec.cwd !== undefined ? { cwd: spec.cwd } : {}),
    ...(spec.pty ? { pty: spec.pty } : {}),
  });
  await new Relay(proc, spec, input, res).run();
  return STREAMED;
}

/**
 * Moves one process's outputs to the answer and the request's lines to the process. Its listeners go on at once:
 * the agent's first frames (STARTED, output, EXIT) may all arrive in one read, before any promise settles.
 */
class Relay {
  private spawned = false;
  private failure: Error | undefined;
  private agentError: Error | undefined;
  private readonly sizes = { stdout: 0, stderr: 0 };
  private finished = false;
  private timer: NodeJS.Timeout | undefined;
  private grace: NodeJS.Timeout | undefined;
  private settle: { resolve: () => void; reject: (e: Error) => void } | undefined;

  constructor(private readonly proc: AgentProcess, private readonly spec: ExecSpec, private readonly input: LineInput,
    private readonly res: ServerResponse) {}

  /** Resolves once the answer has ended; rejects (for a JSON error answer) when the command did not start. */
  run(): Promise<void> {
    const { proc, res } = this;
    const done = new Promise<void>((resolve, reject) => { this.settle = { resolve, reject }; });
    proc.on('spawn', () => { this.onSpawn(); });
    proc.on('error', (e: Error) => {
      if (this.spawned) this.agentError = e;
      else this.settle?.reject(e);
    });
    proc.on('close', () => { if (this.spawned) this.finish(); });
    res.on('close', () => {
      if (this.finished) return;
      proc.killGroup('SIGKILL'); // the client is gone: so is what it started
      if (this.spawned) this.finish();
      else this.settle?.reject(new ClientGone('the client went away'));
    });
    for (const name of ['stdout', 'stderr'] as const) {
      proc[name].on('data', (chunk: Buffer) => { this.output(name, chunk); });
    }
    if (!this.spec.interactive) proc.stdin.end();
    if (this.spec.timeoutMs !== undefined) {
      const ms = this.spec.timeoutMs;
      this.timer = setTimeout(() => {
        this.stop(new AgentError('TIMEOUT', `${this.what()} did not finish within ${ms} ms (timeoutMs); its process group was killed`));
      }, ms);
    }
    return done;
  }

  private onSpawn(): void {
    this.spawned = true;
    this.res.writeHead(200, { 'content-type': NDJSON, 'cache-control': 'no-store' });
    this.write({ started: { pid: this.proc.pid } });
    this.input.follow((line) => { this.control(line); }, (err) => {
      if (err instanceof HttpError) this.stop(err);
      else if (!this.proc.stdin.writableEnded) this.proc.stdin.end(); // the body's end is stdin's
    });
  }

  private what(): string {
    return JSON.stringify(this.proc.argv.join(' ').slice(0, 200));
  }

  private write(value: unknown): boolean {
    if (this.res.destroyed || this.res.writableEnded) return true;
    return this.res.write(ndjsonLine(value));
  }

  private output(name: 'stdout' | 'stderr', chunk: Buffer): void {
    if (this.failure) return;
    const cap = this.spec.maxOutputBytes;
    this.sizes[name] += chunk.length;
    if (cap !== undefined && this.sizes[name] > cap) {
      this.stop(new AgentError('LIMIT', `${this.what()} wrote more than ${cap} bytes to ${name} (maxOutputBytes); ` +
        'its process group was killed'));
      return;
    }
    if (!this.write({ stream: name, data: chunk.toString('base64') })) {
      // The client reads slower than the guest writes: hold the guest (its credit stops) until the socket drains.
      this.proc.stdout.pause();
      this.proc.stderr.pause();
      this.res.once('drain', () => { this.proc.stdout.resume(); this.proc.stderr.resume(); });
    }
  }

  private control(line: string): void {
    try {
      const msg = parseObjectLine(line, 'body: a line');
      if (typeof msg.stdin === 'string') {
        this.stdin(Buffer.from(msg.stdin, 'base64'));
      } else if (msg.eof === true) {
        this.proc.stdin.end();
      } else if (typeof msg.signal === 'string' || typeof msg.signal === 'number') {
        const sig = msg.signal as NodeJS.Signals | number;
        if (msg.group === true) this.proc.killGroup(sig);
        else this.proc.kill(sig);
      } else if (typeof msg.resize === 'object' && msg.resize !== null) {
        const { rows, cols } = msg.resize as { rows?: unknown; cols?: unknown };
        if (!isSize(rows) || !isSize(cols)) throw new TypeError('body: resize needs rows and cols, integers 1 to 65535');
        this.proc.resize(rows, cols);
      } else {
        throw new TypeError(`body: a line ${line.slice(0, 80)} is none of {stdin}, {eof}, {signal}, {resize}`);
      }
    } catch (e) {
      this.stop(new HttpError(400, (e as Error).message));
    }
  }

  private stdin(data: Buffer): void {
    if (this.proc.stdin.writableEnded || data.length === 0) return;
    if (!this.proc.stdin.write(data)) {
      this.input.pause();
      this.proc.stdin.once('drain', () => { this.input.resume(); });
    }
  }

  /** Kills the process group; the answer ends with `err` once the agent reports the end (or the grace runs out). */
  private stop(err: Error): void {
    if (this.failure || this.finished) return;
    this.failure = err;
    this.proc.killGroup('SIGKILL');
    this.grace = setTimeout(() => { this.finish(); }, KILL_GRACE_MS);
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    clearTimeout(this.timer);
    clearTimeout(this.grace);
    const err = this.failure ?? this.agentError;
    if (!this.spawned) {
      // Timed out (or cut off) before the agent said it started: nothing has been answered yet.
      this.settle?.reject(err ?? new AgentError('AGENT_GONE', `${this.what()} ended before it started`));
      return;
    }
    if (err) {
      const { status, body } = httpErrorOf(err);
      this.write({ ...body, status });
    }
    else this.write({ exit: { exitCode: this.proc.exitCode, signal: this.proc.signalCode } });
    this.res.end();
    this.settle?.resolve();
  }
}

function isSize(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}
