// VmClient.spawn(): a process in the guest of a machine served on a control socket, through POST /exec/stream,
// shaped like the AgentProcess of an in-process Vm (and so like child_process.spawn's ChildProcess): stdin,
// stdout, stderr streams, kill(), killGroup(), resize(), events 'spawn', 'exit', 'close', 'error'. Output is
// taken from the socket only as fast as stdout and stderr are read.
import { EventEmitter } from 'node:events';
import * as http from 'node:http';
import { Readable, Writable } from 'node:stream';
import { ApiClientError, answerError } from './client-error';
import { LineSplitter, ndjsonLine, parseObjectLine } from './ndjson';
import { readAll } from './remote-files';

export interface RemoteSpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** The server kills the process group and ends with TIMEOUT after this long. */
  timeoutMs?: number;
  /** Per output: past it the server kills the process group and ends with LIMIT. Default: no cap. */
  maxOutputBytes?: number;
  /** A pseudo-terminal: stdout carries both outputs. */
  pty?: boolean | { rows?: number; cols?: number };
}

/** Bytes of stdin per line: base64 of it stays well under the server's 1 MiB line limit. */
const STDIN_PIECE = 512 * 1024;
/** The longest answer line accepted: a base64 output chunk of the agent's (64 KiB) with room to spare. */
const MAX_ANSWER_LINE = 4 << 20;

export class RemoteProcess extends EventEmitter {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  private readonly req: http.ClientRequest;
  private res: http.IncomingMessage | undefined;
  private ended = false;
  private closed = false;
  private failure: ApiClientError | undefined;
  private readonly what: string;

  constructor(socketPath: string, readonly argv: readonly string[], opts: RemoteSpawnOptions = {}) {
    super();
    this.what = `POST /exec/stream ${JSON.stringify(argv.join(' ').slice(0, 200))}`;
    const resume = (): void => { this.res?.resume(); };
    this.stdout = new Readable({ read: resume });
    this.stderr = new Readable({ read: resume });
    this.stdin = new Writable({
      write: (chunk: Buffer, _enc, done) => { this.sendStdin(chunk, done); },
      final: (done) => { this.send({ eof: true }); done(); },
    });
    this.req = http.request({
      socketPath, path: '/exec/stream', method: 'POST', agent: false,
      headers: { 'content-type': 'application/x-ndjson', 'transfer-encoding': 'chunked' },
    }, (res) => { this.onResponse(res); });
    this.req.on('error', (e: NodeJS.ErrnoException) => {
      // After the answer's end the server closes the connection; a write crossing that is nobody's failure.
      if (!this.ended) this.finish(new ApiClientError(0, `${this.what}: ${e.code ?? e.message}`, undefined, e.code));
    });
    const pty = opts.pty === true ? {} : typeof opts.pty === 'object' ? opts.pty : undefined;
    this.req.write(ndjsonLine({
      argv, stdin: true, ...(opts.env ? { env: opts.env } : {}), ...(opts.cwd !== undefined ? { cwd: opts.cwd } : {}),
      ...(opts.timeoutMs !== undefined ? { timeoutMs: opts.timeoutMs } : {}),
      ...(opts.maxOutputBytes !== undefined ? { maxOutputBytes: opts.maxOutputBytes } : {}),
      ...(pty ? { pty: { rows: pty.rows ?? 24, cols: pty.cols ?? 80 } } : {}),
    }));
  }

  /** Signals the process (default SIGTERM); false once it has ended. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    return this.send({ signal });
  }

  /** Signals its whole process group (default SIGKILL). */
  killGroup(signal: NodeJS.Signals | number = 'SIGKILL'): boolean {
    return this.send({ signal, group: true });
  }

  /** The terminal's size, for a process started with `pty`. */
  resize(rows: number, cols: number): void {
    this.send({ resize: { rows, cols } });
  }

  private send(line: unknown, done?: () => void): boolean {
    if (this.ended || this.req.destroyed) {
      done?.();
      return false;
    }
    if (this.req.write(ndjsonLine(line)) || done === undefined) done?.();
    else this.req.once('drain', done);
    return true;
  }

  private sendStdin(chunk: Buffer, done: (err?: Error | null) => void): void {
    let off = 0;
    const next = (): void => {
      if (off >= chunk.length) { done(); return; }
      const piece = chunk.subarray(off, off + STDIN_PIECE);
      off += piece.length;
      this.send({ stdin: piece.toString('base64') }, next);
    };
    next();
  }

  private onResponse(res: http.IncomingMessage): void {
    this.res = res;
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      readAll(res, 1 << 20).then((body) => { this.finish(answerError(status, body.toString('utf8'), this.what)); },
        () => { this.finish(new ApiClientError(status, `${this.what}: HTTP ${status}`)); });
      return;
    }
    const lines = new LineSplitter(MAX_ANSWER_LINE, this.what);
    res.on('data', (chunk: Buffer) => {
      try {
        for (const line of lines.push(chunk)) this.onLine(parseObjectLine(line, `${this.what}: an answer line`));
      } catch (e) {
        this.finish(new ApiClientError(0, (e as Error).message));
        res.destroy();
      }
    });
    res.on('error', (e) => { this.finish(new ApiClientError(0, `${this.what}: the answer was cut off (${e.message})`)); });
    res.on('end', () => { this.finish(); });
  }

  private onLine(msg: Record<string, unknown>): void {
    if (typeof msg.stream === 'string' && typeof msg.data === 'string') {
      const out = msg.stream === 'stderr' ? this.stderr : this.stdout;
      if (!out.push(Buffer.from(msg.data, 'base64'))) this.res?.pause();
    } else if (typeof msg.started === 'object' && msg.started !== null) {
      const pid = (msg.started as { pid?: unknown }).pid;
      this.pid = typeof pid === 'number' ? pid : undefined;
      this.emit('spawn');
    } else if (typeof msg.exit === 'object' && msg.exit !== null) {
      const exit = msg.exit as { exitCode?: unknown; signal?: unknown };
      this.exitCode = typeof exit.exitCode === 'number' ? exit.exitCode : null;
      this.signalCode = typeof exit.signal === 'string' ? exit.signal as NodeJS.Signals : null;
      this.ended = true;
      this.emit('exit', this.exitCode, this.signalCode);
    } else if (typeof msg.error === 'string') {
      this.failure = answerError(typeof msg.status === 'number' ? msg.status : 500, msg, this.what);
    }
  }

  /** The answer ended (or failed): the outputs end, then 'error' if there was one, then 'close'. */
  private finish(err?: ApiClientError): void {
    if (this.closed) return;
    this.closed = true;
    const failure = err ?? this.failure ??
      (this.ended ? undefined : new ApiClientError(0, `${this.what}: the answer ended before the command did`));
    this.ended = true;
    this.req.end();
    this.stdout.push(null);
    this.stderr.push(null);
    if (failure) this.emit('error', failure);
    let open = 2;
    const closed = (): void => { if (--open === 0) this.emit('close', this.exitCode, this.signalCode); };
    for (const o of [this.stdout, this.stderr]) {
      // As child_process does: an output nobody reads is drained, so 'close' still comes.
      if (o.readableFlowing === null) o.resume();
      o.once('end', closed);
    }
  }
}
