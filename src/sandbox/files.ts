// File operations in the guest: write and read stream in pieces within each side's credit, so a file of any size
// moves in bounded memory on the wire (read collects into one Buffer, up to maxBytes). Guest paths are passed as
// given; nothing the agent answers is used as a path on this host.
import type { Readable } from 'node:stream';
import { Fields, FieldWriter, type Frame } from './codec';
import type { AgentConnection } from './connection';
import { AgentError } from './errors';
import { Channel, DATA_CHUNK, FrameType, Tag } from './protocol';
import { openReadStream, type OpenedFile } from './read-stream';
import { request, unexpected, type RequestContext } from './request';

export type FileKind = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket' | 'other';

export interface FileStat {
  kind: FileKind;
  /** Permission bits (0o7777). */
  mode: number;
  size: number;
  mtimeMs: number;
  uid: number;
  gid: number;
  /** A symbolic link's target. */
  target?: string;
}

export interface DirEntry extends FileStat {
  name: string;
}

export interface WriteOptions {
  /** Permission bits of the file (applied even when it exists); default 0o644. */
  mode?: number;
  /** Add to the end instead of replacing the contents. */
  append?: boolean;
  /** Create missing parent directories. */
  parents?: boolean;
}

export const DEFAULT_MAX_READ = 256 * 1024 * 1024;
export const DEFAULT_MAX_ENTRIES = 100_000;
const READ_WINDOW = 1 << 20;
/** Bytes of a Readable source held here at most while the agent has no credit. */
const SOURCE_HIGH = 1 << 20;

const KINDS: Record<string, FileKind> = { f: 'file', d: 'dir', l: 'symlink', c: 'char', b: 'block', p: 'fifo', s: 'socket' };

function pathFields(path: string): FieldWriter {
  if (typeof path !== 'string' || path === '' || path.includes('\0')) {
    throw new RangeError(`path: ${JSON.stringify(path)} is not a guest path (empty, or holds a NUL)`);
  }
  return new FieldWriter().bytes(Tag.PATH, path);
}

function statOf(f: Fields): FileStat {
  const kind = f.bytes(Tag.KIND);
  if (kind === undefined || kind.length !== 1) throw f.error('KIND is missing or not one byte');
  const target = f.str(Tag.TARGET, 4096);
  return {
    kind: KINDS[String.fromCharCode(kind[0]!)] ?? 'other', mode: f.requireU32(Tag.MODE) & 0o7777,
    size: f.requireU64(Tag.SIZE), mtimeMs: f.requireU64(Tag.MTIME), uid: f.requireU32(Tag.UID),
    gid: f.requireU32(Tag.GID), ...(target === undefined ? {} : { target }),
  };
}

export class AgentFiles {
  constructor(private readonly connect: () => Promise<AgentConnection>, private readonly idleMs: () => number) {}

  /** Writes `data` to the guest file at `path`; resolves with the bytes written. */
  async write(path: string, data: string | Uint8Array | Readable, opts: WriteOptions = {}): Promise<number> {
    const w = pathFields(path).u32(Tag.MODE, opts.mode ?? 0o644);
    if (opts.append) w.flag(Tag.APPEND);
    if (opts.parents) w.flag(Tag.PARENTS);
    const conn = await this.connect();
    const source = new WriteSource(data);
    return request<number>(conn, FrameType.FILE_WRITE, w.finish(), `write ${path}`, this.idleMs(),
      (frame, ctx) => source.onFrame(frame, ctx), (ctx) => source.start(ctx));
  }

  /** The guest file's contents (a regular file only). Over `maxBytes` rejects with LIMIT. */
  async read(path: string, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    const max = opts.maxBytes ?? DEFAULT_MAX_READ;
    const conn = await this.connect();
    const parts: Buffer[] = [];
    let total = 0;
    const what = `read ${path}`;
    const onFrame = (frame: Frame, ctx: RequestContext<Buffer>): void => {
      if (frame.type === FrameType.READY) {
        const size = Fields.parse(frame.payload, `READY for ${what}`).requireU64(Tag.SIZE);
        if (size > max) ctx.reject(new AgentError('LIMIT', `${what}: the file is ${size} bytes, over maxBytes (${max})`));
      } else if (frame.type === FrameType.DATA_OUT) {
        // Credit goes back as each piece arrives (it is held here, counted against maxBytes), so the agent may have
        // at most the window in flight: a piece larger than that means it ignored the credit.
        if (frame.payload.length > READ_WINDOW) {
          throw new AgentError('PROTOCOL', `the agent sent ${frame.payload.length} bytes for ${what}; only ${READ_WINDOW} were granted`);
        }
        total += frame.payload.length;
        if (total > max) return ctx.reject(new AgentError('LIMIT', `${what}: more than maxBytes (${max}) bytes`));
        parts.push(frame.payload);
        ctx.conn.sendCredit(ctx.id, Channel.OUT, frame.payload.length);
      } else if (frame.type === FrameType.DONE) {
        const sent = Fields.parse(frame.payload, `DONE for ${what}`).requireU64(Tag.SIZE);
        if (sent !== total) throw new AgentError('PROTOCOL', `the agent says it sent ${sent} bytes for ${what}; ${total} came`);
        ctx.resolve(Buffer.concat(parts, total));
      } else {
        throw unexpected(frame, what);
      }
    };
    return request<Buffer>(conn, FrameType.FILE_READ, pathFields(path).u32(Tag.WINDOW, READ_WINDOW).finish(), what,
      this.idleMs(), onFrame);
  }

  /**
   * The guest file as a Readable that the agent fills only as fast as it is read; resolves once the agent has
   * opened the file (with its size), rejects when it cannot (NOT_FOUND, FAILED, LIMIT over `maxBytes`).
   */
  async readStream(path: string, opts: { maxBytes?: number } = {}): Promise<OpenedFile> {
    pathFields(path); // a bad path throws before connecting
    const conn = await this.connect();
    return openReadStream(conn, path, { idleMs: this.idleMs(), ...(opts.maxBytes === undefined ? {} : { maxBytes: opts.maxBytes }) });
  }

  /** The guest path's metadata, not following a symbolic link. */
  async stat(path: string): Promise<FileStat> {
    const conn = await this.connect();
    const what = `stat ${path}`;
    return request<FileStat>(conn, FrameType.STAT, pathFields(path).finish(), what, this.idleMs(), (frame, ctx) => {
      if (frame.type !== FrameType.DONE) throw unexpected(frame, what);
      ctx.resolve(statOf(Fields.parse(frame.payload, `DONE for ${what}`)));
    });
  }

  /** A directory's entries (without . and ..), in the guest's order. More than `maxEntries` rejects with LIMIT. */
  async list(path: string, opts: { maxEntries?: number } = {}): Promise<DirEntry[]> {
    const max = opts.maxEntries ?? DEFAULT_MAX_ENTRIES;
    const conn = await this.connect();
    const what = `list ${path}`;
    const entries: DirEntry[] = [];
    return request<DirEntry[]>(conn, FrameType.LIST, pathFields(path).finish(), what, this.idleMs(), (frame, ctx) => {
      if (frame.type === FrameType.ENTRIES) {
        for (const raw of Fields.parse(frame.payload, `ENTRIES for ${what}`).all(Tag.ENTRY)) {
          const f = Fields.parse(raw, `entry of ${what}`);
          const name = f.str(Tag.NAME, 255 * 4);
          if (name === undefined || name === '' || name.includes('/')) throw f.error(`entry name ${JSON.stringify(name)}`);
          entries.push({ name, ...statOf(f) });
          if (entries.length > max) return ctx.reject(new AgentError('LIMIT', `${what}: more than maxEntries (${max}) entries`));
        }
      } else if (frame.type === FrameType.DONE) {
        const count = Fields.parse(frame.payload, `DONE for ${what}`).requireU32(Tag.COUNT);
        if (count !== entries.length) throw new AgentError('PROTOCOL', `the agent counted ${count} entries in ${what}; ${entries.length} came`);
        ctx.resolve(entries);
      } else {
        throw unexpected(frame, what);
      }
    });
  }

  async mkdir(path: string, opts: { mode?: number; parents?: boolean } = {}): Promise<void> {
    const w = pathFields(path).u32(Tag.MODE, opts.mode ?? 0o755);
    if (opts.parents) w.flag(Tag.PARENTS);
    await this.simple(FrameType.MKDIR, w.finish(), `mkdir ${path}`);
  }

  /** Removes a file, a link or an empty directory; `recursive` a whole tree; `force` ignores a missing path. */
  async remove(path: string, opts: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    const w = pathFields(path);
    if (opts.recursive) w.flag(Tag.RECURSIVE);
    try {
      await this.simple(FrameType.REMOVE, w.finish(), `remove ${path}`);
    } catch (e) {
      if (!(opts.force && e instanceof AgentError && e.code === 'NOT_FOUND')) throw e;
    }
  }

  private async simple(type: number, payload: Buffer, what: string): Promise<void> {
    const conn = await this.connect();
    await request<undefined>(conn, type, payload, what, this.idleMs(), (frame, ctx) => {
      if (frame.type !== FrameType.DONE) throw unexpected(frame, what);
      ctx.resolve(undefined);
    });
  }
}

/** The bytes of a write, handed out within the agent's credit; a Readable is paused while too much is held. */
class WriteSource {
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private ended = false;
  private credit = 0;
  private ready = false;
  private sent = 0;
  private eofSent = false;
  private ctx: RequestContext<number> | undefined;

  constructor(private readonly data: string | Uint8Array | Readable) {}

  start(ctx: RequestContext<number>): void {
    this.ctx = ctx;
    const d = this.data;
    if (typeof d === 'string' || d instanceof Uint8Array) {
      const b = typeof d === 'string' ? Buffer.from(d, 'utf8') : Buffer.from(d.buffer, d.byteOffset, d.length);
      if (b.length > 0) this.queue.push(b);
      this.queued = b.length;
      this.ended = true;
      return;
    }
    d.on('data', (chunk: Buffer | string) => {
      const b = typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
      this.queue.push(b);
      this.queued += b.length;
      if (this.queued > SOURCE_HIGH) d.pause();
      this.pump();
    });
    d.on('end', () => { this.ended = true; this.pump(); });
    d.on('error', (e) => ctx.reject(new AgentError('FAILED', `${ctx.what}: reading the source: ${e.message}`, undefined, { cause: e })));
  }

  onFrame(frame: Frame, ctx: RequestContext<number>): void {
    if (frame.type === FrameType.READY) {
      if (this.ready) throw new AgentError('PROTOCOL', `a second READY for ${ctx.what}`);
      this.ready = true;
      this.credit = Fields.parse(frame.payload, `READY for ${ctx.what}`).requireU32(Tag.WINDOW);
      this.pump();
    } else if (frame.type === FrameType.CREDIT) {
      if (frame.payload.length !== 5 || frame.payload[0] !== Channel.IN) {
        throw new AgentError('PROTOCOL', `the agent's CREDIT for ${ctx.what} is not 5 bytes for channel 0`);
      }
      this.credit = Math.min(this.credit + frame.payload.readUInt32LE(1), 0xffff_ffff);
      this.pump();
    } else if (frame.type === FrameType.DONE) {
      const size = Fields.parse(frame.payload, `DONE for ${ctx.what}`).requireU64(Tag.SIZE);
      if (!this.eofSent || size !== this.sent) {
        throw new AgentError('PROTOCOL', `the agent says ${size} bytes were written for ${ctx.what}; ${this.sent} were sent` +
          (this.eofSent ? '' : ' and the end not yet'));
      }
      ctx.resolve(size);
    } else {
      throw unexpected(frame, ctx.what);
    }
  }

  private pump(): void {
    const ctx = this.ctx;
    if (!this.ready || ctx === undefined || this.eofSent) return;
    while (this.queue.length > 0 && this.credit > 0) {
      const head = this.queue[0]!;
      const n = Math.min(head.length, this.credit, DATA_CHUNK);
      ctx.conn.send(FrameType.DATA_IN, ctx.id, head.subarray(0, n));
      this.credit -= n;
      this.queued -= n;
      this.sent += n;
      if (n === head.length) this.queue.shift();
      else this.queue[0] = head.subarray(n);
    }
    const d = this.data;
    if (typeof d === 'object' && !(d instanceof Uint8Array) && d.isPaused() && this.queued <= SOURCE_HIGH / 2) d.resume();
    if (this.ended && this.queue.length === 0) {
      this.eofSent = true;
      ctx.conn.send(FrameType.EOF_IN, ctx.id);
    }
  }
}
