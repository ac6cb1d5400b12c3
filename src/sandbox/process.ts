// A process in the guest, shaped like the ChildProcess that child_process.spawn returns: stdin is a Writable,
// stdout and stderr are Readables, kill() sends a signal, and it emits 'spawn', 'exit' (code, signal), 'close'
// (after 'exit' and the end of both outputs) and 'error' (it could not start, or the agent went away).
//
// Flow control: the agent sends at most the window this side granted per output; credit goes back as the
// Readables are read, so a consumer that stops reading stops the guest process (its pipe fills) rather than
// filling this process's memory. stdin is sent within the credit the agent grants.
import { EventEmitter } from 'node:events';
import { Readable, Writable } from 'node:stream';
import { Fields, FieldWriter, type Frame } from './codec';
import type { AgentConnection, StreamHandler } from './connection';
import { AgentError, codeForErrno } from './errors';
import { Channel, DATA_CHUNK, FrameType, frameTypeName, Tag } from './protocol';
import { signalName, signalNumber } from './signals';

export interface SpawnOptions {
  /** Set on top of the agent's base environment (PATH, HOME, and TERM with a terminal). */
  env?: Record<string, string>;
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Run on a pseudo-terminal: stdout carries both outputs, stderr stays empty. */
  pty?: boolean | { rows?: number; cols?: number };
  /** Bytes the agent may send per output before it hears back; default 256 KiB. */
  window?: number;
}

export const DEFAULT_WINDOW = 256 * 1024;
const MAX_ARGV = 4096;

/** The EXEC request's fields, checked. */
export function execFields(argv: readonly string[], opts: SpawnOptions): Buffer {
  if (argv.length === 0) throw new RangeError('command: argv is empty');
  if (argv.length > MAX_ARGV) throw new RangeError(`command: ${argv.length} arguments (at most ${MAX_ARGV})`);
  const w = new FieldWriter();
  for (const a of argv) {
    if (a.includes('\0')) throw new RangeError(`command: argument ${JSON.stringify(a)} holds a NUL`);
    w.bytes(Tag.ARG, a);
  }
  for (const [k, v] of Object.entries(opts.env ?? {})) {
    if (k === '' || k.includes('=') || k.includes('\0') || v.includes('\0')) {
      throw new RangeError(`env: ${JSON.stringify(k)} is not a variable name (or its value holds a NUL)`);
    }
    w.bytes(Tag.ENV, `${k}=${v}`);
  }
  if (opts.cwd !== undefined) w.bytes(Tag.CWD, opts.cwd);
  if (opts.uid !== undefined) w.u32(Tag.UID, opts.uid);
  if (opts.gid !== undefined) w.u32(Tag.GID, opts.gid);
  if (opts.pty) {
    const size = typeof opts.pty === 'object' ? opts.pty : {};
    w.flag(Tag.PTY).u32(Tag.ROWS, size.rows ?? 24).u32(Tag.COLS, size.cols ?? 80);
  }
  w.u32(Tag.WINDOW, opts.window ?? DEFAULT_WINDOW);
  return w.finish();
}

interface Output {
  stream: Readable;
  /** Bytes the agent may still send on this channel. */
  granted: number;
  /** Bytes read off the wire but not yet given back as credit (the Readable was full). */
  owed: number;
}

export class AgentProcess extends EventEmitter implements StreamHandler {
  readonly stdin: Writable;
  readonly stdout: Readable;
  readonly stderr: Readable;
  pid: number | undefined;
  exitCode: number | null = null;
  signalCode: NodeJS.Signals | null = null;
  /** True once a signal was sent by kill() or killGroup(). */
  killed = false;

  private conn: AgentConnection | undefined;
  private id = 0;
  private started = false;
  private ended = false;
  private readonly outputs: [Output, Output];
  private stdinCredit = 0;
  private readonly stdinQueue: { data: Buffer; done: (err?: Error | null) => void }[] = [];
  private stdinEnded = false;
  private eofSent = false;
  /** Frames asked for before the connection was there (a kill right after spawn). */
  private readonly early: [number, Buffer | undefined][] = [];
  private readonly window: number;

  constructor(readonly argv: readonly string[], connection: Promise<AgentConnection>, opts: SpawnOptions = {}) {
    super();
    const payload = execFields(argv, opts);
    this.window = opts.window ?? DEFAULT_WINDOW;
    const output = (channel: number): Output => {
      const o: Output = { granted: this.window, owed: 0, stream: new Readable({ read: () => this.giveBack(channel) }) };
      return o;
    };
    this.outputs = [output(Channel.OUT), output(Channel.ERR)];
    this.stdout = this.outputs[0].stream;
    this.stderr = this.outputs[1].stream;
    this.stdin = new Writable({
      highWaterMark: DATA_CHUNK,
      write: (chunk: Buffer, _enc, done) => {
        // After the end, input has nowhere to go: it is dropped, as a pipe whose reader exited would.
        if (this.ended) return done();
        this.stdinQueue.push({ data: chunk, done });
        this.pumpStdin();
      },
      final: (done) => { this.stdinEnded = true; this.pumpStdin(); done(); },
    });
    connection.then((conn) => this.attach(conn, payload), (err: unknown) => this.finishWithError(err instanceof AgentError
      ? err : new AgentError('AGENT_GONE', `connecting to the agent: ${String(err)}`, undefined, { cause: err })));
  }

  /** Signals the process (default SIGTERM); returns false once it has exited. */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): boolean {
    return this.signal(signal, false);
  }

  /** Signals the process's whole group (its session: it and every descendant that stayed in it). */
  killGroup(signal: NodeJS.Signals | number = 'SIGKILL'): boolean {
    return this.signal(signal, true);
  }

  /** The terminal's size, for a process started with `pty`. */
  resize(rows: number, cols: number): void {
    this.sendOrQueue(FrameType.RESIZE, new FieldWriter().u32(Tag.ROWS, rows).u32(Tag.COLS, cols).finish());
  }

  private signal(signal: NodeJS.Signals | number, group: boolean): boolean {
    const w = new FieldWriter().u32(Tag.SIGNO, signalNumber(signal));
    if (group) w.flag(Tag.GROUP);
    if (this.ended) return false;
    this.killed = true;
    this.sendOrQueue(FrameType.SIGNAL, w.finish());
    return true;
  }

  private sendOrQueue(type: number, payload: Buffer | undefined): void {
    if (this.ended) return;
    if (this.conn === undefined) this.early.push([type, payload]);
    else this.conn.send(type, this.id, payload);
  }

  private attach(conn: AgentConnection, payload: Buffer): void {
    if (this.ended) return;
    try {
      this.id = conn.openStream(this);
    } catch (e) {
      this.finishWithError(e as AgentError);
      return;
    }
    this.conn = conn;
    conn.send(FrameType.EXEC, this.id, payload);
    for (const [type, p] of this.early.splice(0)) conn.send(type, this.id, p);
  }

  onFrame(frame: Frame): void {
    const where = `${frameTypeName(frame.type)} on stream ${frame.stream}`;
    switch (frame.type) {
      case FrameType.STARTED: return this.onStarted(Fields.parse(frame.payload, where));
      case FrameType.DATA_OUT: return this.onData(0, frame.payload);
      case FrameType.DATA_ERR: return this.onData(1, frame.payload);
      case FrameType.CREDIT: return this.onCredit(frame.payload, where);
      case FrameType.EXIT: return this.onExit(Fields.parse(frame.payload, where));
      case FrameType.ERROR: return this.onError(Fields.parse(frame.payload, where));
      default: throw new AgentError('PROTOCOL', `the agent sent ${where}, which an exec stream does not carry`);
    }
  }

  onClose(err: AgentError): void {
    this.finishWithError(err);
  }

  private onStarted(f: Fields): void {
    if (this.started) throw f.error('a second STARTED');
    this.started = true;
    this.pid = f.requireU32(Tag.PID);
    this.stdinCredit = f.u32(Tag.WINDOW) ?? 0;
    this.emit('spawn');
    this.pumpStdin();
  }

  private onData(index: 0 | 1, data: Buffer): void {
    const o = this.outputs[index];
    const name = index === 0 ? 'stdout' : 'stderr';
    if (!this.started) throw new AgentError('PROTOCOL', `the agent sent ${name} data before STARTED`);
    if (data.length > o.granted) {
      throw new AgentError('PROTOCOL', `the agent sent ${data.length} bytes of ${name}; only ${o.granted} were granted`);
    }
    o.granted -= data.length;
    if (o.stream.push(data)) this.grant(index, data.length);
    else o.owed += data.length;
  }

  private giveBack(channel: number): void {
    const index = channel === Channel.OUT ? 0 : 1;
    const o = this.outputs[index];
    if (o.owed === 0) return;
    const n = o.owed;
    o.owed = 0;
    this.grant(index, n);
  }

  private grant(index: 0 | 1, n: number): void {
    if (this.ended || this.conn === undefined || n === 0) return;
    this.outputs[index].granted += n;
    this.conn.sendCredit(this.id, index === 0 ? Channel.OUT : Channel.ERR, n);
  }

  private onCredit(p: Buffer, where: string): void {
    if (p.length !== 5 || p[0] !== Channel.IN) throw new AgentError('PROTOCOL', `the agent's ${where} is not 5 bytes for channel 0`);
    this.stdinCredit = Math.min(this.stdinCredit + p.readUInt32LE(1), 0xffff_ffff);
    this.pumpStdin();
  }

  private pumpStdin(): void {
    if (!this.started || this.ended || this.conn === undefined) return;
    while (this.stdinQueue.length > 0 && this.stdinCredit > 0) {
      const head = this.stdinQueue[0]!;
      const n = Math.min(head.data.length, this.stdinCredit, DATA_CHUNK);
      this.conn.send(FrameType.DATA_IN, this.id, head.data.subarray(0, n));
      this.stdinCredit -= n;
      head.data = head.data.subarray(n);
      if (head.data.length === 0) {
        this.stdinQueue.shift();
        head.done();
      }
    }
    if (this.stdinEnded && this.stdinQueue.length === 0 && !this.eofSent) {
      this.eofSent = true;
      this.conn.send(FrameType.EOF_IN, this.id);
    }
  }

  private onExit(f: Fields): void {
    if (!this.started) throw f.error('EXIT before STARTED');
    const code = f.u32(Tag.CODE);
    const signo = f.u32(Tag.SIGNO);
    if ((code === undefined) === (signo === undefined)) throw f.error('EXIT needs exactly one of CODE and SIGNO');
    if (code !== undefined && code > 255) throw f.error(`exit code ${code} is over 255`);
    this.exitCode = code ?? null;
    this.signalCode = signo === undefined ? null : signalName(signo);
    this.end();
    this.emit('exit', this.exitCode, this.signalCode);
    this.closeAfterOutputs();
  }

  private onError(f: Fields): void {
    const errno = f.str(Tag.ERRNO, 64) ?? 'EOTHER';
    const message = f.str(Tag.MESSAGE, 4096) ?? '(no message)';
    const stage = f.str(Tag.STAGE, 64);
    const what = JSON.stringify(this.argv[0]);
    const text = stage === 'exec' && errno === 'ENOENT' ? `command not found in the guest: ${what} (${message})`
      : `cannot run ${what} in the guest: ${message}`;
    this.finishWithError(new AgentError(codeForErrno(errno), text, errno));
  }

  /** No more frames will come for this stream: outputs end, stdin writes are dropped. */
  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.conn?.endStream(this.id);
    for (const o of this.outputs) o.stream.push(null);
    for (const q of this.stdinQueue.splice(0)) q.done();
  }

  private finishWithError(err: AgentError): void {
    if (this.ended) return;
    this.end();
    this.emit('error', err);
    this.closeAfterOutputs();
  }

  private closeAfterOutputs(): void {
    // As child_process does: an output nobody consumes is drained, so 'close' still comes.
    for (const o of this.outputs) if (o.stream.readableFlowing === null) o.stream.resume();
    let open = 2;
    const ended = (): void => { if (--open === 0) this.emit('close', this.exitCode, this.signalCode); };
    for (const o of this.outputs) {
      if (o.stream.readableEnded || o.stream.destroyed) ended();
      else {
        o.stream.once('end', ended);
        o.stream.once('close', () => { if (!o.stream.readableEnded) ended(); });
      }
    }
  }
}
