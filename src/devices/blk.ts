// virtio-blk (device type 2) over a raw image file. Data moves between the file and guest memory with preadv /
// pwritev on the chain's own buffers (fs.readv / fs.writev run them on libuv's thread pool): no copy through JS,
// nothing blocking on the main thread, and as many requests in flight as the guest queues. Reads the page cache
// holds are answered at once on the main thread instead (preadv2 RWF_NOWAIT, which never waits for a disk).
// A request is OK only when every byte it asks for moved: a read or write that stops short (the file system is
// full, a file-size limit, the image shrank under the disk) is IOERR, so the guest never takes a partial transfer
// for a whole one.
//
// The backing file can be swapped at run time (a media change): each request keeps the file it started on, so
// requests in flight finish on the old file, which is closed once the last of them is done; new requests go to the
// new file. A new capacity reaches the guest through the config space and a config-change interrupt (DeviceHost).
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import { native } from '../base/native';
import type { DeviceContext, DeviceHost, VirtioDevice } from '../virtio-mmio/device';
import { QueueError, type DescriptorChain, type Virtqueue } from '../virtio-mmio/queue';
import { InFlight } from '../virtio-mmio/in-flight';
import { gather, scatter, sliceSegments, totalBytes as total } from '../virtio-mmio/segments';
import { IOV_MAX, fdatasync, openImage, readFull, writeFull, type ImageRequest } from './file-io';
import type { Clock, RateLimiterConfig } from './rate-limiter';
import { Throttle } from './throttle';
import { TurnBudget } from './turn-budget';
import { savedObject } from './saved-state';

const SECTOR = 512;
const T = { IN: 0, OUT: 1, FLUSH: 4, GET_ID: 8, DISCARD: 11, WRITE_ZEROES: 13 } as const;
const S = { OK: 0, IOERR: 1, UNSUPP: 2 } as const;
const F = { SEG_MAX: 2n, RO: 5n, FLUSH: 9n, DISCARD: 13n, WRITE_ZEROES: 14n } as const;
const SEG_MAX = 126;
/** The largest read served from the page cache on the main thread; larger ones are copied on the thread pool. */
const NOWAIT_MAX = 1 << 20;
const { EOPNOTSUPP, EINVAL, ENOSYS } = osConstants.errno;
const MAX_RANGE_SECTORS = 0x3fffff;

/** A request's status byte and the bytes written into the guest's buffers. */
type Result = [status: number, written: number];
const OK: Result = [S.OK, 0];

/** One open image: its fd stays open while requests that started on it are in flight. */
class Backing {
  readonly running = new InFlight();
  private closed = false;

  private constructor(readonly path: string, readonly fd: number, readonly capacity: number) {}

  /** Opens a disk's image (made first when `req` asks); throws an fs error naming it. */
  static open(file: string, req: ImageRequest): Backing {
    const { fd, bytes } = openImage(file, req);
    return new Backing(file, fd, Math.floor(bytes / SECTOR));
  }

  /** No new requests start here; resolves once those in flight are done and the fd is closed. */
  retire(): Promise<void> {
    return this.running.idle().then(() => this.close());
  }

  /** Closes the fd once: a second close could hit a number the process has reused since. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try { fs.closeSync(this.fd); } catch { /* nothing to do */ }
  }
}

export interface BackingSwap {
  /** Whether the guest was told of a new capacity. */
  capacityChanged: boolean;
  /** Resolves when the old file is closed (its last request in flight done). */
  retired: Promise<void>;
}

/** A disk: its image file and how the guest may use it. */
export interface BlkOptions {
  /** The image file (a raw image). */
  path: string;
  readonly: boolean;
  /** writeback: a guest FLUSH reaches the disk (fdatasync); unsafe: it is acknowledged without one. */
  cache: 'unsafe' | 'writeback';
  /** The serial number the guest reads (VIRTIO_BLK_T_GET_ID), at most 20 ASCII bytes. */
  serial?: string;
  /** Create the image (sparse, `size` bytes) when it does not exist. */
  create: boolean;
  /** Bytes; the size of an image `create` makes. */
  size?: number;
  /** Caps on the data bytes and requests the guest may move; absent: none. */
  rateLimiter?: RateLimiterConfig;
}

export class BlkDevice implements VirtioDevice {
  readonly deviceType = 2;
  readonly queueMaxSizes = [256];
  readonly features: bigint;
  private backing: Backing;
  private closed = false;
  private host: DeviceHost | undefined;
  private ctx: DeviceContext | undefined;
  private readonly stats = { requests: 0, readBytes: 0, writtenBytes: 0, errors: 0, cachedReads: 0, syncs: 0 };
  /** Cleared when the file's file system cannot read with RWF_NOWAIT. */
  private nowait = true;
  private readonly running = new InFlight();
  private writeThrough = false;
  private readonly turns = new TurnBudget(() => this.host, () => this.onQueueNotify(0));
  private readonly throttle: Throttle;

  /** `now` is the rate limiter's clock (tests pass their own). */
  constructor(private readonly cfg: BlkOptions, now?: Clock) {
    this.throttle = new Throttle(() => this.host, () => this.onQueueNotify(0), cfg.rateLimiter, now);
    this.backing = Backing.open(cfg.path, cfg);
    let f = (1n << F.SEG_MAX) | (1n << F.FLUSH);
    f |= cfg.readonly ? 1n << F.RO : (1n << F.DISCARD) | (1n << F.WRITE_ZEROES);
    this.features = f;
  }

  configSpace(): Uint8Array {
    const c = Buffer.alloc(60);
    c.writeBigUInt64LE(BigInt(this.backing.capacity), 0);
    c.writeUInt32LE(SEG_MAX, 12);
    c.writeUInt32LE(SECTOR, 20);
    c.writeUInt32LE(MAX_RANGE_SECTORS, 36); // max_discard_sectors
    c.writeUInt32LE(1, 40); // max_discard_seg
    c.writeUInt32LE(1, 44); // discard_sector_alignment
    c.writeUInt32LE(MAX_RANGE_SECTORS, 48); // max_write_zeroes_sectors
    c.writeUInt32LE(1, 52); // max_write_zeroes_seg
    c.writeUInt8(1, 56); // write_zeroes_may_unmap
    return c;
  }

  attach(host: DeviceHost): void { this.host = host; }

  activate(ctx: DeviceContext): void {
    this.ctx = ctx;
    // A driver that did not take FLUSH cannot ask for one, and takes a completed write as durable (Linux then
    // assumes no write cache): with cache: writeback, each write is synced before it completes.
    this.writeThrough = this.cfg.cache === 'writeback' && (ctx.features & (1n << F.FLUSH)) === 0n;
  }

  /** The image requests go to now. */
  get backingPath(): string { return this.backing.path; }

  /**
   * Puts `file` (absolute, an existing regular file, opened read-only when the disk is) behind the disk. Throws,
   * keeping the old file, when it cannot be opened.
   */
  swapBacking(file: string): BackingSwap {
    if (this.closed) throw new Error('the disk is closed');
    const next = Backing.open(file, { readonly: this.cfg.readonly });
    const old = this.backing;
    this.backing = next;
    const capacityChanged = next.capacity !== old.capacity;
    if (capacityChanged) this.host?.configChanged();
    return { capacityChanged, retired: old.retire() };
  }

  /** The rate limits in force; undefined when there are none. */
  get rateLimiter(): RateLimiterConfig | undefined { return this.throttle.config; }

  /** New rate limits (undefined: none), with full buckets; requests waiting for the old ones are reconsidered. */
  setRateLimiter(config: RateLimiterConfig | undefined): void {
    this.throttle.set(config);
  }

  onQueueNotify(_queue: number): void {
    const ctx = this.ctx;
    const q = ctx?.queues[0];
    if (ctx === undefined || q === undefined) return;
    this.turns.start();
    try {
      // A limiter is asked before a chain is taken, so a request that must wait stays on the ring; without one
      // the loop only pops.
      for (let served = 0; served === 0 || !this.turns.spent(); served++) {
        if (this.throttle.limited && (!q.hasAvailable() || !this.throttle.admit())) break;
        const chain = q.pop(); // null too when the guest took back what it had just made available
        if (chain === null) break;
        this.start(ctx, q, chain);
      }
    } catch (e) {
      if (!(e instanceof QueueError)) throw e;
      this.stats.errors++;
      ctx.fail(e.message);
    }
  }

  private start(ctx: DeviceContext, q: Virtqueue, chain: DescriptorChain): void {
    const header = gather(chain.readable, 16);
    const last = chain.writable.at(-1);
    // The status byte is the last byte of the last writable descriptor; a zero-length one has no byte to take, and
    // borrowing one from the data before it would answer in the middle of the guest's buffer.
    if (header === undefined || last === undefined || last.length === 0) {
      throw new QueueError('E_LEN', 'a blk request needs a 16-byte header and a status byte', chain.head);
    }
    const status = last.subarray(last.length - 1);
    const data = sliceSegments(chain.writable, 0, chain.writableBytes - 1);
    const backing = this.backing;
    const type = header.readUInt32LE(0);
    // The data a read or write moves; any other request costs one op and no bytes.
    this.throttle.charge(type === T.IN ? chain.writableBytes - 1 : type === T.OUT ? chain.readableBytes - 16 : 0);
    this.stats.requests++;
    this.running.begin();
    backing.running.begin();
    const done = (st: number, written: number): void => {
      this.running.end();
      backing.running.end();
      if (st !== S.OK) this.stats.errors++;
      if (this.ctx !== ctx) return; // reset meanwhile: the chain is not the guest's to get back any more
      status[0] = st;
      try {
        q.pushUsed(chain.head, written + 1);
        ctx.notifyUsed(q);
      } catch (e) {
        // Completions run outside any caller that could catch: a used ring the guest broke meanwhile fails the
        // device here, and anything else is the VMM's bug, reported without killing the process.
        this.stats.errors++;
        ctx.fail(e instanceof QueueError ? e.message : `completing a request failed: ${String(e)}`);
      }
    };
    let result: Result | Promise<Result>;
    try {
      result = this.execute(backing, type, header.readBigUInt64LE(8), chain, data);
    } catch {
      result = [S.IOERR, 0];
    }
    // Most reads the page cache answers complete here, with no promise and no turn of the event loop.
    if (Array.isArray(result)) done(result[0], result[1]);
    else result.then(([st, n]) => done(st, n), () => done(S.IOERR, 0));
  }

  private async sync(b: Backing): Promise<void> {
    this.stats.syncs++;
    await fdatasync(b.fd);
  }

  private execute(b: Backing, type: number, sector: bigint, chain: DescriptorChain, data: Uint8Array[]):
    Result | Promise<Result> {
    switch (type) {
      case T.IN: {
        const want = total(data);
        const pos = range(b, sector, want);
        if (pos === undefined) return [S.IOERR, 0];
        const n = want ? this.read(b.fd, data, pos) : 0;
        if (typeof n === 'number') return this.readDone(n, want);
        return n.then((bytes) => this.readDone(bytes, want));
      }
      case T.OUT:
        return this.write(b, sector, sliceSegments(chain.readable, 16));
      case T.FLUSH:
        if (this.cfg.cache === 'writeback' && !this.cfg.readonly) return this.sync(b).then(() => OK);
        return OK;
      case T.GET_ID: {
        const id = Buffer.alloc(20);
        id.write(this.cfg.serial ?? '', 'ascii');
        return [S.OK, scatter(data, 0, id)];
      }
      case T.DISCARD:
      case T.WRITE_ZEROES:
        return [this.ranges(b, type, sliceSegments(chain.readable, 16)), 0];
      default:
        return [S.UNSUPP, 0];
    }
  }

  private readDone(n: number, want: number): Result {
    // Short only where the image ends before the request does (it shrank since it was opened): whatever the guest's
    // buffers held before must not pass for the disk's data.
    if (n !== want) return [S.IOERR, 0];
    this.stats.readBytes += n;
    return [S.OK, n];
  }

  private async write(b: Backing, sector: bigint, bufs: Uint8Array[]): Promise<Result> {
    const pos = range(b, sector, total(bufs));
    if (this.cfg.readonly || pos === undefined) return [S.IOERR, 0];
    const n = bufs.length ? await writeFull(b.fd, bufs, pos) : 0;
    this.stats.writtenBytes += n;
    if (this.writeThrough) await this.sync(b);
    return OK;
  }

  private ranges(b: Backing, type: number, segs: Uint8Array[]): number {
    if (this.cfg.readonly) return S.IOERR;
    // One range, as max_discard_seg and max_write_zeroes_seg say: a chain may hold 4 GiB of them, each a syscall.
    if (total(segs) !== 16) return S.UNSUPP;
    const body = gather(segs, 16)!;
    const c = native().constants;
    for (let off = 0; off < body.length; off += 16) {
      const sector = body.readBigUInt64LE(off);
      const count = body.readUInt32LE(off + 8);
      const unmap = (body.readUInt32LE(off + 12) & 1) !== 0;
      const pos = range(b, sector, count * SECTOR);
      if (pos === undefined || count > MAX_RANGE_SECTORS) return S.IOERR;
      const mode = type === T.DISCARD || unmap ? c.FALLOC_FL_PUNCH_HOLE | c.FALLOC_FL_KEEP_SIZE : c.FALLOC_FL_ZERO_RANGE;
      try { native().fallocate(b.fd, mode, pos, count * SECTOR); } catch { return S.IOERR; }
    }
    return S.OK;
  }

  /**
   * A read the page cache can answer is done here and now: the hop to the thread pool and back costs more than the
   * copy (several times more on a busy host). What is not cached, larger than NOWAIT_MAX, or on a file system without
   * RWF_NOWAIT goes to the thread pool, so the main thread never waits for a disk. So does a chain of more buffers
   * than one preadv2 takes; readFull reads those in turns.
   */
  private read(fd: number, bufs: Uint8Array[], pos: number): Promise<number> | number {
    const want = total(bufs);
    if (this.nowait && want <= NOWAIT_MAX && bufs.length <= IOV_MAX) {
      const n = native().tryPreadv(fd, bufs, pos);
      if (n === want) {
        this.stats.cachedReads++;
        return n;
      }
      if (n > 0) return readFull(fd, sliceSegments(bufs, n), pos + n).then((rest) => n + rest);
      if (n === -EOPNOTSUPP || n === -EINVAL || n === -ENOSYS) this.nowait = false;
    }
    return readFull(fd, bufs, pos);
  }

  /** The disk is not copied: a snapshot names its file, which must be there, unchanged, when it is restored. */
  snapshotState(): { path: string; sectors: number } {
    return { path: this.backing.path, sectors: this.backing.capacity };
  }

  restoreState(state: unknown): void {
    const s = savedObject(state);
    if (s.path !== this.backing.path) {
      throw new RangeError(`path: the machine's disk was ${JSON.stringify(s.path)} (swapped in after boot?), but ` +
        `the config names ${this.backing.path}`);
    }
    if (s.sectors !== this.backing.capacity) {
      throw new RangeError(`sectors: the disk held ${JSON.stringify(s.sectors)} sectors at the snapshot and holds ` +
        `${this.backing.capacity} now`);
    }
  }

  reset(): void {
    this.turns.cancel();
    this.throttle.cancel();
    this.ctx = undefined;
  }

  close(): void {
    this.reset();
    this.closed = true;
    this.backing.close();
  }

  quiesce(): Promise<void> { return this.running.idle(); }

  counters(): Record<string, number> {
    return { ...this.stats, inFlight: this.running.size, throttled: this.throttle.waits };
  }
}

/** Byte offset of `sector` when [sector, +bytes) lies inside the disk. */
function range(b: Backing, sector: bigint, bytes: number): number | undefined {
  if (bytes % SECTOR !== 0 || sector > BigInt(b.capacity)) return undefined;
  const s = Number(sector);
  return s + bytes / SECTOR <= b.capacity ? s * SECTOR : undefined;
}
