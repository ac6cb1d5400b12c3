// A guest file as a Readable: the agent sends within the credit this side grants, and credit goes back only as
// the consumer reads, so a slow consumer (an HTTP client, a disk) slows the agent instead of filling memory here.
// The promise resolves once the agent has opened the file and said its size; errors after that destroy the stream.
import { Readable } from 'node:stream';
import { Fields, FieldWriter, type Frame } from './codec';
import type { AgentConnection, StreamHandler } from './connection';
import { AgentError, codeForErrno } from './errors';
import { Channel, FrameType, Tag } from './protocol';
import { unexpected } from './request';

export interface ReadStreamOptions {
  /** A file larger than this fails with LIMIT before any of it is sent; default 256 MiB. */
  maxBytes?: number;
  /** With credit outstanding, no frame from the agent for this long fails with TIMEOUT. */
  idleMs: number;
}

export interface OpenedFile {
  /** The size the agent found when it opened the file. */
  size: number;
  /** Permission bits. */
  mode: number;
  stream: Readable;
}

const WINDOW = 1 << 20;

export function openReadStream(conn: AgentConnection, path: string, opts: ReadStreamOptions): Promise<OpenedFile> {
  return new Promise((resolve, reject) => { new ReadStream(conn, path, opts, resolve, reject).start(); });
}

class ReadStream implements StreamHandler {
  private readonly what: string;
  private readonly stream: Readable;
  private id = 0;
  private opened = false;
  /** The agent's last frame for this stream came (DONE or ERROR): nothing is owed either way. */
  private finished = false;
  private cancelled = false;
  private granted = WINDOW;
  private owed = 0;
  private received = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly payload: Buffer;

  constructor(private readonly conn: AgentConnection, path: string, private readonly opts: ReadStreamOptions,
    private readonly onOpen: (f: OpenedFile) => void, private readonly onFail: (e: AgentError) => void) {
    this.what = `read ${path}`;
    this.stream = new Readable({
      highWaterMark: WINDOW,
      read: () => { this.giveBack(); },
      destroy: (err, done) => { this.cancel(); done(err); },
    });
    this.payload = new FieldWriter().bytes(Tag.PATH, path).u32(Tag.WINDOW, WINDOW).finish();
  }

  start(): void {
    try {
      this.id = this.conn.openStream(this);
    } catch (e) {
      this.onFail(e as AgentError);
      return;
    }
    this.conn.send(FrameType.FILE_READ, this.id, this.payload);
    this.arm();
  }

  onFrame(frame: Frame): void {
    if (this.cancelled) {
      if (frame.type === FrameType.DONE || frame.type === FrameType.ERROR) this.end();
      return;
    }
    this.arm();
    if (frame.type === FrameType.READY) this.onReady(frame);
    else if (frame.type === FrameType.DATA_OUT) this.onData(frame.payload);
    else if (frame.type === FrameType.DONE) this.onDone(frame);
    else if (frame.type === FrameType.ERROR) this.onError(frame);
    else throw unexpected(frame, this.what);
  }

  private onError(frame: Frame): void {
    this.end();
    const f = Fields.parse(frame.payload, `ERROR for ${this.what}`);
    const errno = f.str(Tag.ERRNO, 64) ?? 'EOTHER';
    this.fail(new AgentError(codeForErrno(errno), `${this.what}: ${f.str(Tag.MESSAGE, 4096) ?? errno}`, errno));
  }

  onClose(err: AgentError): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.fail(new AgentError(err.code, `${this.what}: ${err.message}`, err.guestErrno, { cause: err }));
  }

  private onReady(frame: Frame): void {
    if (this.opened) throw new AgentError('PROTOCOL', `a second READY for ${this.what}`);
    const f = Fields.parse(frame.payload, `READY for ${this.what}`);
    const size = f.requireU64(Tag.SIZE);
    const max = this.opts.maxBytes ?? 256 * 1024 * 1024;
    if (size > max) {
      this.fail(new AgentError('LIMIT', `${this.what}: the file is ${size} bytes, over maxBytes (${max})`));
      this.cancel();
      return;
    }
    this.opened = true;
    this.onOpen({ size, mode: (f.u32(Tag.MODE) ?? 0) & 0o7777, stream: this.stream });
  }

  private onData(data: Buffer): void {
    if (!this.opened) throw new AgentError('PROTOCOL', `the agent sent data for ${this.what} before READY`);
    if (data.length > this.granted) {
      throw new AgentError('PROTOCOL', `the agent sent ${data.length} bytes for ${this.what}; only ${this.granted} were granted`);
    }
    this.granted -= data.length;
    this.received += data.length;
    if (this.stream.push(data)) this.grant(data.length);
    else this.owed += data.length;
  }

  private onDone(frame: Frame): void {
    const sent = Fields.parse(frame.payload, `DONE for ${this.what}`).requireU64(Tag.SIZE);
    if (!this.opened) throw new AgentError('PROTOCOL', `the agent ended ${this.what} before READY`);
    if (sent !== this.received) {
      throw new AgentError('PROTOCOL', `the agent says it sent ${sent} bytes for ${this.what}; ${this.received} came`);
    }
    this.end();
    this.stream.push(null);
  }

  private giveBack(): void {
    if (this.owed === 0) return;
    const n = this.owed;
    this.owed = 0;
    this.grant(n);
  }

  private grant(n: number): void {
    if (this.finished || this.cancelled) return;
    this.granted += n;
    this.conn.sendCredit(this.id, Channel.OUT, n);
    this.arm();
  }

  /** The idle timer runs only while the agent owes frames: with no credit out, silence is the consumer's doing. */
  private arm(): void {
    clearTimeout(this.timer);
    if (this.finished || this.cancelled || (this.opened && this.granted === 0)) return;
    this.timer = setTimeout(() => {
      this.fail(new AgentError('TIMEOUT', `${this.what}: the agent sent nothing for ${this.opts.idleMs} ms (requestTimeoutMs)`));
      this.cancel();
    }, this.opts.idleMs);
  }

  private fail(err: AgentError): void {
    if (this.opened) this.stream.destroy(err);
    else this.onFail(err);
  }

  /** Abandons the read: the agent ends it with an ERROR (ECANCELED) or a DONE that crossed the cancel. */
  private cancel(): void {
    clearTimeout(this.timer);
    if (this.finished || this.cancelled || this.id === 0) return;
    this.cancelled = true;
    this.conn.send(FrameType.CANCEL, this.id);
  }

  private end(): void {
    this.finished = true;
    clearTimeout(this.timer);
    this.conn.endStream(this.id);
  }
}
