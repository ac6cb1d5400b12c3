// A small FUSE client for tests: encodes requests the way Linux's virtio-fs driver lays them out (fuse_in_header
// + arguments readable, fuse_out_header + reply writable), sends them through the mock driver to an FsDevice over
// a temporary host directory, and decodes the replies. It can also send what no kernel would.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsDevice } from '../../../src/devices/fs/device';
import { OP, S_IFREG } from '../../../src/devices/fs/protocol';
import type { SessionLimits } from '../../../src/devices/fs/session';
import type { DeviceContext } from '../../../src/virtio-mmio/device';
import type { Virtqueue } from '../../../src/virtio-mmio/queue';
import { GuestMemory } from '../../../src/base/guest-memory';
import { F_WRITE, MockDriver, type Desc } from '../../virtio-mmio/mock-driver';

const MEM_BYTES = 6 << 20;
/** Per queue, in one guest memory: where its rings start (MockDriver's base), its request bytes, its reply room. */
const LAYOUT = [
  { base: 0, in: 0x8000, out: 0x10000, end: 0x100000 },
  { base: 0x4000, in: 0x100000, out: 0x200000, end: MEM_BYTES },
] as const;
export const ROOT = 1n;
/** Bytes after the writable room filled with GUARD_BYTE before each call, to catch writes past it. */
const GUARD = 64;
export const GUARD_BYTE = 0xee;

export type Field = ['u16' | 'u32' | 'u64', number | bigint] | Uint8Array | string;

/** Packs fields little-endian; strings get their NUL. */
export function pack(...fields: Field[]): Buffer {
  return Buffer.concat(fields.map((f) => {
    if (typeof f === 'string') return Buffer.from(`${f}\0`, 'latin1');
    if (f instanceof Uint8Array) return Buffer.from(f);
    const [kind, v] = f;
    const b = Buffer.alloc(kind === 'u16' ? 2 : kind === 'u32' ? 4 : 8);
    if (kind === 'u16') b.writeUInt16LE(Number(v));
    else if (kind === 'u32') b.writeUInt32LE(Number(v));
    else b.writeBigUInt64LE(BigInt(v));
    return b;
  }));
}

export interface FuseReply {
  /** Bytes the device said it wrote (the used element's len). */
  usedLen: number;
  /** Negative errno from fuse_out_header, 0 on success; NaN when the device wrote no header. */
  error: number;
  len: number;
  unique: bigint;
  body: Buffer;
}

export interface CallOptions {
  /** Writable bytes after the readable part; default 64 KiB. */
  room?: number;
  queue?: number;
  nodeid?: bigint;
  uid?: number;
  gid?: number;
  /** Raw readable bytes instead of a header built here (for malformed requests). */
  raw?: Buffer;
  /** Cut the request and the room into buffers of at most this many bytes (default one buffer each). */
  split?: number;
}

/** Room kept below a queue's reply area for the indirect table of a split chain (1024 descriptors). */
const TABLE_ROOM = 16 * 1024;

/** Descriptors for `len` bytes from `addr`, `split` bytes each (the last one shorter). */
function pieces(addr: number, len: number, split: number, flags: number): Desc[] {
  const out: Desc[] = [];
  for (let at = 0; at < len; at += split) out.push({ addr: addr + at, len: Math.min(split, len - at), flags });
  return out;
}

export class FuseClient {
  readonly dir: string;
  readonly share: string;
  readonly outside: string;
  dev: FsDevice;
  private readonly ctx: DeviceContext;
  readonly failures: string[] = [];
  private readonly drivers: MockDriver[];
  private readonly queues: Virtqueue[];
  private unique = 1n;

  constructor(opts: { readonly?: boolean; populate?: (share: string, outside: string) => void;
    limits?: SessionLimits; } = {}) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tsvmm-fs-'));
    this.share = path.join(this.dir, 'share');
    this.outside = path.join(this.dir, 'outside');
    fs.mkdirSync(this.share);
    fs.mkdirSync(this.outside);
    fs.writeFileSync(path.join(this.outside, 'secret'), 'host secret\n');
    opts.populate?.(this.share, this.outside);
    this.dev = new FsDevice({ tag: 'share0', path: this.share, readonly: opts.readonly ?? false },
      opts.limits);
    // Both queues live in one guest memory, as they do in a guest: rings and buffers apart (LAYOUT).
    const mem = GuestMemory.forTest([{ gpa: 0, size: MEM_BYTES }]);
    this.drivers = LAYOUT.map((l) => new MockDriver(16, MEM_BYTES, { mem, base: l.base }));
    this.queues = this.drivers.map((m) => m.queue());
    this.ctx = { memory: mem, queues: this.queues, features: 0n, notifyUsed: () => undefined,
      fail: (r) => { this.failures.push(r); } };
    this.dev.activate(this.ctx);
  }

  /** Puts `dev` (a restored device, say) on the same rings in place of the current one, which is closed. */
  replaceDevice(dev: FsDevice): void {
    this.dev.close();
    this.dev = dev;
    dev.activate(this.ctx);
  }

  close(): void {
    this.dev.close();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  /** fuse_in_header (as Linux fills it) + args + data. */
  encode(opcode: number, args: Buffer = Buffer.alloc(0), opts: CallOptions = {}, data?: Buffer): Buffer {
    const body = Buffer.concat([args, data ?? Buffer.alloc(0)]);
    return opts.raw ?? pack(['u32', 40 + body.length], ['u32', opcode], ['u64', this.unique++],
      ['u64', opts.nodeid ?? ROOT], ['u32', opts.uid ?? 0], ['u32', opts.gid ?? 0], ['u32', 1234], ['u32', 0], body);
  }

  /** Sends one request and waits for the device to return the chain. */
  async call(opcode: number, args?: Buffer, opts: CallOptions = {}, data?: Buffer): Promise<FuseReply> {
    const req = this.encode(opcode, args, opts, data);
    const { usedLen, bytes } = await this.exchange(req, opts.room ?? 64 * 1024, opts.queue ?? 1, opts.split);
    if (usedLen < 16) return { usedLen, error: Number.NaN, len: 0, unique: 0n, body: Buffer.alloc(0) };
    return { usedLen, len: bytes.readUInt32LE(0), error: bytes.readInt32LE(4), unique: bytes.readBigUInt64LE(8),
      body: bytes.subarray(16) };
  }

  /**
   * Makes one chain available (`req` readable, `room` bytes writable, cut into buffers of `split` bytes) and
   * notifies the device; does not wait. A chain longer than the ring ends in an indirect table below the room.
   */
  post(req: Buffer, room: number, queue = 1, split = Infinity): void {
    const d = this.drivers[queue]!;
    const l = LAYOUT[queue]!;
    const reqRoom = l.out - l.in - (split === Infinity ? 0 : TABLE_ROOM);
    if (req.length > reqRoom || l.out + room + GUARD > l.end) throw new RangeError('request or room too large');
    d.mem.write(l.in, req);
    d.mem.fill(l.out, room + GUARD, GUARD_BYTE);
    const asked = req.length > 0 ? pieces(l.in, req.length, split, 0) : [{ addr: l.in, len: 0, flags: 0 }];
    const descs = [...asked, ...pieces(l.out, room, split, F_WRITE)];
    d.addLongChain(descs, l.out - TABLE_ROOM);
    this.dev.onQueueNotify(queue);
  }

  /** The used ring's index on `queue`: it moves when the device returns a chain. */
  usedIdx(queue = 1): number { return this.drivers[queue]!.usedIdx(); }

  /** One chain: `req` readable, `room` bytes writable; returns what the device wrote. */
  async exchange(req: Buffer, room: number, queue = 1, split?: number): Promise<{ usedLen: number; bytes: Buffer }> {
    const d = this.drivers[queue]!;
    const before = d.usedIdx();
    this.post(req, room, queue, split);
    const deadline = Date.now() + 5000;
    while (d.usedIdx() === before && Date.now() < deadline) await new Promise((r) => setImmediate(r));
    if (d.usedIdx() === before) throw new Error(`no reply to opcode ${req.readUInt32LE(4)}`);
    const usedLen = d.used(before).len;
    return { usedLen, bytes: Buffer.from(d.mem.read(LAYOUT[queue]!.out, Math.min(usedLen, room))) };
  }

  /** The bytes just past the last call's writable room on `queue`. */
  guard(room: number, queue = 1): Uint8Array {
    return this.drivers[queue]!.mem.read(LAYOUT[queue]!.out + room, GUARD);
  }

  /** Like call, but expects success and returns the body. */
  async ok(opcode: number, args?: Buffer, opts?: CallOptions, data?: Buffer): Promise<Buffer> {
    const r = await this.call(opcode, args, opts, data);
    if (r.usedLen < 16) throw new Error(`opcode ${opcode} came back without a reply header (${r.usedLen} bytes)`);
    if (r.error !== 0) throw new Error(`opcode ${opcode} failed with errno ${-r.error}`);
    return r.body;
  }

  async init(minor = 37, flags = 0xffffffff): Promise<Buffer> {
    return this.ok(OP.INIT, pack(['u32', 7], ['u32', minor], ['u32', 128 * 1024], ['u32', flags], ['u32', 0],
      Buffer.alloc(44)));
  }

  async lookup(parent: bigint, name: string | Buffer): Promise<Entry> {
    return entry(await this.ok(OP.LOOKUP, pack(name), { nodeid: parent }));
  }

  async getattr(node: bigint): Promise<Attr> {
    return attr(await this.ok(OP.GETATTR, pack(['u32', 0], ['u32', 0], ['u64', 0]), { nodeid: node }), 16);
  }

  async open(node: bigint, flags: number, dir = false): Promise<bigint> {
    const body = await this.ok(dir ? OP.OPENDIR : OP.OPEN, pack(['u32', flags], ['u32', 0]), { nodeid: node });
    return body.readBigUInt64LE(0);
  }

  async create(parent: bigint, name: string, mode: number, flags: number): Promise<{ entry: Entry; fh: bigint }> {
    const body = await this.ok(OP.CREATE, pack(['u32', flags], ['u32', S_IFREG | mode], ['u32', 0o022], ['u32', 0],
      name), { nodeid: parent });
    return { entry: entry(body), fh: body.readBigUInt64LE(128) };
  }

  readArgs(fh: bigint, offset: bigint | number, size: number): Buffer {
    return pack(['u64', fh], ['u64', offset], ['u32', size], ['u32', 0], ['u64', 0], ['u32', 0], ['u32', 0]);
  }

  async read(node: bigint, fh: bigint, offset: number, size: number, room?: number, more: CallOptions = {}):
    Promise<FuseReply> {
    return this.call(OP.READ, this.readArgs(fh, offset, size), { nodeid: node, room: room ?? size + 16, ...more });
  }

  async write(node: bigint, fh: bigint, offset: number, data: Buffer, size = data.length, more: CallOptions = {}):
    Promise<FuseReply> {
    return this.call(OP.WRITE, pack(['u64', fh], ['u64', offset], ['u32', size], ['u32', 0], ['u64', 0], ['u32', 0],
      ['u32', 0]), { nodeid: node, ...more }, data);
  }

  async release(node: bigint, fh: bigint, dir = false): Promise<FuseReply> {
    return this.call(dir ? OP.RELEASEDIR : OP.RELEASE, pack(['u64', fh], ['u32', 0], ['u32', 0], ['u64', 0]),
      { nodeid: node });
  }

  /** All entries of a directory, READDIR(PLUS) after READDIR(PLUS) with `size` bytes each. */
  async list(node: bigint, plus: boolean, size = 4096): Promise<Dirent[]> {
    const fh = await this.open(node, 0, true);
    const all: Dirent[] = [];
    let offset = 0n;
    for (;;) {
      const body = await this.ok(plus ? OP.READDIRPLUS : OP.READDIR, this.readArgs(fh, offset, size), { nodeid: node });
      if (body.length === 0) break;
      const got = dirents(body, plus);
      all.push(...got);
      offset = got.at(-1)!.off;
    }
    await this.release(node, fh, true);
    return all;
  }
}

export interface Attr { ino: bigint; size: bigint; mode: number; uid: number; gid: number; atime: bigint; mtime: bigint;
  mtimeNs: number; nlink: number }
export interface Entry { nodeid: bigint; attr: Attr }
export interface Dirent { ino: bigint; off: bigint; type: number; name: string; entry?: Entry }

export function attr(b: Buffer, at: number): Attr {
  return { ino: b.readBigUInt64LE(at), size: b.readBigUInt64LE(at + 8), atime: b.readBigUInt64LE(at + 24),
    mtime: b.readBigUInt64LE(at + 32), mtimeNs: b.readUInt32LE(at + 52), mode: b.readUInt32LE(at + 60),
    nlink: b.readUInt32LE(at + 64), uid: b.readUInt32LE(at + 68), gid: b.readUInt32LE(at + 72) };
}

export const entry = (b: Buffer, at = 0): Entry => ({ nodeid: b.readBigUInt64LE(at), attr: attr(b, at + 40) });

export function dirents(b: Buffer, plus: boolean): Dirent[] {
  const out: Dirent[] = [];
  for (let at = 0; at < b.length;) {
    const e = plus ? entry(b, at) : undefined;
    const d = at + (plus ? 128 : 0);
    const namelen = b.readUInt32LE(d + 16);
    out.push({ ino: b.readBigUInt64LE(d), off: b.readBigUInt64LE(d + 8), type: b.readUInt32LE(d + 20),
      name: b.toString('latin1', d + 24, d + 24 + namelen), ...(e ? { entry: e } : {}) });
    at = d + ((24 + namelen + 7) & ~7);
  }
  return out;
}
